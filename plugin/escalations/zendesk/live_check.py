"""`escalations doctor --live`: the whole loop, run once on the real account, cleaned up afterwards.

What the sandbox cannot prove about an account, this proves on it:

1. the account's trigger definitions offer every condition, operator, value
   and action the service's triggers use;
2. a temporary end-user (an address on the reserved `.invalid` domain, so no
   email is delivered) and a ticket for them, tagged `escalations_live_check`;
3. that end-user comments the phrase and a reason through the Requests API,
   on the end-user's behalf: with the admin's API token naming the end-user
   (Zendesk: "API tokens can be used to impersonate anyone in the account"),
   or with an OAuth token and `X-On-Behalf-Of` (which needs the token's
   `impersonate` scope), so the trigger sees a customer;
4. Zendesk's trigger calls the webhook, the service escalates and confirms:
   the fields, tags, group, the managers' note and the reply are checked.
   The outcome on the ticket is what counts: Zendesk's webhook activity only
   explains a failure, and an invocation whose shape it cannot read is
   reported as unknown, with the raw record, never as a failure;
5. the customer reads the request through the Requests API and sees the
   escalation fields meant for customers and none of the others;
6. a second attempt is refused;
7. the ticket and the user are deleted, with the leftovers of earlier runs:
   only tickets whose requester is one of the check's own `.invalid` users.

Each step prints its result and time; a failure says what to fix.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import requests

from escalations.config import Settings
from escalations.core import fields
from escalations.core.tickets import parse_iso
from escalations.zendesk.desired import desired_follow_up_triggers, desired_trigger
from escalations.zendesk.gateway import NotFound, ZendeskError, ZendeskGateway, make_client, search_export
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
from escalations.zendesk.state import AccountState

LIVE_CHECK_TAG = "escalations_live_check"
LIVE_CHECK_DOMAIN = "escalations-live-check.invalid"  # .invalid never resolves: nothing is delivered


class CheckFailed(Exception):
    """A step failed; the message says what to fix."""


@dataclass
class LiveCheck:
    settings: Settings
    state: AccountState
    out: TextIO
    wait_seconds: float = 120.0
    poll_seconds: float = 2.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    failures: int = 0
    created: dict[str, list[int]] = field(default_factory=lambda: {"tickets": [], "users": []})

    @property
    def record_file(self) -> Path:
        """What this check created, kept until it is deleted, so a killed run is cleaned up by the next."""
        return self.settings.data_dir / "live-check.json"

    def run(self) -> int:
        admin = ZendeskGateway(self.settings, self.state.field_ids, make_client(self.settings, ratelimit_budget=60))
        public_url = self.settings.public_url or ""
        if not public_url_answers(public_url):
            self.out.write(
                f"warn  the service does not answer at {public_url}/healthz from this machine; "
                "Zendesk must reach it there (is 'escalations serve' running behind your TLS proxy?)\n"
            )
        try:
            if self.settings.uses_oauth:
                self._step("the OAuth token may act for the temporary customer", lambda: self._impersonation(admin))
            self._step("the account offers every trigger condition and action used", lambda: self._definitions(admin))
            self._step("leftovers of earlier runs removed", lambda: self._remove_leftovers(admin))
            customer, ticket = self._step("temporary customer and ticket created", lambda: self._prepare(admin))
            ticket_id, brand_id = int(ticket["id"]), ticket.get("brand_id")
            as_customer = self._gateway_for(customer["email"])
            group = self.state.brand_group_ids.get(brand_id, self.state.manager_group_id)  # the brand's managers
            expected = Expectation(int(customer["id"]), group, self.state.service_user_id)
            self._step(
                "the customer asked for an escalation (Requests API, as the customer)",
                lambda: self._comment(as_customer, ticket_id, self._phrase() + ": " + REASON),
            )
            self._step(
                "trigger → webhook → service: escalated, handed to the managers and confirmed",
                lambda: self._await_escalation(admin, ticket_id, expected),
            )
            self._step(
                "the customer sees only the escalation fields meant for customers (Requests API, as the customer)",
                lambda: self._customer_view(as_customer, ticket_id),
            )
            self._step(
                "a second attempt was refused politely",
                lambda: self._await_refusal(admin, as_customer, ticket_id, expected),
            )
        except CheckFailed:
            pass
        finally:
            self._step("temporary customer and ticket deleted", lambda: self._clean_up(admin), after_failure=True)
        self.out.write("live check passed\n" if not self.failures else "live check FAILED\n")
        return 1 if self.failures else 0

    # -- the steps ---------------------------------------------------------------------

    def _impersonation(self, admin: ZendeskGateway) -> str:
        token = admin.get_json("/api/v2/oauth/tokens/current.json").get("token") or {}
        scopes = [str(scope) for scope in token.get("scopes") or []]
        if "impersonate" not in scopes:
            raise CheckFailed(
                f"the OAuth token has no 'impersonate' scope (it has {', '.join(scopes) or 'none'}), which the live "
                "check needs to comment as its temporary customer: create a token with read, write and "
                "impersonate (README, 'Sign in with an OAuth token'), or run the check with an admin's API token"
            )
        return "scope impersonate"

    def _customer_view(self, as_customer: ZendeskGateway, ticket_id: int) -> str:
        request = as_customer.get_json(f"/api/v2/requests/{ticket_id}.json").get("request") or {}
        shown, problems = request_field_problems(request, self.state.field_ids)
        if problems:
            raise CheckFailed("; ".join(problems))
        return f"shown: {', '.join(shown)}" if shown else "no escalation field shows"

    def _definitions(self, admin: ZendeskGateway) -> str:
        definitions = admin.get_json("/api/v2/triggers/definitions.json").get("definitions") or {}
        ours = [
            desired_trigger(
                self.state.webhook_id,
                self.settings.phrases.all,
                self.settings.exclude_tags,
                self.state.excluded_brand_ids,
            )
        ]
        ours += desired_follow_up_triggers(self.state.webhook_id)
        gaps = definition_gaps(ours, definitions)
        if gaps:
            raise CheckFailed("; ".join(gaps) + ": Zendesk would refuse these triggers; report this with the output")
        return f"{len(ours)} triggers"

    def _remove_leftovers(self, admin: ZendeskGateway) -> str:
        """Delete what earlier runs left: tickets recorded or tagged by the check whose requester is one of its
        own `.invalid` users, and those users. A tagged ticket of anyone else is left alone, and said so."""
        recorded = self._recorded()
        requesters: dict[int, int | None] = {ticket_id: None for ticket_id in recorded["tickets"]}
        for page in search_export(admin, f"tags:{LIVE_CHECK_TAG}"):
            for ticket in page:
                requesters[int(ticket["id"])] = int(ticket["requester_id"])
        for ticket_id in [t for t, requester in requesters.items() if requester is None]:
            try:
                requesters[ticket_id] = int(
                    admin.get_json(f"/api/v2/tickets/{ticket_id}.json")["ticket"]["requester_id"]
                )
            except NotFound:
                del requesters[ticket_id]  # already gone
        own_users = self._own_users(admin, {*recorded["users"], *(r for r in requesters.values() if r is not None)})
        tickets = sorted(t for t, requester in requesters.items() if requester in own_users)
        users = sorted(own_users)
        self.created = {"tickets": tickets, "users": users}
        left = self._delete_created(admin)
        if left:
            raise CheckFailed(left)
        others = sorted(set(requesters) - set(tickets))
        found = f"{len(tickets)} tickets, {len(users)} users" if tickets or users else "none found"
        if others:
            found += f"; left alone, as their requester is not the check's own: tickets {others}"
        return found

    def _own_users(self, admin: ZendeskGateway, user_ids: set[int]) -> set[int]:
        """Which of these users are the check's own: an address on its `.invalid` domain."""
        own: set[int] = set()
        ordered = sorted(user_ids)
        for start in range(0, len(ordered), 100):
            chunk = ",".join(str(user_id) for user_id in ordered[start : start + 100])
            for user in admin.get_json("/api/v2/users/show_many.json", {"ids": chunk}).get("users") or []:
                if str(user.get("email") or "").lower().endswith("@" + LIVE_CHECK_DOMAIN) and user.get("active", True):
                    own.add(int(user["id"]))
        return own

    def _prepare(self, admin: ZendeskGateway) -> tuple[dict[str, Any], dict[str, Any]]:
        email = f"live-check-{secrets.token_hex(4)}@{LIVE_CHECK_DOMAIN}"
        customer = admin.request_json(
            "POST",
            "/api/v2/users.json",
            payload={
                "user": {
                    "name": "Escalation live check (temporary)",
                    "email": email,
                    "verified": True,  # the API serves verified users only
                    "skip_verify_email": True,
                }
            },
        )["user"]
        self._remember("users", int(customer["id"]))
        ticket = admin.request_json(
            "POST",
            "/api/v2/tickets.json",
            payload={
                "ticket": {
                    "subject": "Escalation live check (temporary, deleted automatically)",
                    "comment": {"body": "Created by 'escalations doctor --live' to test the escalation service."},
                    "requester_id": customer["id"],
                    # Assigned, as a case with an engineer is: the escalation must unassign it.
                    "assignee_id": self.state.service_user_id,
                    "tags": [LIVE_CHECK_TAG],
                }
            },
        )["ticket"]
        self._remember("tickets", int(ticket["id"]))
        return customer, ticket

    def _comment(self, as_customer: ZendeskGateway, ticket_id: int, body: str) -> str:
        as_customer.request_json(
            "PUT", f"/api/v2/requests/{ticket_id}.json", payload={"request": {"comment": {"body": body}}}
        )
        return f"ticket {ticket_id}"

    def _await_escalation(self, admin: ZendeskGateway, ticket_id: int, expected: Expectation) -> str:
        """Wait for the outcome on the ticket; stop early only when Zendesk's activity clearly shows a delivery
        it will not retry (read in either spelling; a record it cannot read never stops the wait)."""
        started = time.time()

        def refused_for_good() -> bool:
            latest = self._invocations(admin, started, most=1)
            return bool(latest) and latest[-1].refused_for_good

        begun = self.clock()
        problems = self._poll(
            lambda: escalation_problems(*self._read(admin, ticket_id), self.state.field_ids, expected),
            give_up=refused_for_good,
        )
        waited = self.clock() - begun
        if not problems:
            return f"ticket {ticket_id}"
        ticket, comments = self._read(admin, ticket_id)
        recorded = fields.recorded_values(ticket.get("custom_fields") or [], self.state.field_ids)
        replies = [c for c in comments[1:] if c.get("author_id") == expected.service_user_id]  # not the description
        if recorded.get(fields.STATUS) or replies:
            raise CheckFailed("the service escalated the ticket only in part: " + "; ".join(problems))
        outcome = (
            f"not escalated within {self.wait_seconds:.0f} s"
            if waited >= self.wait_seconds
            else "not escalated, and Zendesk does not retry such a delivery"
        )
        raise CheckFailed(
            f"{outcome}: "
            + delivery_diagnosis(self._invocations(admin, started), self.settings.public_url or "PUBLIC_URL")
        )

    def _await_refusal(
        self, admin: ZendeskGateway, as_customer: ZendeskGateway, ticket_id: int, expected: Expectation
    ) -> str:
        replies_before = len(self._ours_public(admin, ticket_id))
        self._comment(as_customer, ticket_id, self._phrase() + " again: the live check's second attempt")

        def refused() -> list[str]:
            ticket, comments = self._read(admin, ticket_id)
            recorded = fields.recorded_values(ticket.get("custom_fields") or [], self.state.field_ids)
            problems = []
            if str(recorded.get(fields.REFUSED_REPEATS) or "0") != "1":
                problems.append(f"refused repeats is {recorded.get(fields.REFUSED_REPEATS)!r}, not 1")
            if fields.TAG_BLOCKED not in (ticket.get("tags") or []):
                problems.append(f"no tag {fields.TAG_BLOCKED}")
            replies = [c for c in comments if c.get("author_id") == expected.service_user_id and c.get("public")]
            if len(replies) != replies_before + 1:
                problems.append(f"{len(replies) - replies_before} replies to the second attempt, not 1")
            return problems

        problems = self._poll(refused)
        if problems:
            raise CheckFailed("; ".join(problems))
        return f"ticket {ticket_id}"

    def _clean_up(self, admin: ZendeskGateway) -> str:
        left = self._delete_created(admin)
        if left:
            raise CheckFailed(left)
        return "nothing left behind"

    # -- helpers ---------------------------------------------------------------------------

    def _step(self, title: str, action: Callable[[], Any], after_failure: bool = False) -> Any:
        started = self.clock()
        try:
            result = action()
        except (CheckFailed, ZendeskError) as failure:
            self.failures += 1
            self.out.write(f"FAIL  {title} ({self.clock() - started:.1f} s): {failure}\n")
            self.out.flush()
            if after_failure:
                return None
            raise CheckFailed(str(failure)) from None
        detail = result if isinstance(result, str) else ""
        self.out.write(f"ok    {title} ({self.clock() - started:.1f} s){': ' + detail if detail else ''}\n")
        self.out.flush()
        return result

    def _poll(self, problems: Callable[[], list[str]], give_up: Callable[[], bool] = lambda: False) -> list[str]:
        """Ask until there are no problems, the wait is over or `give_up` says so; the last problems."""
        deadline = self.clock() + self.wait_seconds
        found = problems()
        while found and self.clock() < deadline and not give_up():
            self.sleep(self.poll_seconds)
            found = problems()
        return found

    def _read(self, admin: ZendeskGateway, ticket_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        ticket = admin.get_json(f"/api/v2/tickets/{ticket_id}.json")["ticket"]
        comments = admin.get_json(f"/api/v2/tickets/{ticket_id}/comments.json").get("comments") or []
        return ticket, comments

    def _ours_public(self, admin: ZendeskGateway, ticket_id: int) -> list[dict[str, Any]]:
        _, comments = self._read(admin, ticket_id)
        return [c for c in comments if c.get("author_id") == self.state.service_user_id and c.get("public")]

    def _invocations(self, admin: ZendeskGateway, since: float, most: int = 5) -> list[Delivery]:
        """The newest `most` webhook invocations since the check began, oldest first, as deliveries.

        The Webhooks API documents invocations and their attempts; an invocation
        that says nothing of its outcome inline has its attempts read, only for
        the invocations kept, so a poll costs at most `most` + 1 calls.
        """
        path = f"/api/v2/webhooks/{self.state.webhook_id}/invocations"
        recent = []
        for item in admin.get_json(path, {"page[size]": 100}).get("invocations") or []:
            delivery = read_invocation(item)
            if delivery.at and _epoch(delivery.at) >= since - 5:  # not from before the check
                recent.append(delivery)
        deliveries = []
        for delivery in sorted(recent, key=lambda found: found.at)[-most:]:
            if delivery.http_status is None and delivery.outcome != "in_flight":
                attempts = admin.get_json(f"{path}/{delivery.raw['id']}/attempts").get("attempts") or []
                if attempts and isinstance(attempts[-1], Mapping):
                    delivery = read_invocation(delivery.raw, attempts[-1])
            deliveries.append(delivery)
        return deliveries

    def _gateway_for(self, email: str) -> ZendeskGateway:
        """A gateway that acts as `email`: the admin's API token names any user of the account, an OAuth token
        with the `impersonate` scope acts for one in `X-On-Behalf-Of`."""
        client = make_client(self.settings, ratelimit_budget=60, on_behalf_of=email)
        return ZendeskGateway(self.settings, self.state.field_ids, client)

    def _phrase(self) -> str:
        return self.settings.phrases.all[0]

    def _recorded(self) -> dict[str, list[int]]:
        try:
            saved = json.loads(self.record_file.read_text())
            return {"tickets": [int(i) for i in saved["tickets"]], "users": [int(i) for i in saved["users"]]}
        except (OSError, ValueError, KeyError, TypeError):
            return {"tickets": [], "users": []}

    def _remember(self, kind: str, object_id: int) -> None:
        self.created[kind].append(object_id)
        self.record_file.parent.mkdir(parents=True, exist_ok=True)
        self.record_file.write_text(json.dumps(self.created))

    def _delete_created(self, admin: ZendeskGateway) -> str:
        """Delete what was created (tickets first); what could not be deleted, as a sentence, or ''."""
        left: dict[str, list[int]] = {"tickets": [], "users": []}
        for kind, path in (("tickets", "/api/v2/tickets/{}.json"), ("users", "/api/v2/users/{}.json")):
            for object_id in self.created[kind]:
                try:
                    admin.request_json("DELETE", path.format(object_id))
                except NotFound:
                    continue  # already gone
                except ZendeskError:
                    left[kind].append(object_id)
        self.created = left
        if left["tickets"] or left["users"]:
            self.record_file.write_text(json.dumps(left))
            return (
                f"could not delete tickets {left['tickets']} and users {left['users']}: delete them in Zendesk "
                f"(tickets tagged {LIVE_CHECK_TAG}, users @{LIVE_CHECK_DOMAIN}); the next run tries again"
            )
        self.record_file.unlink(missing_ok=True)
        return ""


def _epoch(text: str) -> float:
    try:
        return parse_iso(text).timestamp()
    except ValueError:
        return float("inf")  # a time in another form: count it as recent


def public_url_answers(public_url: str) -> bool:
    """Whether the service answers at PUBLIC_URL from this machine (Zendesk's view may differ)."""
    try:
        return requests.get(f"{public_url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False
