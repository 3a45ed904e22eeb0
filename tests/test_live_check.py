"""`escalations doctor --live`: its judgements as pure functions, then the whole check against the sandbox."""

from __future__ import annotations

import copy
import io
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest

from escalations.core import fields
from escalations.sandbox import SandboxZendesk
from escalations.zendesk.desired import desired_follow_up_triggers, desired_trigger
from escalations.zendesk.live_check import LIVE_CHECK_DOMAIN, LIVE_CHECK_TAG, LiveCheck
from escalations.zendesk.live_findings import (
    REASON,
    Delivery,
    Expectation,
    definition_gaps,
    delivery_diagnosis,
    escalation_problems,
    read_invocation,
    request_field_problems,
)
from tests.conftest import Service
from tests.support.local_service import free_port

FIELD_IDS = {key: 500 + position for position, key in enumerate(fields.FIELD_KEYS)}
CUSTOMER, MANAGERS, SERVICE = 7000000001, 20, 1


def operators(*values: str) -> list[dict[str, Any]]:
    return [{"title": value, "value": value, "terminal": False} for value in values]


def options(*values: str) -> list[dict[str, Any]]:
    return [{"title": value, "value": value, "enabled": True} for value in values]


# Shaped as GET /api/v2/triggers/definitions answers (TriggerDefinitionObject in Zendesk's spec), with
# the values Zendesk's conditions reference documents for the conditions the service uses.
CONDITIONS = [
    {"subject": "update_type", "type": "list", "operators": operators("is"), "values": options("Create", "Change")},
    {
        "subject": "comment_is_public",
        "type": "list",
        "operators": operators("is"),
        "values": options("true", "false", "not_relevant", "requester_can_see_comment"),
    },
    {"subject": "comment_includes_word", "type": "text", "operators": operators("includes", "not_includes", "is")},
    {"subject": "role", "type": "list", "operators": operators("is", "is_not"), "values": options("end_user", "agent")},
    {
        "subject": "status",
        "type": "list",
        "operators": operators("is", "is_not", "less_than", "greater_than", "changed", "value", "value_previous"),
        "values": options("new", "open", "pending", "hold", "solved", "closed"),
    },
    {"subject": "current_tags", "type": "tags", "operators": operators("includes", "not_includes")},
]
DEFINITIONS = {
    "conditions_all": CONDITIONS,
    "conditions_any": CONDITIONS,
    "actions": [{"subject": "notification_webhook", "type": "list"}, {"subject": "status", "type": "list"}],
}


def test_the_service_triggers_use_only_what_zendesk_documents_for_trigger_conditions() -> None:
    ours = [desired_trigger("01HWEBHOOK"), *desired_follow_up_triggers("01HWEBHOOK")]
    assert definition_gaps(ours, DEFINITIONS) == []


def test_a_condition_value_the_account_does_not_offer_is_named_with_what_is_offered() -> None:
    staff_as_admin = {
        "title": "Old staff reply",
        "conditions": {"all": [{"field": "role", "operator": "is", "value": "admin"}], "any": []},
        "actions": [{"field": "notification_webhook", "value": ["01HWEBHOOK", "{}"]}],
    }
    assert definition_gaps([staff_as_admin], DEFINITIONS) == [
        "trigger 'Old staff reply': the condition 'role is' has no value 'admin' (offered: agent, end_user)"
    ]


def test_an_operator_or_action_the_account_does_not_offer_is_named() -> None:
    without_changed_to = {
        **DEFINITIONS,
        "conditions_all": [
            {**item, "operators": operators("is", "is_not")} if item["subject"] == "status" else item
            for item in CONDITIONS
        ],
        "actions": [],
    }
    gaps = definition_gaps(desired_follow_up_triggers("01HWEBHOOK")[1:], without_changed_to)
    assert any("'status' has no operator 'value'" in gap for gap in gaps)
    assert any("the action 'notification_webhook' is not offered" in gap for gap in gaps)


def escalated_ticket(**changes: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values = {
        fields.STATUS: fields.status_tag(fields.STATUS_REQUESTED),
        fields.REASON: REASON,
        fields.REQUESTED_BY: str(CUSTOMER),
    }
    ticket = {
        "id": 9,
        "group_id": MANAGERS,
        "tags": [fields.TAG_ESCALATED, fields.status_tag(fields.STATUS_REQUESTED)],
        "custom_fields": [{"id": FIELD_IDS[key], "value": value} for key, value in values.items()],
        **changes,
    }
    comments = [
        {"author_id": CUSTOMER, "public": True},
        {"author_id": SERVICE, "public": False},
        {"author_id": SERVICE, "public": True},
    ]
    return ticket, comments


EXPECTED = Expectation(CUSTOMER, MANAGERS, SERVICE)


def test_a_ticket_escalated_and_confirmed_by_the_service_has_no_problems() -> None:
    assert escalation_problems(*escalated_ticket(), FIELD_IDS, EXPECTED) == []


def test_each_missing_part_of_an_escalation_is_named() -> None:
    ticket, _ = escalated_ticket(
        group_id=3, assignee_id=SERVICE, tags=[fields.TAG_ESCALATED, fields.TAG_CONFIRMATION_PENDING]
    )
    problems = escalation_problems(ticket, [{"author_id": CUSTOMER, "public": True}], FIELD_IDS, EXPECTED)
    assert problems == [
        "tags missing: escalation_status_requested",
        "the confirmation is still owed",
        "the ticket is in group 3, not the managers' group",
        f"the ticket is still assigned to {SERVICE}",
        "no internal note for the managers",
        "no confirmation to the customer",
    ]


def delivered(status: str | None, code: int | None) -> Delivery:
    return read_invocation(
        {"id": "i1", "status": status, "latest_completed_at": "2026-12-02T10:00:00Z"},
        {"status": status, "response_code": code},
    )


def test_the_diagnosis_says_what_to_fix_for_each_kind_of_failed_delivery() -> None:
    url = "https://escalations.example.com"
    assert "did not call the webhook" in delivery_diagnosis([], url)
    unreachable = delivery_diagnosis([delivered("failed", None)], url)
    assert unreachable.startswith(f"Zendesk could not reach {url}/webhooks/zendesk")
    assert "run 'escalations setup' again" in delivery_diagnosis([delivered("client error", 401)], url)
    assert "escalations doctor" in delivery_diagnosis([delivered("success", 202)], url)
    assert "answered Zendesk 500" in delivery_diagnosis([delivered("server error", 500)], url)


# The Webhooks API's reference is not in the vendored spec: a public description of it names these fields, the
# sandbox earlier served the others. Either way a delivery reads the same.
DESCRIBED = (
    {"id": "i1", "webhook_id": "w1", "status": "success", "latest_completed_at": "2026-12-02T10:00:00Z"},
    {"id": "a1", "invocation_id": "i1", "status": "success", "response_code": 200},
)
EARLIER = (
    {
        "id": "i1",
        "latest_completed_attempt": {"status": "success", "status_code": 200, "completed_at": "2026-12-02T10:00:00Z"},
    },
    None,
)


@pytest.mark.parametrize(("invocation", "attempt"), [DESCRIBED, EARLIER], ids=["described", "earlier"])
def test_an_invocation_is_read_in_either_spelling_of_its_status_fields(
    invocation: dict[str, Any], attempt: dict[str, Any] | None
) -> None:
    delivery = read_invocation(invocation, attempt)
    assert (delivery.outcome, delivery.http_status, delivery.at) == ("success", 200, "2026-12-02T10:00:00Z")


def test_an_invocation_the_check_cannot_read_is_unknown_shown_raw_and_never_stops_the_wait() -> None:
    odd = {"id": "i9", "state": "DELIVERED_OK", "finished": "2026-12-02T10:00:00Z"}
    delivery = read_invocation(odd, {"result": "ok"})
    assert delivery.outcome == "unknown" and not delivery.refused_for_good
    diagnosis = delivery_diagnosis([delivery], "https://escalations.example.com")
    assert "a shape this check cannot read" in diagnosis and '"state": "DELIVERED_OK"' in diagnosis
    assert "could not reach" not in diagnosis


def test_only_a_delivery_zendesk_will_not_retry_stops_the_wait_early() -> None:
    assert delivered("failed", None).refused_for_good  # no answer at all
    assert delivered("client error", 401).refused_for_good
    assert not delivered("client error", 409).refused_for_good  # Zendesk retries a 409
    assert not delivered("throttled", 429).refused_for_good
    assert not delivered("server error", 503).refused_for_good
    assert not delivered("accepted", None).refused_for_good  # still in flight
    assert not delivered("success", 200).refused_for_good


def test_the_customer_may_read_only_the_escalation_fields_meant_for_customers() -> None:
    visible = [{"id": FIELD_IDS[f.key], "value": "x"} for f in fields.ESCALATION_FIELDS if f.customer_visible]
    shown, problems = request_field_problems({"custom_fields": visible}, FIELD_IDS)
    assert problems == [] and "Escalation status" in shown and "Escalation reason" not in shown
    leaked = [*visible, {"id": FIELD_IDS[fields.REASON], "value": "private"}]
    _, problems = request_field_problems({"custom_fields": leaked}, FIELD_IDS)
    assert len(problems) == 1 and "'Escalation reason'" in problems[0]


class Deleting:
    """A gateway whose deletes fail as told: by exception type, not by what the message says."""

    def __init__(self, errors: dict[str, Exception]) -> None:
        self.errors = errors

    def request_json(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        if path in self.errors:
            raise self.errors[path]
        return {}


def test_a_delete_is_judged_by_the_kind_of_error_not_by_404_in_its_text(tmp_path: Any) -> None:
    from escalations.config import load_settings
    from escalations.zendesk.gateway import NotFound, ZendeskRefused
    from escalations.zendesk.state import AccountState

    settings = load_settings(
        {
            "ZENDESK_SUBDOMAIN": "acme",
            "ZENDESK_EMAIL": "a@acme.test",
            "ZENDESK_API_TOKEN": "t",
            "ESCALATIONS_DATA_DIR": str(tmp_path),
        }
    )
    state = AccountState("https://acme.zendesk.com", FIELD_IDS, MANAGERS, "w1", "secret", SERVICE, "2026-12-01")
    check = LiveCheck(settings, state, out=io.StringIO())
    check.created = {"tickets": [404, 7], "users": [8]}
    gateway = Deleting(
        {
            "/api/v2/tickets/404.json": ZendeskRefused("Zendesk answered 422: ticket 404 is closed"),
            "/api/v2/tickets/7.json": NotFound("Zendesk answered 404"),
        }
    )
    left = check._delete_created(gateway)  # type: ignore[arg-type]
    assert check.created == {"tickets": [404], "users": []}  # gone counts as deleted; a refusal does not
    assert "could not delete tickets [404]" in left


# -- the whole check, as an admin runs it, against the sandbox with the service running ---------------


def live_check(service: Service, wait: str = "30") -> subprocess.CompletedProcess[str]:
    return service.run("doctor", "--live", "--wait", wait, check=False)


def leftovers(zendesk: SandboxZendesk) -> list[str]:
    """Live-check tickets and users still in the account."""
    tickets = [f"ticket {t['id']}" for t in zendesk.tickets() if "escalations_live_check" in t["tags"]]
    users = [
        f"user {u['id']}"
        for u in zendesk.users()
        if (u["email"] or "").endswith("@escalations-live-check.invalid") and u["active"]
    ]
    return tickets + users


def test_the_live_check_passes_on_a_working_account_and_leaves_nothing_behind(service: Service) -> None:
    result = live_check(service)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["ok"] * 8
    assert "escalated, handed to the managers and confirmed" in result.stdout
    assert "the customer sees only the escalation fields meant for customers" in result.stdout
    assert "a second attempt was refused politely" in result.stdout
    assert lines[-1] == "live check passed"
    assert leftovers(service.zendesk) == []
    # The customer's comments went through the Requests API as the customer, so the trigger saw an end-user.
    as_customer = [e for e in service.zendesk.requests_log() if e["path"].startswith("/api/v2/requests/")]
    assert [e["method"] for e in as_customer] == ["PUT", "GET", "PUT"]


def test_the_live_check_deletes_only_tickets_of_its_own_temporary_customers(service: Service) -> None:
    zendesk = service.zendesk
    zendesk.api_update_ticket(2, {"tags": [LIVE_CHECK_TAG]})  # a real customer's ticket, tagged by mistake
    leftover_customer = zendesk.create_user(
        {"name": "Earlier live check", "email": f"live-check-0000@{LIVE_CHECK_DOMAIN}", "verified": True}
    )
    leftover, _ = zendesk.api_create_ticket(
        {"requester_id": leftover_customer["id"], "comment": {"body": "left by a killed run"}, "tags": [LIVE_CHECK_TAG]}
    )
    result = live_check(service)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "left alone, as their requester is not the check's own: tickets [2]" in result.stdout
    assert zendesk.ticket(2)["requester_id"] == 10016  # Bob's ticket is still there
    assert leftover["ticket"]["id"] not in {t["id"] for t in zendesk.tickets()}


def test_the_live_check_says_when_zendesk_cannot_reach_the_service(service_env: Service) -> None:
    service_env.env["PUBLIC_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    service_env.run("setup")
    service_env.start()
    try:
        result = live_check(service_env)
    finally:
        service_env.stop()
    assert result.returncode == 1
    assert f"Zendesk could not reach {service_env.env['PUBLIC_URL']}/webhooks/zendesk" in result.stdout
    # A delivery Zendesk will not retry ends the wait at once, not after the 30 s given.
    assert "not escalated, and Zendesk does not retry such a delivery" in result.stdout
    assert "ok    temporary customer and ticket deleted" in result.stdout
    assert leftovers(service_env.zendesk) == []


def test_the_live_check_names_a_trigger_condition_the_account_does_not_offer(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    offered = service.zendesk.trigger_definitions()

    def without_changed_to() -> dict[str, Any]:
        definitions = copy.deepcopy(offered)
        for condition in definitions["conditions_all"]:
            if condition["subject"] == "status":
                condition["operators"] = [o for o in condition["operators"] if o["value"] != "value"]
        return definitions

    monkeypatch.setattr(service.zendesk, "trigger_definitions", without_changed_to)
    result = live_check(service)
    assert result.returncode == 1
    assert "FAIL  the account offers every trigger condition and action used" in result.stdout
    assert "the condition 'status' has no operator 'value'" in result.stdout
    assert "temporary customer and ticket created" not in result.stdout  # it stopped before creating anything
    assert leftovers(service.zendesk) == []


def test_a_poll_of_webhook_activity_fetches_attempts_only_for_the_invocations_it_reads() -> None:
    from escalations.config import load_settings
    from escalations.zendesk.state import AccountState
    from tests.test_spec_examples import RecordedZendesk

    path = "/api/v2/webhooks/w1/invocations"
    invocations = [
        {"id": f"i{n}", "status": "failed", "latest_completed_at": f"2026-12-02T10:{n:02d}:00Z"} for n in range(40)
    ]
    zendesk = RecordedZendesk(
        {
            f"GET {path}": [{"invocations": invocations}],
            **{
                f"GET {path}/i{n}/attempts": [{"attempts": [{"status": "failed", "response_code": 500 + n}]}]
                for n in range(40)
            },
        }
    )
    settings = load_settings({"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_EMAIL": "a@acme.test", "ZENDESK_API_TOKEN": "t"})
    state = AccountState("https://acme.zendesk.com", FIELD_IDS, MANAGERS, "w1", "secret", SERVICE, "2026-12-01")
    check = LiveCheck(settings, state, out=io.StringIO())
    since = datetime(2026, 12, 2, 10, 30, tzinfo=UTC).timestamp()

    latest = check._invocations(zendesk, since, most=1)  # type: ignore[arg-type]
    assert [delivery.http_status for delivery in latest] == [539]
    assert [path for _, path, _ in zendesk.calls] == [path, f"{path}/i39/attempts"]

    recent = check._invocations(zendesk, since)  # type: ignore[arg-type]
    assert [delivery.http_status for delivery in recent] == [535, 536, 537, 538, 539]
    assert len(zendesk.calls) == 2 + 1 + 5
