"""The sandbox behaves like Zendesk where the app depends on it, as seen through the real Zenpy."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import (
    Comment,
    CustomField,
    Ticket,
    TicketField,
    Trigger,
    Webhook,
)
from zenpy.lib.exception import APIException

from escalations.sandbox import SandboxServer, SandboxZendesk
from escalations.sandbox.rules import CURRENT_USER, TicketChange, conditions_match, render_placeholders
from tests.contract.session import checked_sandbox

PHRASE = "escalation request"


@dataclass
class Sandbox:
    """A sandbox account, its server, and Zenpy pointed at it."""

    account: SandboxZendesk
    server: SandboxServer
    zenpy: Zenpy

    @property
    def zenpy_auth(self) -> tuple[str, str]:
        return (f"{self.account.email}/token", self.account.api_token)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A raw authenticated API request as the API user (the admin)."""
        return requests.request(method, f"{self.server.url}{path}", auth=self.zenpy_auth, timeout=5, **kwargs)

    def customer_of(self, ticket_id: int) -> int:
        return int(self.account.ticket(ticket_id)["requester_id"])

    def agent(self) -> int:
        return int(self.account.users(roles=["agent"])[0]["id"])


@dataclass
class Receiver:
    """A tiny webhook receiver answering with the queued statuses, then 200."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    received: list[tuple[Message, bytes]] = field(default_factory=list)


def make_zenpy(account: SandboxZendesk, timeout: float = 5) -> Zenpy:
    return Zenpy(
        subdomain=account.subdomain,
        email=account.email,
        token=account.api_token,
        disable_cache=True,
        session=requests.Session(),
        timeout=timeout,
    )


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    account = SandboxZendesk()
    with checked_sandbox(account) as server:
        monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
        monkeypatch.setenv("ZENPY_FORCE_NETLOC", server.url.removeprefix("http://"))
        yield Sandbox(account, server, make_zenpy(account))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.received.append((self.headers, body))
            self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_port}/webhooks/zendesk"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join()


def escalation_trigger(sandbox: Sandbox, receiver: Receiver) -> str:
    """A webhook and the trigger the app relies on; returns the webhook id."""
    webhook = sandbox.zenpy.webhooks.create(
        Webhook(
            name="Escalation requests",
            endpoint=receiver.url,
            http_method="POST",
            request_format="json",
            status="active",
            subscriptions=["conditional_ticket_events"],
        )
    )
    body = json.dumps(
        {
            "ticket_id": "{{ticket.id}}",
            "updated_at": "{{ticket.updated_at_with_timestamp}}",
            "requester_id": "{{ticket.requester.id}}",
            "current_user_id": "{{current_user.id}}",
            "comment_id": "{{ticket.latest_comment.id}}",
            "tags": "{{ticket.tags}}",
            "unknown": "{{ticket.no_such_thing}}",
        }
    )
    sandbox.zenpy.triggers.create(
        Trigger(
            title="Escalation request from the customer",
            conditions={
                "all": [
                    {"field": "update_type", "operator": "is", "value": "Change"},
                    {"field": "comment_is_public", "operator": "is", "value": "true"},
                    {"field": "role", "operator": "is", "value": "end_user"},
                    {"field": "comment_includes_word", "operator": "is", "value": PHRASE},
                    {"field": "current_tags", "operator": "not_includes", "value": "escalation_closed"},
                    {"field": "status", "operator": "less_than", "value": "solved"},
                ],
                "any": [],
            },
            actions=[{"field": "notification_webhook", "value": [webhook.id, body]}],
        )
    )
    return str(webhook.id)


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# -- access ---------------------------------------------------------------------------


def test_requests_without_the_api_token_are_refused(sandbox: Sandbox) -> None:
    anonymous = requests.get(f"{sandbox.server.url}/api/v2/tickets/1.json", timeout=5)
    wrong = requests.get(
        f"{sandbox.server.url}/api/v2/tickets/1.json", auth=(f"{sandbox.account.email}/token", "nope"), timeout=5
    )

    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.json() == {"error": "Couldn't authenticate you"}


def test_unknown_ids_are_record_not_found_with_or_without_json_suffix(sandbox: Sandbox) -> None:
    for path in ("/api/v2/tickets/999.json", "/api/v2/tickets/999", "/api/v2/users/1.json"):
        answer = sandbox.api("GET", path)
        assert answer.status_code == 404
        assert answer.json() == {"error": "RecordNotFound", "description": "Not found"}


def test_every_api_request_is_logged_but_control_requests_are_not(sandbox: Sandbox) -> None:
    sandbox.account.reset_requests_log()
    sandbox.zenpy.tickets(id=2)
    requests.get(f"{sandbox.server.url}/__sandbox__/state", timeout=5)

    assert [(r["method"], r["path"], r["status"]) for r in sandbox.account.requests_log()] == [
        ("GET", "/api/v2/tickets/2.json", 200)
    ]


# -- ticket updates -------------------------------------------------------------------


def test_tags_in_an_update_replace_the_whole_list(sandbox: Sandbox) -> None:
    sandbox.zenpy.tickets.update(Ticket(id=1, tags=["billing", "vip"]))
    sandbox.zenpy.tickets.update(Ticket(id=1, tags=["escalated"]))

    assert sandbox.zenpy.tickets(id=1).tags == ["escalated"]


def test_unknown_ticket_keys_are_dropped_with_a_warning_header(sandbox: Sandbox) -> None:
    answer = sandbox.api("PUT", "/api/v2/tickets/1.json", json={"ticket": {"additional_tags": ["x"]}})

    assert answer.status_code == 200
    assert "additional_tags" in answer.headers["x-zendesk-api-warn"]
    assert sandbox.account.ticket(1)["tags"] == []


def test_custom_fields_merge_by_id_and_a_drop_down_keeps_its_tag_in_step(sandbox: Sandbox) -> None:
    level = sandbox.zenpy.ticket_fields.create(
        TicketField(
            type="tagger",
            title="Escalation level",
            custom_field_options=[
                {"name": "Requested", "value": "escalation_requested"},
                {"name": "Handled", "value": "escalation_handled"},
            ],
        )
    )
    reason = sandbox.zenpy.ticket_fields.create(TicketField(type="text", title="Escalation reason"))
    zenpy = sandbox.zenpy

    zenpy.tickets.update(Ticket(id=1, custom_fields=[CustomField(id=reason.id, value="exports fail")]))
    zenpy.tickets.update(Ticket(id=1, custom_fields=[CustomField(id=level.id, value="escalation_requested")]))
    zenpy.tickets.update(Ticket(id=1, custom_fields=[CustomField(id=level.id, value="escalation_handled")]))

    ticket = sandbox.account.ticket(1)
    values = {f["id"]: f["value"] for f in ticket["custom_fields"]}
    assert values == {level.id: "escalation_handled", reason.id: "exports fail"}
    assert ticket["tags"] == ["escalation_handled"]
    assert {f["id"]: f["value"] for f in sandbox.account.ticket(2)["custom_fields"]} == {
        level.id: None,
        reason.id: None,
    }


def test_unknown_custom_field_is_refused_and_changes_nothing(sandbox: Sandbox) -> None:
    before = sandbox.account.ticket(1)

    with pytest.raises(APIException) as refused:
        sandbox.zenpy.tickets.update(Ticket(id=1, tags=["x"], custom_fields=[CustomField(id=424242, value="x")]))

    assert refused.value.response.status_code == 422
    assert sandbox.account.ticket(1) == before


def test_a_tag_belongs_to_one_ticket_field_only(sandbox: Sandbox) -> None:
    sandbox.zenpy.ticket_fields.create(TicketField(type="checkbox", title="Escalated", tag="escalated"))

    with pytest.raises(APIException) as refused:
        sandbox.zenpy.ticket_fields.create(
            TicketField(type="tagger", title="Level", custom_field_options=[{"name": "Yes", "value": "escalated"}])
        )

    assert refused.value.response.status_code == 422


def test_safe_update_with_a_stale_stamp_is_a_409_and_changes_nothing(sandbox: Sandbox) -> None:
    stale = sandbox.zenpy.tickets(id=1).updated_at
    sandbox.account.add_comment(1, author_id=sandbox.customer_of(1), body="Any news?")
    before = sandbox.account.ticket(1)

    with pytest.raises(APIException) as conflict:
        sandbox.zenpy.tickets.update(
            Ticket(
                id=1,
                tags=["escalated"],
                comment=Comment(body="On it", public=True),
                safe_update=True,
                updated_stamp=stale,
            )
        )

    assert conflict.value.response.status_code == 409
    assert conflict.value.response.json()["error"] == "UpdateConflict"
    assert sandbox.account.ticket(1) == before
    assert len(sandbox.account.comments(1)) == 2


def test_safe_update_with_the_current_stamp_succeeds_and_moves_updated_at(sandbox: Sandbox) -> None:
    current = sandbox.zenpy.tickets(id=1).updated_at

    audit = sandbox.zenpy.tickets.update(Ticket(id=1, tags=["escalated"], safe_update=True, updated_stamp=current))
    again = sandbox.zenpy.tickets.update(
        Ticket(id=1, tags=["escalated", "vip"], safe_update=True, updated_stamp=audit.ticket.updated_at)
    )

    assert current < audit.ticket.updated_at < again.ticket.updated_at
    assert again.ticket.tags == ["escalated", "vip"]


def test_of_concurrent_safe_updates_with_one_stamp_exactly_one_wins(sandbox: Sandbox) -> None:
    stamp = sandbox.account.ticket(1)["updated_at"]
    statuses: list[int] = []

    def write(n: int) -> None:
        body = {"ticket": {"tags": [f"writer_{n}"], "safe_update": True, "updated_stamp": stamp}}
        statuses.append(sandbox.api("PUT", "/api/v2/tickets/1.json", json=body).status_code)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    assert sorted(statuses) == [200] + [409] * 7
    assert len(sandbox.account.ticket(1)["tags"]) == 1


def test_updated_at_strictly_increases_even_when_the_clock_stands_still() -> None:
    frozen = datetime(2026, 11, 27, 15, 4, 5, 900000, tzinfo=UTC)
    account = SandboxZendesk(clock=lambda: frozen)
    customer = account.ticket(1)["requester_id"]

    stamps = [account.add_comment(1, author_id=customer, body=f"note {n}")["created_at"] for n in range(3)]

    assert stamps == ["2026-11-27T15:04:06Z", "2026-11-27T15:04:07Z", "2026-11-27T15:04:08Z"]
    assert account.ticket(1)["updated_at"] == "2026-11-27T15:04:08Z"


def test_a_closed_ticket_cannot_be_updated(sandbox: Sandbox) -> None:
    sandbox.account.set_status(3, "closed")

    with pytest.raises(APIException) as refused:
        sandbox.zenpy.tickets.update(Ticket(id=3, tags=["escalated"]))

    assert refused.value.response.status_code == 422
    assert refused.value.response.json()["error"] == "RecordInvalid"


def test_an_api_comment_is_added_once_and_a_public_one_is_emailed(sandbox: Sandbox) -> None:
    audit = sandbox.zenpy.tickets.update(Ticket(id=3, comment=Comment(body="We are looking into it.", public=True)))

    comments = sandbox.account.comments(3)
    assert [c["body"] for c in comments][-1] == "We are looking into it."
    assert comments[-1]["via"]["channel"] == "api"
    assert comments[-1]["id"] == audit.audit.events[0]["id"]
    [email] = sandbox.account.emails()
    assert email["to"] == ["carmen.ortiz@example.com", "deepak.rao@example.com"]
    assert email["comment_id"] == comments[-1]["id"]


# -- comments ---------------------------------------------------------------------------


def test_comments_page_newest_first_with_their_authors_sideloaded(sandbox: Sandbox) -> None:
    customer, agent = sandbox.customer_of(1), sandbox.agent()
    for n, author in enumerate([agent, customer, agent]):
        sandbox.account.add_comment(1, author_id=author, body=f"reply {n}", deliver_webhooks=False)

    first = sandbox.api(
        "GET", "/api/v2/tickets/1/comments.json", params={"sort": "-created_at", "include": "users", "page[size]": 3}
    ).json()
    second = requests.get(
        first["links"]["next"], auth=(f"{sandbox.account.email}/token", "sandbox-token"), timeout=5
    ).json()

    assert [c["body"] for c in first["comments"]] == ["reply 2", "reply 1", "reply 0"]
    assert first["meta"]["has_more"] is True
    assert [c["plain_body"] for c in second["comments"]] == [sandbox.account.ticket(1)["description"]]
    assert second["meta"]["has_more"] is False and second["links"]["next"] is None
    people = {u["id"]: u for u in first["users"]}
    assert {customer, agent} <= people.keys()
    assert people[customer]["role"] == "end-user" and people[agent]["role"] == "agent"
    assert {"name", "email", "phone", "locale", "time_zone"} <= people[customer].keys()


def test_zenpy_iterates_every_page_of_comments(sandbox: Sandbox) -> None:
    audit = sandbox.zenpy.tickets.create(
        Ticket(subject="Exports fail", requester_id=sandbox.customer_of(1), comment=Comment(body="Help"))
    )
    ticket_id = audit.ticket.id
    customer = sandbox.customer_of(1)
    for n in range(204):
        sandbox.account.add_comment(ticket_id, author_id=customer, body=f"comment {n}", deliver_webhooks=False)

    bodies = [c.body for c in sandbox.zenpy.tickets.comments(ticket=ticket_id)]

    assert len(bodies) == 205
    assert bodies[0] == "Help" and bodies[-1] == "comment 203"


# -- webhooks and triggers ----------------------------------------------------------------


def escalation_webhook(endpoint: str, status: str = "active") -> Webhook:
    return Webhook(
        name="Escalations",
        endpoint=endpoint,
        http_method="POST",
        request_format="json",
        status=status,
        subscriptions=["conditional_ticket_events"],
    )


def test_webhooks_and_their_signing_secret_round_trip(sandbox: Sandbox, receiver: Receiver) -> None:
    zenpy = sandbox.zenpy
    created = zenpy.webhooks.create(escalation_webhook(receiver.url))
    zenpy.webhooks.update(created.id, escalation_webhook(receiver.url, status="inactive"))
    zenpy.webhooks.patch(Webhook(id=created.id, name="Escalation requests"))

    listed = list(zenpy.webhooks())
    shown = zenpy.webhooks(id=created.id)
    secret = zenpy.webhooks.show_secret(created.id)
    reset = zenpy.webhooks.reset_secret(created.id)
    filtered = sandbox.api("GET", "/api/v2/webhooks", params={"filter[name_contains]": "nothing"}).json()

    assert len(created.id) == 26 and created.id.startswith("01")
    assert [w.id for w in listed] == [created.id]
    assert (shown.name, shown.status, shown.endpoint) == ("Escalation requests", "inactive", receiver.url)
    assert secret.algorithm == "SHA256" and secret.secret
    assert reset.secret != secret.secret
    assert zenpy.webhooks.show_secret(created.id).secret == reset.secret
    assert filtered == {
        "webhooks": [],
        "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
        "links": {"next": None, "prev": None},
    }


def test_a_put_replaces_the_whole_webhook_so_a_partial_one_is_refused(sandbox: Sandbox) -> None:
    created = sandbox.zenpy.webhooks.create(escalation_webhook("http://127.0.0.1:9/hook"))
    fetched = sandbox.zenpy.webhooks(id=created.id)
    fetched.status = "inactive"

    with pytest.raises(APIException) as refused:
        sandbox.zenpy.webhooks.update(created.id, fetched)  # Zenpy sends only the changed attributes

    assert refused.value.response.status_code == 400
    assert sandbox.account.webhook(created.id)["status"] == "active"


def test_a_customer_comment_with_the_phrase_fires_a_signed_webhook(sandbox: Sandbox, receiver: Receiver) -> None:
    webhook_id = escalation_trigger(sandbox, receiver)
    customer = sandbox.customer_of(1)

    comment = sandbox.account.add_comment(1, author_id=customer, body="Escalation REQUEST: exports fail")
    sandbox.account.wait_for_deliveries()

    [(headers, body)] = receiver.received
    secret = sandbox.zenpy.webhooks.show_secret(webhook_id).secret
    timestamp = headers["X-Zendesk-Webhook-Signature-Timestamp"]
    assert headers["X-Zendesk-Webhook-Signature"] == expected_signature(secret, timestamp, body)
    assert headers["X-Zendesk-Webhook-Id"] == webhook_id
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Zendesk Webhook"
    assert headers["X-Zendesk-Account-Id"] and headers["X-Zendesk-Webhook-Invocation-Id"]
    ticket = sandbox.account.ticket(1)
    assert json.loads(body) == {
        "ticket_id": "1",
        "updated_at": ticket["updated_at"][:16] + "Z",  # to the minute, as Zendesk renders it
        "requester_id": str(customer),
        "current_user_id": str(customer),
        "comment_id": str(comment["id"]),
        "tags": "",
        "unknown": "",
    }
    [delivery] = sandbox.account.deliveries()
    assert delivery["final_status"] == 200 and [a["status"] for a in delivery["attempts"]] == [200]


def test_the_update_time_placeholder_is_to_the_minute_and_the_date_one_a_date() -> None:
    account = SandboxZendesk()
    ticket = {**account.ticket(1), "updated_at": "2013-12-12T05:35:09Z"}
    change = TicketChange("Change", ticket, account.user(ticket["requester_id"]), None, None)

    rendered = render_placeholders("{{ticket.updated_at_with_timestamp}} {{ticket.updated_at}}", change)

    assert rendered == "2013-12-12T05:35Z 2013-12-12"


def test_the_trigger_stays_quiet_without_a_public_customer_comment_containing_the_phrase(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    escalation_trigger(sandbox, receiver)
    customer, agent = sandbox.customer_of(1), sandbox.agent()

    sandbox.account.add_comment(1, author_id=customer, body=f"{PHRASE}: please", public=False)
    sandbox.account.add_comment(1, author_id=agent, body=f"Reply with '{PHRASE}' to escalate")
    sandbox.account.add_comment(1, author_id=customer, body="Thanks, that fixed it")
    sandbox.zenpy.tickets.update(Ticket(id=1, comment=Comment(body=f"{PHRASE} noted", public=True)))
    sandbox.zenpy.tickets.update(Ticket(id=1, tags=["escalation_closed"]))
    sandbox.account.add_comment(1, author_id=customer, body=f"{PHRASE} again")
    sandbox.account.wait_for_deliveries()

    assert sandbox.account.deliveries() == []
    assert receiver.received == []


def test_a_409_from_the_receiver_is_retried_up_to_three_times(sandbox: Sandbox, receiver: Receiver) -> None:
    escalation_trigger(sandbox, receiver)
    receiver.answers = [409, 409, 409, 409, 409]

    sandbox.account.add_comment(1, author_id=sandbox.customer_of(1), body=f"{PHRASE}: exports fail")
    sandbox.account.wait_for_deliveries()

    [delivery] = sandbox.account.deliveries()
    assert [a["status"] for a in delivery["attempts"]] == [409, 409, 409, 409]
    assert delivery["final_status"] == 409
    invocation_ids = {headers["X-Zendesk-Webhook-Invocation-Id"] for headers, _ in receiver.received}
    assert len(receiver.received) == 4 and len(invocation_ids) == 1


def test_a_500_from_the_receiver_is_not_retried(sandbox: Sandbox, receiver: Receiver) -> None:
    escalation_trigger(sandbox, receiver)
    receiver.answers = [500]

    sandbox.account.add_comment(1, author_id=sandbox.customer_of(1), body=f"{PHRASE}: exports fail")
    sandbox.account.wait_for_deliveries()

    assert [a["status"] for a in sandbox.account.deliveries()[0]["attempts"]] == [500]


def test_switched_off_delivery_records_the_webhook_as_dropped(sandbox: Sandbox, receiver: Receiver) -> None:
    escalation_trigger(sandbox, receiver)
    sandbox.account.webhook_delivery_enabled = False

    sandbox.account.add_comment(1, author_id=sandbox.customer_of(1), body=f"{PHRASE}: exports fail")
    sandbox.account.wait_for_deliveries()

    [delivery] = sandbox.account.deliveries()
    assert delivery["final_status"] == "dropped" and delivery["attempts"] == []
    assert receiver.received == []


# -- limits and faults --------------------------------------------------------------------


def test_over_the_rate_limit_is_a_429_with_retry_after(sandbox: Sandbox) -> None:
    sandbox.account.set_rate_limit(requests_per_minute=3, updates_per_minute=None)

    answers = [sandbox.api("GET", "/api/v2/tickets/1.json") for _ in range(4)]

    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert all(a.headers["X-Rate-Limit"] == "3" for a in answers)
    assert answers[3].status_code == 429
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
    assert requests.get(f"{sandbox.server.url}/__sandbox__/state", timeout=5).status_code == 200


def test_ticket_updates_have_their_own_limit(sandbox: Sandbox) -> None:
    sandbox.account.set_rate_limit(requests_per_minute=None, updates_per_minute=1)

    first = sandbox.api("PUT", "/api/v2/tickets/1.json", json={"ticket": {"tags": ["a"]}})
    second = sandbox.api("PUT", "/api/v2/tickets/2.json", json={"ticket": {"tags": ["a"]}})
    read = sandbox.api("GET", "/api/v2/tickets/2.json")

    assert (first.status_code, second.status_code, read.status_code) == (200, 429, 200)
    assert sandbox.account.ticket(2)["tags"] == []


def test_zenpy_waits_out_a_429_and_retries(sandbox: Sandbox) -> None:
    sandbox.account.inject_fault(status=429, count=1, retry_after=1)

    assert sandbox.zenpy.tickets(id=1).id == 1
    assert [r["status"] for r in sandbox.account.requests_log()[-2:]] == [429, 200]


def test_injected_503s_answer_the_next_requests_then_the_api_recovers(sandbox: Sandbox) -> None:
    sandbox.account.inject_fault(status=503, count=1, path_regex=r"/tickets/1\b")
    sandbox.account.inject_fault(status=503, count=1, body_format="html")

    with pytest.raises(APIException) as json_error:
        sandbox.zenpy.tickets(id=1)
    with pytest.raises(requests.HTTPError):
        sandbox.zenpy.tickets(id=2)

    assert json_error.value.response.status_code == 503
    assert sandbox.zenpy.tickets(id=1).id == 1


def test_a_hanging_request_makes_the_client_time_out(sandbox: Sandbox) -> None:
    sandbox.account.inject_fault(status="hang", count=1, method="GET")
    impatient = make_zenpy(sandbox.account, timeout=0.3)

    with pytest.raises(requests.Timeout):
        impatient.tickets(id=1)

    sandbox.account.clear_faults()
    assert impatient.tickets(id=1).id == 1


def test_control_endpoints_drive_the_account_without_faults(sandbox: Sandbox) -> None:
    sandbox.account.inject_fault(status=500, seconds=60)
    url = sandbox.server.url
    customer = sandbox.customer_of(4)

    commented = requests.post(
        f"{url}/__sandbox__/tickets/4/comments", json={"author_id": customer, "body": "Still broken"}, timeout=5
    )
    missing = requests.post(
        f"{url}/__sandbox__/tickets/999/comments", json={"author_id": customer, "body": "?"}, timeout=5
    )
    malformed = requests.post(f"{url}/__sandbox__/tickets/4/comments", json={"body": 3}, timeout=5)
    solved = requests.post(f"{url}/__sandbox__/tickets/4/status", json={"status": "solved"}, timeout=5)

    assert (commented.status_code, missing.status_code, malformed.status_code) == (201, 404, 400)
    assert solved.json()["ticket"]["status"] == "solved"
    assert sandbox.account.comments(4)[-1]["body"] == "Still broken"
    assert sandbox.api("GET", "/api/v2/tickets/4.json").status_code == 500


# -- incremental export ---------------------------------------------------------------------


def test_ticket_events_list_changes_with_their_comment_events() -> None:
    seeded_at = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    start = int(seeded_at.timestamp())
    account = SandboxZendesk(clock=lambda: seeded_at)
    with checked_sandbox(account) as server:
        customer = account.ticket(2)["requester_id"]
        comment = account.add_comment(2, author_id=customer, body=f"{PHRASE}: locked out")
        auth = (f"{account.email}/token", account.api_token)
        account.api_update_ticket(2, {"tags": ["escalated"]})
        url = f"{server.url}/api/v2/incremental/ticket_events.json"
        page = requests.get(
            url, params={"start_time": str(start), "include": "comment_events"}, auth=auth, timeout=5
        ).json()
        bare = requests.get(url, params={"start_time": str(start + 1)}, auth=auth, timeout=5).json()
        paged = requests.get(url, params={"start_time": "0", "per_page": "2"}, auth=auth, timeout=5).json()

    later = [e for e in page["ticket_events"] if e["timestamp"] > start]
    comment_event, tag_event = later
    [child] = [c for c in comment_event["child_events"] if c["event_type"] == "Comment"]
    assert child["id"] == comment["id"] and child["body"] == f"{PHRASE}: locked out"
    assert child["public"] is True and child["author_id"] == customer
    assert comment_event["event_type"] == "Audit" and comment_event["updater_id"] == customer
    [tags] = tag_event["child_events"]
    assert tags["field_name"] == "tags" and tags["value"] == ["escalated"] and tags["previous_value"] == []
    assert tags["added_tags"] == ["escalated"]
    assert page["end_of_stream"] is True and page["end_time"] == tag_event["timestamp"]
    assert page["count"] == len(page["ticket_events"])
    assert bare["ticket_events"][0]["child_events"] == [
        {"id": comment["id"], "event_type": "Comment", "comment_present": True, "comment_public": True}
    ]
    assert paged["end_of_stream"] is False and "start_time=" in paged["next_page"]


def test_zenpy_reads_ticket_events_with_comment_events(sandbox: Sandbox) -> None:
    comment = sandbox.account.add_comment(5, author_id=sandbox.customer_of(5), body="Any update?")

    events = list(sandbox.zenpy.tickets.events(start_time=0, include="comment_events"))

    comment_ids = [c["id"] for e in events for c in e.child_events if c["event_type"] == "Comment"]
    assert comment["id"] in comment_ids


def test_the_sandbox_page_says_it_is_a_sandbox(sandbox: Sandbox) -> None:
    page = requests.get(f"{sandbox.server.url}/", timeout=5)

    assert page.status_code == 200 and "not Zendesk" in page.text


# -- trigger definitions and views ------------------------------------------------------------


def trigger_with(sandbox: Sandbox, *conditions: dict[str, str]) -> requests.Response:
    webhook = sandbox.zenpy.webhooks.create(escalation_webhook("http://127.0.0.1:9/hook"))
    body = {
        "trigger": {
            "title": "Under test",
            "conditions": {"all": list(conditions), "any": []},
            "actions": [{"field": "notification_webhook", "value": [webhook.id, "{}"]}],
        }
    }
    return sandbox.api("POST", "/api/v2/triggers.json", json=body)


def test_trigger_definitions_list_the_conditions_and_actions_the_account_offers(sandbox: Sandbox) -> None:
    field = sandbox.zenpy.ticket_fields.create(TicketField(type="text", title="Escalation reason"))

    definitions = sandbox.api("GET", "/api/v2/triggers/definitions.json").json()["definitions"]

    conditions = {c["subject"]: c for c in definitions["conditions_all"]}
    assert {"update_type", "comment_is_public", "comment_includes_word", "role", "current_tags", "status"} <= set(
        conditions
    )
    assert {"group_id", "assignee_id", "requester_id", "via_id", f"custom_fields_{field.id}"} <= set(conditions)
    assert [v["value"] for v in conditions["role"]["values"]] == ["end_user", "agent"]
    assert [o["value"] for o in conditions["role"]["operators"]] == ["is", "is_not"]
    status_operators = {o["value"]: o["terminal"] for o in conditions["status"]["operators"]}
    assert status_operators == {
        "is": False,
        "is_not": False,
        "less_than": False,
        "greater_than": False,
        "changed": True,
        "value": False,
        "value_previous": False,
        "not_changed": True,
        "not_value": False,
        "not_value_previous": False,
    }
    actions = {a["subject"] for a in definitions["actions"]}
    assert {"notification_webhook", "notification_user", "set_tags", "status", "group_id"} <= actions
    assert definitions["conditions_any"] == definitions["conditions_all"]


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "role", "operator": "is", "value": "admin"},
        {"field": "role", "operator": "less_than", "value": "agent"},
        {"field": "status", "operator": "is", "value": "archived"},
        {"field": "mood", "operator": "is", "value": "happy"},
    ],
)
def test_a_trigger_condition_the_definitions_do_not_offer_is_record_invalid(
    sandbox: Sandbox, condition: dict[str, str]
) -> None:
    answer = trigger_with(sandbox, {"field": "update_type", "operator": "is", "value": "Change"}, condition)

    assert answer.status_code == 422
    assert answer.json()["error"] == "RecordInvalid" and answer.json()["details"]["base"]
    assert sandbox.account.business_rules("trigger") == []


def test_status_changed_to_and_from_fire_on_the_transition_only(sandbox: Sandbox, receiver: Receiver) -> None:
    webhook = sandbox.zenpy.webhooks.create(escalation_webhook(receiver.url))
    for title, operator, value in (("to solved", "value", "solved"), ("from pending", "value_previous", "pending")):
        sandbox.api(
            "POST",
            "/api/v2/triggers.json",
            json={
                "trigger": {
                    "title": title,
                    "conditions": {"all": [{"field": "status", "operator": operator, "value": value}], "any": []},
                    "actions": [{"field": "notification_webhook", "value": [webhook.id, title]}],
                }
            },
        ).raise_for_status()

    sandbox.zenpy.tickets.update(Ticket(id=1, status="pending"))
    sandbox.zenpy.tickets.update(Ticket(id=1, status="solved"))
    sandbox.zenpy.tickets.update(Ticket(id=1, tags=["still_solved"]))
    sandbox.account.wait_for_deliveries()

    assert sorted(body.decode() for _, body in receiver.received) == ["from pending", "to solved"]


def test_role_agent_covers_admins_and_role_end_user_customers(sandbox: Sandbox, receiver: Receiver) -> None:
    webhook = sandbox.zenpy.webhooks.create(escalation_webhook(receiver.url))
    sandbox.api(
        "POST",
        "/api/v2/triggers.json",
        json={
            "trigger": {
                "title": "staff",
                "conditions": {"all": [{"field": "role", "operator": "is_not", "value": "end_user"}], "any": []},
                "actions": [{"field": "notification_webhook", "value": [webhook.id, "{{current_user.id}}"]}],
            }
        },
    ).raise_for_status()

    sandbox.account.add_comment(1, author_id=sandbox.customer_of(1), body="hello")
    sandbox.zenpy.tickets.update(Ticket(id=1, comment=Comment(body="from the admin", public=True)))
    sandbox.account.wait_for_deliveries()

    assert [body.decode() for _, body in receiver.received] == [str(sandbox.account.api_user_id)]


def test_every_condition_the_definitions_offer_can_be_used_and_holds_for_some_change() -> None:
    """Each offered subject/operator pair is accepted in a trigger and holds for some ticket change,
    and so does each offered value of a list condition under `is` (`current_user` included)."""
    account = SandboxZendesk()
    account.create_ticket_field({"type": "text", "title": "Reason"})
    account.create_ticket_field({"type": "checkbox", "title": "Escalated"})
    account.create_ticket_field(
        {"type": "tagger", "title": "Tier", "custom_field_options": [{"name": "Gold", "value": "tier_gold"}]}
    )
    webhook = account.create_webhook(
        {
            "name": "w",
            "status": "active",
            "endpoint": "http://127.0.0.1:9/",
            "http_method": "POST",
            "request_format": "json",
        }
    )
    definitions = account.trigger_definitions()["conditions_all"]
    [admin] = account.users(roles=["admin"])
    agent, other_agent = account.users(roles=["agent"])
    customer = account.users(roles=["end-user"])[0]
    base = {**account.ticket(1), "subject": "please escalate", "tags": ["escalate"], "requester_id": customer["id"]}
    public = {"body": "please escalate now", "public": True}
    private = {"body": "internal", "public": False}

    def candidates(definition: dict[str, Any]) -> list[object]:
        """Values a ticket may hold for the condition's subject."""
        if definition["subject"] == "requester_id":
            return [customer["id"], agent["id"]]
        if definition["type"] != "list":
            return [None, "escalate"]
        values: list[object] = []
        for offered in (v["value"] for v in definition["values"]):
            if offered == CURRENT_USER:
                continue
            values.append(
                {"": None, "true": True, "false": False}.get(offered, int(offered) if offered.isdigit() else offered)
            )
        return values

    def with_value(subject: str, value: object) -> dict[str, Any]:
        ticket = copy.deepcopy(base)
        if subject.startswith("custom_fields_"):
            field_id = int(subject.removeprefix("custom_fields_"))
            ticket["custom_fields"] = [
                {**f, "value": value} if f["id"] == field_id else f for f in ticket["custom_fields"]
            ]
        else:
            ticket[subject] = value
        return ticket

    changes = [
        TicketChange(update_type, base, actor, comment, None, previous=base, via_id=int(via["value"]))
        for update_type in ("Create", "Change")
        for actor in (customer, agent, admin)
        for comment in (None, public, private)
        for via in next(d for d in definitions if d["subject"] == "via_id")["values"]
    ]
    for definition in definitions:
        if definition["subject"] in (
            "status",
            "priority",
            "type",
            "group_id",
            "brand_id",
            "assignee_id",
            "requester_id",
        ) or (definition["subject"].startswith("custom_fields_")):
            values = candidates(definition)
            for after in values:
                for before in [None, *values]:
                    previous = None if before is None else with_value(definition["subject"], before)
                    ticket = with_value(definition["subject"], after)
                    changes.append(TicketChange("Change", ticket, agent, public, None, previous=previous, via_id=5))
    changes.append(TicketChange("Change", with_value("assignee_id", other_agent["id"]), agent, None, None, base))

    def tried_values(definition: dict[str, Any], operator: dict[str, Any]) -> list[object]:
        if operator["terminal"]:
            return [None]
        if definition["type"] == "autocomplete":
            return [customer["id"], CURRENT_USER]
        if "values" not in definition:
            return ["escalate", "absent"]
        return [v["value"] for v in definition["values"]]

    never_hold: list[str] = []
    for definition in definitions:
        for operator in definition["operators"]:
            held = set()
            for value in tried_values(definition, operator):
                condition = {"field": definition["subject"], "operator": operator["value"], "value": value}
                trigger = account.create_business_rule(
                    "trigger",
                    {
                        "title": "t",
                        "conditions": {"all": [condition], "any": []},
                        "actions": [{"field": "notification_webhook", "value": [webhook["id"], "{}"]}],
                    },
                )
                if any(conditions_match(trigger["conditions"], change) for change in changes):
                    held.add(value)
            if not held:
                never_hold.append(f"{definition['subject']} {operator['value']}")
            if operator["value"] == "is" and "values" in definition:
                never_hold += [
                    f"{definition['subject']} is {v}" for v in tried_values(definition, operator) if v not in held
                ]

    assert never_hold == []


def test_priority_ranks_and_the_current_user_as_assignee_fire_triggers(sandbox: Sandbox, receiver: Receiver) -> None:
    webhook = sandbox.zenpy.webhooks.create(escalation_webhook(receiver.url))
    for title, condition in (
        ("below high", {"field": "priority", "operator": "less_than", "value": "high"}),
        ("above normal", {"field": "priority", "operator": "greater_than", "value": "normal"}),
        ("mine", {"field": "assignee_id", "operator": "is", "value": "current_user"}),
    ):
        sandbox.api(
            "POST",
            "/api/v2/triggers.json",
            json={
                "trigger": {
                    "title": title,
                    "conditions": {"all": [condition], "any": []},
                    "actions": [{"field": "notification_webhook", "value": [webhook.id, title]}],
                }
            },
        ).raise_for_status()

    sandbox.zenpy.tickets.update(Ticket(id=1, priority="low"))  # assigned to Priya, changed by the admin
    sandbox.zenpy.tickets.update(Ticket(id=2, priority="urgent"))
    as_user(sandbox, PRIYA, "PUT", "/api/v2/tickets/3.json", json={"ticket": {"priority": "normal"}})
    sandbox.account.wait_for_deliveries()

    assert sorted(body.decode() for _, body in receiver.received) == [
        "above normal",
        "below high",
        "below high",
        "mine",
    ]


def view_with(columns: list[str]) -> dict[str, Any]:
    return {
        "view": {
            "title": "Escalated",
            "all": [{"field": "status", "operator": "less_than", "value": "solved"}],
            "output": {"columns": columns, "sort_by": "updated", "sort_order": "desc"},
        }
    }


def test_a_view_shows_the_documented_columns_with_description_as_the_subject(sandbox: Sandbox) -> None:
    created = sandbox.api("POST", "/api/v2/views.json", json=view_with(["status", "description", "requester"]))

    assert created.status_code == 200  # Create View answers 200, Create Trigger 201
    assert created.json()["view"]["execution"]["columns"] == ["status", "description", "requester"]


@pytest.mark.parametrize(
    "columns", [["status", "subject"], ["status", "mood"], ["status", "nice_id", *["created"] * 9]]
)
def test_a_view_with_an_unknown_column_or_more_than_ten_is_record_invalid(sandbox: Sandbox, columns: list[str]) -> None:
    answer = sandbox.api("POST", "/api/v2/views.json", json=view_with(columns))

    assert answer.status_code == 422 and answer.json()["error"] == "RecordInvalid"


# -- search and search export ------------------------------------------------------------------


def many_tickets(sandbox: Sandbox, count: int, tag: str = "bulk") -> None:
    customer = sandbox.customer_of(1)
    for n in range(count):
        sandbox.account.create_ticket(requester_id=customer, subject=f"Bulk {n}", description="bulk")
    for ticket in sandbox.account.tickets():
        if ticket["subject"].startswith("Bulk"):
            sandbox.account.api_update_ticket(ticket["id"], {"tags": [tag]})


def test_search_pages_hold_100_results_count_them_all_and_stop_at_the_1000th(sandbox: Sandbox) -> None:
    many_tickets(sandbox, 1005)
    query = {"query": "type:ticket tags:bulk"}

    first = sandbox.api("GET", "/api/v2/search.json", params={**query, "per_page": 500}).json()
    tenth = sandbox.api("GET", "/api/v2/search.json", params={**query, "page": 10}).json()
    past = sandbox.api("GET", "/api/v2/search.json", params={**query, "page": 11})

    assert len(first["results"]) == 100 and first["count"] == 1005 and "page=2" in first["next_page"]
    assert len(tenth["results"]) == 100 and "page=11" in tenth["next_page"]
    assert past.status_code == 422 and past.json()["error"] == "invalid"


def test_search_finds_tickets_by_creation_and_update_time(sandbox: Sandbox) -> None:
    now = [datetime(2026, 11, 20, 9, 0, tzinfo=UTC)]
    account = SandboxZendesk(seed=False, clock=lambda: now[0])
    requester = account.create_user({"name": "Ann", "email": "ann@example.com"})["id"]
    older = account.create_ticket(requester_id=requester, subject="Older", description="x")
    now[0] = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    newer = account.create_ticket(requester_id=requester, subject="Newer", description="x")

    def found(query: str) -> list[int]:
        return [t["id"] for t in account.search_tickets(query)]

    assert found("created>2026-11-20") == [newer["id"]]
    assert found("created<2026-11-21 type:ticket") == [older["id"]]
    assert found("updated>2026-11-27T08:59:59Z") == [newer["id"]]
    assert found("updated<2026-11-20T09:00:01Z") == [older["id"]]


def test_search_reads_a_date_as_a_day_in_the_accounts_time_zone() -> None:
    now = [datetime(2026, 11, 26, 23, 30, tzinfo=UTC)]  # already 27 November in Berlin
    account = SandboxZendesk(seed=False, clock=lambda: now[0], time_zone="Europe/Berlin")
    requester = account.create_user({"name": "Ann", "email": "ann@example.com"})["id"]
    late = account.create_ticket(requester_id=requester, subject="Late", description="x")

    def found(query: str) -> list[int]:
        return [t["id"] for t in account.search_tickets(query)]

    assert found("updated>2026-11-26") == [late["id"]]
    assert found("updated<2026-11-27") == []
    assert found("created>2026-11-27") == []
    assert found("updated>2026-11-26T23:30:00Z") == []  # a time is UTC, as written


def test_search_refuses_terms_it_does_not_honour(sandbox: Sandbox) -> None:
    for query in ("printer", "assignee:me", "created>yesterday"):
        answer = sandbox.api("GET", "/api/v2/search.json", params={"query": query})
        assert answer.status_code == 400, query


def test_search_export_pages_by_cursor_in_creation_order(sandbox: Sandbox) -> None:
    many_tickets(sandbox, 250)
    params = {"query": "tags:bulk", "filter[type]": "ticket", "page[size]": 200}

    first = sandbox.api("GET", "/api/v2/search/export.json", params=params).json()
    second = requests.get(first["links"]["next"], auth=sandbox.zenpy_auth, timeout=5).json()

    assert len(first["results"]) == 200 and first["meta"]["has_more"] is True
    assert first["links"]["prev"] is None and "count" not in first
    assert len(second["results"]) == 50 and second["meta"]["has_more"] is False and second["links"]["next"] is None
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert ids == sorted(ids) and {r["result_type"] for r in first["results"]} == {"ticket"}


def test_search_export_needs_a_type_filter_and_no_type_term(sandbox: Sandbox) -> None:
    no_filter = sandbox.api("GET", "/api/v2/search/export.json", params={"query": "tags:x"})
    type_term = sandbox.api(
        "GET", "/api/v2/search/export.json", params={"query": "type:ticket tags:x", "filter[type]": "ticket"}
    )
    unknown_type = sandbox.api("GET", "/api/v2/search/export.json", params={"query": "tags:x", "filter[type]": "macro"})

    assert (no_filter.status_code, type_term.status_code, unknown_type.status_code) == (400, 400, 400)


def test_search_export_finds_users_by_email_pattern_and_tag(sandbox: Sandbox) -> None:
    sandbox.api(
        "POST", "/api/v2/users.json", json={"user": {"name": "Vip", "email": "vip@acme.test", "tags": ["vip", "vip"]}}
    )

    def emails(query: str) -> list[str]:
        params = {"query": query, "filter[type]": "user"}
        return [u["email"] for u in sandbox.api("GET", "/api/v2/search/export.json", params=params).json()["results"]]

    assert emails("email:*@example.com") == [
        "alice.moreau@example.com",
        "bob.lindqvist@example.com",
        "carmen.ortiz@example.com",
        "deepak.rao@example.com",
    ]
    assert emails("tags:vip") == emails("email:VIP@acme.test") == ["vip@acme.test"]


# -- endpoint budgets -----------------------------------------------------------------------------


def test_incremental_exports_have_their_own_budget_of_10_a_minute(sandbox: Sandbox) -> None:
    url = "/api/v2/incremental/ticket_events.json"
    answers = [sandbox.api("GET", url, params={"start_time": "0"}) for _ in range(11)]
    other = sandbox.api("GET", "/api/v2/tickets/1.json")

    assert [a.status_code for a in answers] == [200] * 10 + [429]
    assert 1 <= int(answers[10].headers["Retry-After"]) <= 60
    assert other.status_code == 200


def test_the_export_budgets_are_described_in_no_header_as_zendesk_documents_none(sandbox: Sandbox) -> None:
    search = {"query": "status:open", "filter[type]": "ticket"}
    exports = [
        sandbox.api("GET", "/api/v2/incremental/ticket_events.json", params={"start_time": "0"}),
        sandbox.api("GET", "/api/v2/search/export.json", params=search),
    ]

    assert [a.status_code for a in exports] == [200, 200]
    assert [name for a in exports for name in a.headers if name.lower().startswith("zendesk-ratelimit-")] == []
    assert sandbox.account.settings()["endpoint_budget_headers"] is False


def test_a_test_may_ask_for_the_export_budgets_in_their_own_headers(sandbox: Sandbox) -> None:
    settings = requests.post(
        f"{sandbox.server.url}/__sandbox__/settings", json={"endpoint_budget_headers": True}, timeout=5
    ).json()
    search = {"query": "status:open", "filter[type]": "ticket"}

    export = sandbox.api("GET", "/api/v2/incremental/ticket_events.json", params={"start_time": "0"})
    search_export = sandbox.api("GET", "/api/v2/search/export.json", params=search)
    other = sandbox.api("GET", "/api/v2/tickets/1.json")
    refused = requests.post(
        f"{sandbox.server.url}/__sandbox__/settings", json={"endpoint_budget_headers": "yes"}, timeout=5
    )

    assert settings["endpoint_budget_headers"] is True
    assert export.headers["zendesk-ratelimit-incremental-exports"].startswith("total=10; remaining=9; resets=")
    assert search_export.headers["zendesk-ratelimit-search-export"].startswith("total=100; remaining=99; resets=")
    assert not [name for name in other.headers if name.lower().startswith("zendesk-ratelimit-")]
    assert refused.status_code == 400 and sandbox.account.settings()["endpoint_budget_headers"] is True


def test_endpoint_budgets_count_toward_the_account_and_can_be_changed(sandbox: Sandbox) -> None:
    settings = requests.post(
        f"{sandbox.server.url}/__sandbox__/settings",
        json={
            "incremental_exports_per_minute": 30,
            "search_exports_per_minute": None,
            "requests_per_minute": 3,
            "endpoint_budget_headers": True,
        },
        timeout=5,
    ).json()
    url = "/api/v2/incremental/ticket_events.json"

    exports = [sandbox.api("GET", url, params={"start_time": "0"}) for _ in range(3)]
    refused = sandbox.api("GET", "/api/v2/tickets/1.json")

    assert settings["incremental_exports_per_minute"] == 30 and settings["search_exports_per_minute"] is None
    assert [a.status_code for a in exports] == [200, 200, 200] and refused.status_code == 429
    assert exports[2].headers["X-Rate-Limit-Remaining"] == "0"
    assert exports[2].headers["zendesk-ratelimit-incremental-exports"].startswith("total=30; remaining=27")


def test_search_export_has_its_own_budget_of_100_a_minute(sandbox: Sandbox) -> None:
    sandbox.account.set_rate_limit(search_exports_per_minute=2)
    params = {"query": "status:open", "filter[type]": "ticket"}

    answers = [sandbox.api("GET", "/api/v2/search/export.json", params=params) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert sandbox.account.settings()["incremental_exports_per_minute"] == 10


# -- ticket events, deletion -----------------------------------------------------------------------


def test_the_next_page_of_ticket_events_carries_only_the_start_time(sandbox: Sandbox) -> None:
    answer = sandbox.api(
        "GET", "/api/v2/incremental/ticket_events.json", params={"start_time": "0", "include": "comment_events"}
    ).json()

    assert answer["next_page"].endswith(f"/api/v2/incremental/ticket_events.json?start_time={answer['end_time']}")
    assert answer["end_of_stream"] is True


def test_a_deleted_ticket_is_gone_from_show_list_and_search(sandbox: Sandbox) -> None:
    deleted = sandbox.api("DELETE", "/api/v2/tickets/2.json")

    assert deleted.status_code == 204
    assert sandbox.api("GET", "/api/v2/tickets/2.json").status_code == 404
    assert 2 not in [t["id"] for t in sandbox.api("GET", "/api/v2/tickets.json").json()["tickets"]]
    results = sandbox.api("GET", "/api/v2/search.json", params={"query": "status:open"}).json()["results"]
    assert 2 not in [r["id"] for r in results]


# -- authentication, roles and the Requests API ---------------------------------------------------


def as_user(sandbox: Sandbox, email: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A request with the account's API token acting as the user with `email`."""
    auth = (f"{email}/token", sandbox.account.api_token)
    return requests.request(method, f"{sandbox.server.url}{path}", auth=auth, timeout=5, **kwargs)


ALICE = "alice.moreau@example.com"  # requester of tickets 1 and 5
DEEPAK = "deepak.rao@example.com"  # requester of ticket 4, copied on ticket 3
PRIYA = "priya@sandbox.test"  # an agent


def test_the_api_token_acts_as_any_active_verified_user_of_the_account(sandbox: Sandbox) -> None:
    me = as_user(sandbox, ALICE, "GET", "/api/v2/users/me.json").json()["user"]
    sandbox.api("POST", "/api/v2/users.json", json={"user": {"name": "New", "email": "new@example.com"}})
    unverified = as_user(sandbox, "new@example.com", "GET", "/api/v2/users/me.json")
    stranger = as_user(sandbox, "nobody@example.com", "GET", "/api/v2/users/me.json")

    assert me["email"] == ALICE and me["role"] == "end-user"
    assert unverified.status_code == 403 and "verified" in unverified.json()["description"]
    assert stranger.status_code == 401


def test_end_users_get_403_outside_the_requests_api(sandbox: Sandbox) -> None:
    for method, path in (
        ("GET", "/api/v2/tickets/1.json"),
        ("PUT", "/api/v2/tickets/1.json"),
        ("GET", "/api/v2/users.json"),
    ):
        answer = as_user(sandbox, ALICE, method, path, json={"ticket": {"tags": ["x"]}})
        assert answer.status_code == 403, path
        assert answer.json()["error"] == "Forbidden"


def test_end_users_list_only_the_ticket_fields_visible_in_the_portal(sandbox: Sandbox) -> None:
    shown = sandbox.zenpy.ticket_fields.create(TicketField(type="text", title="Shown", visible_in_portal=True))
    hidden = sandbox.zenpy.ticket_fields.create(TicketField(type="text", title="Hidden"))

    as_customer = as_user(sandbox, ALICE, "GET", "/api/v2/ticket_fields.json").json()["ticket_fields"]
    as_agent = as_user(sandbox, PRIYA, "GET", "/api/v2/ticket_fields.json").json()["ticket_fields"]

    assert all(field["visible_in_portal"] for field in as_customer)
    assert shown.id in {f["id"] for f in as_customer} and hidden.id not in {f["id"] for f in as_customer}
    assert {shown.id, hidden.id} <= {f["id"] for f in as_agent} and len(as_agent) > len(as_customer)


def test_agents_use_the_agent_apis_but_not_the_admin_only_ones(sandbox: Sandbox) -> None:
    ticket = as_user(sandbox, PRIYA, "GET", "/api/v2/tickets/1.json")
    field = as_user(
        sandbox, PRIYA, "POST", "/api/v2/ticket_fields.json", json={"ticket_field": {"type": "text", "title": "X"}}
    )
    webhooks = as_user(sandbox, PRIYA, "GET", "/api/v2/webhooks")
    export = as_user(sandbox, PRIYA, "GET", "/api/v2/incremental/ticket_events.json", params={"start_time": "0"})

    assert ticket.status_code == 200
    assert (field.status_code, webhooks.status_code, export.status_code) == (403, 403, 403)


def test_an_agents_update_is_made_as_that_agent(sandbox: Sandbox) -> None:
    answer = as_user(sandbox, PRIYA, "PUT", "/api/v2/tickets/1.json", json={"ticket": {"comment": {"body": "On it"}}})

    comment = sandbox.account.comments(1)[-1]
    assert answer.status_code == 200 and comment["author_id"] == sandbox.agent()


def test_an_end_user_reads_and_comments_on_their_own_and_copied_requests_only(sandbox: Sandbox) -> None:
    mine = as_user(sandbox, ALICE, "GET", "/api/v2/requests.json").json()["requests"]
    copied = as_user(sandbox, DEEPAK, "GET", "/api/v2/requests/3.json")
    other = as_user(sandbox, ALICE, "GET", "/api/v2/requests/2.json")
    other_comment = as_user(
        sandbox, ALICE, "PUT", "/api/v2/requests/2.json", json={"request": {"comment": {"body": "hi"}}}
    )

    assert [r["id"] for r in mine] == [1, 5]
    assert copied.status_code == 200 and copied.json()["request"]["subject"] == "CSV export times out"
    assert other.status_code == other_comment.status_code == 404
    assert sandbox.account.comments(2)[-1]["body"] != "hi"


def test_an_end_users_comment_reopens_the_request_and_runs_triggers_as_them(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    escalation_trigger(sandbox, receiver)
    sandbox.account.set_status(1, "solved")
    alice = sandbox.customer_of(1)

    answer = as_user(
        sandbox,
        ALICE,
        "PUT",
        "/api/v2/requests/1.json",
        json={"request": {"comment": {"body": f"{PHRASE}: still broken"}}},
    )
    sandbox.account.wait_for_deliveries()

    assert answer.status_code == 200 and answer.json()["request"]["status"] == "open"
    comment = sandbox.account.comments(1)[-1]
    assert comment["author_id"] == alice and comment["public"] is True and comment["via"]["channel"] == "api"
    [(_, body)] = receiver.received
    assert json.loads(body)["current_user_id"] == str(alice)


def test_a_closed_request_takes_no_comment_and_private_notes_stay_private(sandbox: Sandbox) -> None:
    sandbox.account.add_comment(4, author_id=sandbox.agent(), body="internal", public=False)
    sandbox.account.set_status(4, "closed")

    comments = as_user(sandbox, DEEPAK, "GET", "/api/v2/requests/4/comments.json").json()["comments"]
    refused = as_user(
        sandbox, DEEPAK, "PUT", "/api/v2/requests/4.json", json={"request": {"comment": {"body": "again"}}}
    )

    assert [c["body"] for c in comments] == [sandbox.account.ticket(4)["description"]]
    assert refused.status_code == 422


def test_an_end_user_opens_a_request(sandbox: Sandbox) -> None:
    created = as_user(
        sandbox,
        ALICE,
        "POST",
        "/api/v2/requests.json",
        json={"request": {"subject": "Help", "comment": {"body": "Broken"}}},
    )

    request = created.json()["request"]
    assert created.status_code == 201 and request["requester_id"] == sandbox.customer_of(1)
    assert sandbox.account.ticket(request["id"])["description"] == "Broken"


# -- users, tickets, sideloads, webhook invocations ------------------------------------------------


def test_users_are_created_with_tags_and_verification_found_by_email_and_soft_deleted(sandbox: Sandbox) -> None:
    created = sandbox.api(
        "POST",
        "/api/v2/users.json",
        json={"user": {"name": "Eve", "email": "eve@example.org", "verified": True, "tags": ["VIP"]}},
    ).json()["user"]
    found = sandbox.api("GET", "/api/v2/users/search.json", params={"query": "email:*@example.org"}).json()["users"]
    deleted = sandbox.api("DELETE", f"/api/v2/users/{created['id']}.json")

    assert created["verified"] is True and created["tags"] == ["vip"]
    assert [u["id"] for u in found] == [created["id"]]
    assert deleted.status_code == 200 and deleted.json()["user"]["active"] is False
    assert sandbox.api("GET", "/api/v2/users/search.json", params={"query": "eve@example.org"}).json()["users"] == []
    assert as_user(sandbox, "eve@example.org", "GET", "/api/v2/users/me.json").status_code == 401


def test_a_ticket_is_created_for_a_requester_with_tags_and_a_description(sandbox: Sandbox) -> None:
    customer = sandbox.customer_of(2)
    answer = sandbox.api(
        "POST",
        "/api/v2/tickets.json",
        json={
            "ticket": {
                "subject": "Refund",
                "requester_id": customer,
                "tags": ["billing"],
                "comment": {"body": "Please"},
            }
        },
    )

    ticket = answer.json()["ticket"]
    assert answer.status_code == 201
    assert (ticket["requester_id"], ticket["tags"], ticket["description"]) == (customer, ["billing"], "Please")


def test_a_ticket_sideloads_its_people_and_its_group(sandbox: Sandbox) -> None:
    answer = sandbox.api("GET", "/api/v2/tickets/1.json", params={"include": "users,groups"}).json()

    assert [g["name"] for g in answer["groups"]] == ["Support"]
    assert {sandbox.customer_of(1), sandbox.agent()} <= {u["id"] for u in answer["users"]}


def test_webhook_invocations_show_each_deliverys_latest_attempt(sandbox: Sandbox, receiver: Receiver) -> None:
    webhook_id = escalation_trigger(sandbox, receiver)
    receiver.answers = [409, 200]

    sandbox.account.add_comment(1, author_id=sandbox.customer_of(1), body=f"{PHRASE}: exports fail")
    sandbox.account.wait_for_deliveries()

    [invocation] = sandbox.api("GET", f"/api/v2/webhooks/{webhook_id}/invocations").json()["invocations"]
    attempts = sandbox.api("GET", f"/api/v2/webhooks/{webhook_id}/invocations/{invocation['id']}/attempts").json()
    assert invocation["status"] == "success" and invocation["webhook_id"] == webhook_id
    assert invocation["latest_completed_at"] == attempts["attempts"][-1]["created_at"]
    assert [(a["status"], a["response_code"]) for a in attempts["attempts"]] == [
        ("client error", 409),
        ("success", 200),
    ]


def test_an_unreachable_receiver_shows_as_a_failed_attempt_without_a_response_code(sandbox: Sandbox) -> None:
    webhook = sandbox.zenpy.webhooks.create(escalation_webhook("http://127.0.0.1:9/unreachable"))
    sandbox.api(
        "POST",
        "/api/v2/triggers.json",
        json={
            "trigger": {
                "title": "any change",
                "conditions": {"all": [{"field": "update_type", "operator": "is", "value": "Change"}], "any": []},
                "actions": [{"field": "notification_webhook", "value": [webhook.id, "{}"]}],
            }
        },
    ).raise_for_status()

    sandbox.zenpy.tickets.update(Ticket(id=1, tags=["ping"]))
    sandbox.account.wait_for_deliveries()

    [invocation] = sandbox.api("GET", f"/api/v2/webhooks/{webhook.id}/invocations").json()["invocations"]
    attempts = sandbox.api("GET", f"/api/v2/webhooks/{webhook.id}/invocations/{invocation['id']}/attempts").json()
    assert invocation["status"] == "failed" and invocation["latest_completed_at"]
    assert [(a["status"], a["response_code"]) for a in attempts["attempts"]] == [("failed", None)]
