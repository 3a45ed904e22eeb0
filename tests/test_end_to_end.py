"""The whole flow as it runs in production: setup, serve, a customer comments, Zendesk calls the webhook.

The service runs as real processes (`escalations serve`: gunicorn and the
worker) against the sandbox Zendesk over real HTTP; webhooks are delivered
and signed by the sandbox's trigger engine exactly as Zendesk does. The tests
share one service, each on a new ticket like a seeded one; those that need the
service's counters from zero, or change its settings, start their own.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
import requests

from escalations.sandbox import SandboxZendesk
from escalations.service.metrics import DECISION_OUTCOMES, WEBHOOK_OUTCOMES
from tests.conftest import Service, metrics_page_with, wait_until

ALICE, BOB, CARMEN, DEEPAK = 10015, 10016, 10017, 10018
PRIYA = 10011  # an agent
SUPPORT, MANAGERS = 10009, 10010
ADMIN = 10001  # the API user the service acts as


def field_values(service: Service, ticket_id: int) -> dict[str, Any]:
    by_id = {field_id: key for key, field_id in service.account_state().field_ids.items()}
    ticket = service.zendesk.ticket(ticket_id)
    return {by_id[item["id"]]: item["value"] for item in ticket["custom_fields"] if item["id"] in by_id}


def emails_for(zendesk: SandboxZendesk, ticket_id: int) -> list[dict[str, Any]]:
    return [email for email in zendesk.emails() if email["ticket_id"] == ticket_id]


def internal_notes(zendesk: SandboxZendesk, ticket_id: int) -> list[dict[str, Any]]:
    return [c for c in zendesk.comments(ticket_id) if not c["public"] and c["author_id"] == ADMIN]


def settled(service: Service, ticket_id: int, emails: int) -> bool:
    """The ticket has received `emails` replies and owes nothing more."""
    ticket = service.zendesk.ticket(ticket_id)
    return len(emails_for(service.zendesk, ticket_id)) >= emails and (
        "escalation_confirmation_pending" not in ticket["tags"]
    )


def api_calls(zendesk: SandboxZendesk, ticket_id: int) -> list[str]:
    about = re.compile(rf"/tickets/{ticket_id}(\.json|/)")
    return [f"{entry['method']} {entry['path']}" for entry in zendesk.requests_log() if about.search(entry["path"])]


def deliveries_for(zendesk: SandboxZendesk, ticket_id: int) -> list[dict[str, Any]]:
    return [d for d in zendesk.deliveries() if json.loads(d["body"])["ticket_id"] == str(ticket_id)]


def zendesk_busy(service: Service) -> bool:
    """True while the service has work queued, running or waiting for a retry."""
    return not service.idle()


@pytest.fixture
def service(shared_service: Service) -> Service:
    """One service for the module: each test works on a new ticket like one of the seeded ones."""
    return shared_service


def test_a_customer_escalation_is_recorded_confirmed_and_handed_to_the_managers(service: Service) -> None:
    ticket = service.new_ticket(like=1)
    zendesk = service.zendesk
    zendesk.reset_requests_log()
    zendesk.add_comment(
        ticket,
        author_id=ALICE,
        body="Escalation request: I was charged twice and nobody answers. Call me on +33 6 12 34 56 78.",
    )
    wait_until(lambda: settled(service, ticket, 1), what="the confirmation")
    zendesk.wait_for_deliveries()

    record = zendesk.ticket(ticket)
    assert {"escalated", "escalation_status_requested"} <= set(record["tags"])
    assert record["group_id"] == MANAGERS and record["assignee_id"] is None
    values = field_values(service, ticket)
    assert values["status"] == "escalation_status_requested"
    assert values["reason"].startswith("I was charged twice")
    assert values["requested_by"] == str(ALICE)
    assert values["requested_at"].endswith("Z") and values["response_due"].endswith("Z")

    (confirmation,) = emails_for(zendesk, ticket)
    assert "alice.moreau@example.com" in confirmation["to"]
    assert "Support Manager" in confirmation["body"] and "The first response is due by" in confirmation["body"]
    (note,) = internal_notes(zendesk, ticket)
    assert "Alice Moreau" in note["body"] and "+33 6 12 34 56 78" in note["body"] and "Priya" in note["body"]

    # Two reads and two writes, and nothing else, for an escalation.
    assert sorted(api_calls(zendesk, ticket)) == sorted(
        [
            f"GET /api/v2/tickets/{ticket}.json",
            f"GET /api/v2/tickets/{ticket}/comments.json",
            f"PUT /api/v2/tickets/{ticket}.json",
            f"PUT /api/v2/tickets/{ticket}.json",
        ]
    )
    # The customer's comment is queued; the service's own confirmation also fires a trigger, which the
    # webhook answers without queueing anything.
    assert sorted(d["final_status"] for d in deliveries_for(zendesk, ticket)) == [200, 202]


def test_a_second_escalation_is_refused_politely_and_changes_nothing_else(service: Service) -> None:
    ticket = service.new_ticket(like=2)
    zendesk = service.zendesk
    zendesk.add_comment(ticket, author_id=BOB, body="Escalation request: still locked out of my account.")
    wait_until(lambda: settled(service, ticket, 1), what="the confirmation")
    recorded = field_values(service, ticket)

    zendesk.add_comment(ticket, author_id=BOB, body="ESCALATION REQUEST again, this is taking too long")
    wait_until(lambda: settled(service, ticket, 2), what="the refusal")
    zendesk.wait_for_deliveries()

    record = zendesk.ticket(ticket)
    assert "escalation_blocked" in record["tags"] and record["group_id"] == MANAGERS
    after = field_values(service, ticket)
    assert after["refused_repeats"] == 1
    assert {k: v for k, v in after.items() if k not in ("refused_repeats", "handled_through")} == {
        k: v for k, v in recorded.items() if k not in ("refused_repeats", "handled_through")
    }
    refusal = emails_for(zendesk, ticket)[-1]
    assert "only once" in refusal["body"] and "higher severity" in refusal["body"]
    assert len(internal_notes(zendesk, ticket)) == 1


def test_the_phrase_alone_asks_for_the_reason_and_the_next_comment_escalates(service: Service) -> None:
    ticket = service.new_ticket(like=4)
    zendesk = service.zendesk
    zendesk.add_comment(ticket, author_id=DEEPAK, body="Escalation request")
    wait_until(lambda: settled(service, ticket, 1), what="the request for a reason")
    assert "reason" in emails_for(zendesk, ticket)[0]["body"]
    assert "escalated" not in zendesk.ticket(ticket)["tags"]

    zendesk.add_comment(
        ticket, author_id=DEEPAK, body="Escalation request: the parcel was damaged and the replacement too."
    )
    wait_until(
        lambda: settled(service, ticket, 2) and "escalated" in zendesk.ticket(ticket)["tags"], what="the escalation"
    )
    assert field_values(service, ticket)["reason"].startswith("the parcel was damaged")


def test_the_customers_plain_answer_to_the_request_for_a_reason_escalates_through_the_trigger(
    service: Service,
) -> None:
    ticket = service.new_ticket(like=3)
    zendesk = service.zendesk
    zendesk.add_comment(ticket, author_id=CARMEN, body="Escalation request")
    wait_until(lambda: settled(service, ticket, 1), what="the request for a reason")
    assert "escalation_reason_requested" in zendesk.ticket(ticket)["tags"]

    zendesk.add_comment(ticket, author_id=CARMEN, body="Our quarter close is blocked by the failing export.")
    wait_until(
        lambda: settled(service, ticket, 2) and "escalated" in zendesk.ticket(ticket)["tags"], what="the escalation"
    )
    assert field_values(service, ticket)["reason"] == "Our quarter close is blocked by the failing export."
    assert "escalation_reason_requested" not in zendesk.ticket(ticket)["tags"]
    assert len(internal_notes(zendesk, ticket)) == 1


def test_a_copied_colleague_may_escalate(service: Service) -> None:
    ticket = service.new_ticket(like=3)
    service.zendesk.add_comment(
        ticket, author_id=DEEPAK, body="Escalation request: the export blocks our month-end close."
    )
    wait_until(
        lambda: settled(service, ticket, 1) and "escalated" in service.zendesk.ticket(ticket)["tags"],
        what="the escalation",
    )
    assert field_values(service, ticket)["requested_by"] == str(DEEPAK)


def test_a_negated_phrase_costs_two_reads_and_writes_nothing(service: Service) -> None:
    ticket = service.new_ticket(like=5)
    zendesk = service.zendesk
    zendesk.reset_requests_log()
    before = zendesk.ticket(ticket)
    zendesk.add_comment(ticket, author_id=ALICE, body="This is not an escalation request, just a new address.")
    zendesk.wait_for_deliveries()
    wait_until(lambda: service.decisions(ticket), what="the worker to decide")
    assert service.decisions(ticket) == ["ignored"]
    assert sorted(api_calls(zendesk, ticket)) == [
        f"GET /api/v2/tickets/{ticket}.json",
        f"GET /api/v2/tickets/{ticket}/comments.json",
    ]
    assert zendesk.ticket(ticket)["tags"] == before["tags"] and emails_for(zendesk, ticket) == []


def test_agents_and_internal_notes_never_reach_the_service(service: Service) -> None:
    ticket = service.new_ticket(like=5)
    zendesk = service.zendesk
    zendesk.add_comment(ticket, author_id=PRIYA, body="Escalation request: testing", public=True)
    zendesk.add_comment(ticket, author_id=ALICE, body="Escalation request: note", public=False)
    zendesk.wait_for_deliveries()
    assert deliveries_for(zendesk, ticket) == []


def test_the_same_invocation_delivered_three_times_confirms_once(service: Service) -> None:
    ticket = service.new_ticket(like=1)
    zendesk = service.zendesk
    zendesk.add_comment(ticket, author_id=ALICE, body="Escalation request: double charge.")
    zendesk.wait_for_deliveries()
    customer_delivery = next(d for d in deliveries_for(zendesk, ticket) if d["final_status"] == 202)
    body = customer_delivery["body"].encode()

    def redeliver() -> None:
        assert service.deliver(body).status_code == 202

    threads = [threading.Thread(target=redeliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_until(lambda: settled(service, ticket, 1), what="the confirmation")
    # Every delivery was handled: three jobs, each starting with a fresh read of the ticket.
    wait_until(
        lambda: api_calls(zendesk, ticket).count(f"GET /api/v2/tickets/{ticket}.json") >= 3, what="all three jobs"
    )
    wait_until(lambda: not zendesk_busy(service), what="the queue to drain")
    assert len(emails_for(zendesk, ticket)) == 1
    assert len(internal_notes(zendesk, ticket)) == 1


def test_five_escalation_comments_at_once_escalate_once(service: Service) -> None:
    ticket = service.new_ticket(like=2)
    zendesk = service.zendesk
    threads = [
        threading.Thread(
            target=zendesk.add_comment,
            args=(ticket,),
            kwargs={"author_id": BOB, "body": f"Escalation request #{n}: locked out for days"},
        )
        for n in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    zendesk.wait_for_deliveries()
    newest = max(c["id"] for c in zendesk.comments(ticket) if c["author_id"] == BOB)
    wait_until(
        lambda: settled(service, ticket, 1) and field_values(service, ticket)["handled_through"] == str(newest),
        what="all five comments to be answered",
    )
    wait_until(lambda: not zendesk_busy(service), what="the queue to drain")
    confirmations = [e for e in emails_for(zendesk, ticket) if "received your request" in e["body"]]
    refusals = [e for e in emails_for(zendesk, ticket) if "higher severity" in e["body"]]
    assert len(internal_notes(zendesk, ticket)) == 1 and len(confirmations) == 1
    # Every comment is answered exactly once: those the escalating decision read are covered by its
    # confirmation, and each later one is counted as a refused repeat, answered by a refusal (one
    # refusal may answer several read together).
    bobs = [c["id"] for c in zendesk.comments(ticket) if c["body"].startswith("Escalation request #")]
    covered = sum(1 for comment_id in bobs if comment_id <= int(first_value(service, ticket, "handled_through")))
    refused = field_values(service, ticket)["refused_repeats"] or 0
    assert covered >= 1 and covered + refused == 5
    assert len(refusals) <= refused and (len(refusals) > 0) == (refused > 0)


def first_value(service: Service, ticket_id: int, key: str) -> Any:
    """The first value the service wrote to an escalation field of the ticket, from Zendesk's event log."""
    field_id = str(json.loads((service.data_dir / "state.json").read_text())["field_ids"][key])
    events, _ = service.zendesk.ticket_events(0, include_comment_events=False)
    return next(
        child["value"]
        for event in events
        if event["ticket_id"] == ticket_id
        for child in event["child_events"]
        if child.get("field_name") == field_id and child.get("value") is not None
    )


def test_zendesk_errors_are_retried_and_the_escalation_is_applied_once(service: Service) -> None:
    ticket = service.new_ticket(like=3)
    zendesk = service.zendesk
    zendesk.inject_fault(status=503, count=3, retry_after=None)
    zendesk.add_comment(ticket, author_id=CARMEN, body="Escalation request: exports time out for every customer.")
    wait_until(lambda: settled(service, ticket, 1), timeout=30, what="the confirmation after the 503s")
    assert len(emails_for(zendesk, ticket)) == 1 and len(internal_notes(zendesk, ticket)) == 1


def test_setup_is_idempotent_and_doctor_is_happy(service: Service) -> None:
    again = service.run("setup")
    assert "created" not in again.stdout and "unchanged" in again.stdout
    state = service.zendesk.state()
    assert len([f for f in state["ticket_fields"] if f["title"].startswith("Escalation")]) == 10
    assert len(state["webhooks"]) == 1 and len(state["triggers"]) == 3 and len(state["views"]) == 2
    doctor = service.run("doctor", check=False)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "sandbox-token" not in doctor.stdout


def test_an_escalation_whose_webhook_never_arrived_is_caught_up_by_the_sweep(service_env: Service) -> None:
    service_env.env["ESCALATIONS_RECONCILE_SECONDS"] = "1"
    service_env.run("setup")
    service_env.start()
    try:
        service_env.zendesk.webhook_delivery_enabled = False
        service_env.zendesk.add_comment(1, author_id=ALICE, body="Escalation request: charged twice, no answer.")
        wait_until(lambda: settled(service_env, 1, 1), timeout=20, what="the sweep to catch up")
        assert len(emails_for(service_env.zendesk, 1)) == 1
    finally:
        service_env.stop()


def test_an_answer_with_the_reason_whose_webhook_never_arrived_is_caught_up_by_the_sweep(
    service_env: Service,
) -> None:
    service_env.env["ESCALATIONS_RECONCILE_SECONDS"] = "1"
    service_env.run("setup")
    service_env.start()
    try:
        zendesk = service_env.zendesk
        zendesk.add_comment(4, author_id=DEEPAK, body="Escalation request")
        wait_until(lambda: settled(service_env, 4, 1), what="the request for a reason")
        zendesk.webhook_delivery_enabled = False
        zendesk.add_comment(4, author_id=DEEPAK, body="The lamp arrived broken twice now.")
        wait_until(lambda: "escalated" in zendesk.ticket(4)["tags"], timeout=20, what="the sweep to catch up")
        wait_until(lambda: settled(service_env, 4, 2), what="the confirmation")
    finally:
        service_env.stop()


def test_a_fresh_service_shows_every_known_webhook_and_decision_outcome_at_zero(service_env: Service) -> None:
    own_service = service_env.set_up_and_start()  # its counters from zero
    text = requests.get(f"{own_service.metrics_url}/metrics", timeout=5).text
    for outcome in WEBHOOK_OUTCOMES:
        assert f'escalations_webhooks_total{{outcome="{outcome}"}} 0.0' in text, outcome
    for outcome in DECISION_OUTCOMES:
        assert f'escalations_decisions_total{{outcome="{outcome}"}} 0.0' in text, outcome


def test_metrics_count_webhooks_decisions_and_api_calls_across_processes(service_env: Service) -> None:
    own_service = service_env.set_up_and_start()  # its counters from zero
    own_service.zendesk.add_comment(1, author_id=ALICE, body="Escalation request: charged twice.")
    wait_until(lambda: settled(own_service, 1, 1), what="the escalation")
    own_service.zendesk.wait_for_deliveries()
    text = metrics_page_with(
        f"{own_service.metrics_url}/metrics",
        'escalations_webhooks_total{outcome="accepted"} 1.0',
        'escalations_decisions_total{outcome="escalated"} 1.0',
    )
    metrics = requests.get(f"{own_service.metrics_url}/metrics", timeout=5)
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    assert 'escalations_webhooks_total{outcome="own_update"}' in text
    assert (
        'escalations_zendesk_api_calls_total{endpoint="/api/v2/tickets/{id}.json",method="PUT",status="200"} 2.0'
        in text
    )
    assert "escalations_queue_depth" in text and "escalations_processing_seconds_bucket" in text
