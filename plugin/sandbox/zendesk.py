"""A local, in-memory sandbox that behaves like a Zendesk Support account.

It is not Zendesk. It implements the parts of the Support API that the
escalations app uses (tickets, comments, users, groups, ticket fields,
webhooks, triggers, views, the ticket-events export), runs triggers after
every ticket change and delivers signed webhooks like Zendesk does, so the
app can be tested end to end, and tried by people without a Zendesk account.

:class:`SandboxZendesk` is the account: its state and behaviour, no HTTP.
:func:`create_sandbox_app` and :class:`SandboxServer` (in
``plugin.sandbox.server``, re-exported here) are its HTTP face.
"""

from __future__ import annotations

import base64
import copy
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from plugin.sandbox.delivery import CONTENT_TYPES, USER_AGENT, WebhookCall, deliver
from plugin.sandbox.errors import SandboxError, bad_request, invalid, not_found
from plugin.sandbox.rules import (
    STATUS_ORDER,
    TicketChange,
    conditions_match,
    render_placeholders,
)
from plugin.sandbox.server import SandboxServer, create_sandbox_app
from plugin.sandbox.traffic import FaultPlan, FaultStatus, RateLimiter

__all__ = ["SandboxError", "SandboxServer", "SandboxZendesk", "create_sandbox_app"]

Record = dict[str, Any]
BusinessRuleKind = Literal["trigger", "view"]

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ACCOUNT_ID = 9000001
USER_ROLES = ("end-user", "agent", "admin")
PRIORITIES = ("urgent", "high", "normal", "low")
TICKET_TYPES = ("problem", "incident", "question", "task")
CUSTOM_FIELD_TYPES = ("text", "textarea", "integer", "decimal", "date", "checkbox", "tagger")
SYSTEM_FIELDS = (
    ("subject", "Subject"),
    ("description", "Description"),
    ("status", "Status"),
    ("tickettype", "Type"),
    ("priority", "Priority"),
    ("group", "Group"),
    ("assignee", "Assignee"),
)
WEBHOOK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WEBHOOK_STATUSES = ("active", "inactive")

# Read-only ticket keys, ignored silently as Zendesk does; any other key the sandbox does
# not implement is dropped with an x-zendesk-api-warn header.
_TICKET_READ_ONLY_KEYS = frozenset(
    {
        "id",
        "url",
        "created_at",
        "updated_at",
        "description",
        "via",
        "is_public",
        "raw_subject",
        "safe_update",
        "updated_stamp",
        "satisfaction_rating",
        "followup_ids",
        "forum_topic_id",
        "from_messaging_channel",
        "generated_timestamp",
        "has_incidents",
        "allow_attachments",
        "allow_channelback",
    }
)
_TRACKED_TICKET_FIELDS = (
    "subject",
    "status",
    "priority",
    "type",
    "requester_id",
    "assignee_id",
    "group_id",
    "tags",
    "email_cc_ids",
    "follower_ids",
)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_WEBHOOK_DEFAULTS: Record = {
    "name": None,
    "description": None,
    "status": None,
    "endpoint": None,
    "http_method": None,
    "request_format": None,
    "subscriptions": [],
}


@dataclass(frozen=True)
class _CommentInput:
    """A comment about to be added to a ticket."""

    author: Record
    body: str
    html_body: str
    public: bool


@dataclass(frozen=True)
class _Notification:
    """A webhook call a trigger decided to make, and the delivery record it fills in."""

    call: WebhookCall
    delivery: Record


class SandboxZendesk:
    """The sandbox account: users, tickets, rules and webhooks, safe to use from many threads.

    With ``seed=True`` it starts with an admin (the API user), two agents, the groups
    "Support" and "Support Managers", four customers and five open tickets. With
    ``seed=False`` only the API user and the system ticket fields exist.
    """

    def __init__(
        self,
        *,
        subdomain: str = "sandbox",
        email: str = "admin@sandbox.test",
        api_token: str = "sandbox-token",
        seed: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.subdomain = subdomain
        self.email = email
        self.api_token = api_token
        self.latency = 0.0
        self.webhook_delivery_enabled = True
        self.faults = FaultPlan()
        self.rate_limiter = RateLimiter()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._deliveries_settled = threading.Condition(self._lock)
        self._deliveries_in_flight = 0
        self._last_id = 10000
        self._last_ticket_id = 0
        self._users: dict[int, Record] = {}
        self._groups: dict[int, Record] = {}
        self._memberships: dict[int, Record] = {}
        self._tickets: dict[int, Record] = {}
        # Business-hours schedules (Schedules API): office hours Monday to Friday, 09:00-17:00 in Berlin,
        # with one holiday; intervals are minutes from Sunday 00:00, as Zendesk gives them.
        self._schedules: list[Record] = [
            {
                "id": 360000000001,
                "name": "Support office hours",
                "time_zone": "Berlin",
                "intervals": [
                    {"start_time": day * 1440 + 9 * 60, "end_time": day * 1440 + 17 * 60} for day in range(1, 6)
                ],
            }
        ]
        self._schedule_holidays: dict[int, list[Record]] = {
            360000000001: [{"id": 1, "name": "Christmas", "start_date": "2026-12-24", "end_date": "2026-12-26"}]
        }
        self._comments: dict[int, list[Record]] = {}
        self._ticket_fields: dict[int, Record] = {}
        self._webhooks: dict[str, Record] = {}
        self._signing_secrets: dict[str, str] = {}
        self._business_rules: dict[BusinessRuleKind, dict[int, Record]] = {"trigger": {}, "view": {}}
        self._ticket_events: list[Record] = []
        self._emails: list[Record] = []
        self._deliveries: list[Record] = []
        self._requests: list[Record] = []
        with self._lock:
            self.api_user_id = self._add_user(name="Sandbox Admin", email=email, role="admin")["id"]
            for position, (field_type, title) in enumerate(SYSTEM_FIELDS):
                self._add_system_field(field_type, title, position)
            if seed:
                self._seed()

    # -- the sandbox's own controls ------------------------------------------------

    def inject_fault(
        self,
        *,
        status: FaultStatus,
        count: int | None = None,
        seconds: float | None = None,
        method: str | None = None,
        path_regex: str | None = None,
        retry_after: int | None = 1,
        body_format: Literal["json", "html"] = "json",
    ) -> None:
        """Answer the next `count` matching API requests (or all for `seconds`) with `status`.

        `path_regex` is searched in the path as sent (e.g. ``/api/v2/tickets/3.json``).
        A 429 or 503 carries Retry-After when `retry_after` is not None; "hang" waits 30 s
        (or until the faults are cleared) and then answers 503, so a client timeout fires.
        """
        self.faults.add(
            status=status,
            count=count,
            seconds=seconds,
            method=method,
            path_regex=path_regex,
            retry_after=retry_after,
            body_format=body_format,
        )

    def clear_faults(self) -> None:
        """Remove injected faults and release hanging requests."""
        self.faults.clear()

    def set_rate_limit(self, *, requests_per_minute: int | None, updates_per_minute: int | None) -> None:
        """Limit API requests and ticket updates per sliding minute; None is unlimited."""
        self.rate_limiter.configure(requests_per_minute=requests_per_minute, updates_per_minute=updates_per_minute)

    def authenticates(self, username: str | None, password: str | None) -> bool:
        """True for the API user's `<email>/token` and API token."""
        expected_username = f"{self.email}/token"
        return (
            username is not None
            and password is not None
            and hmac.compare_digest(username.encode(), expected_username.encode())
            and hmac.compare_digest(password.encode(), self.api_token.encode())
        )

    def record_request(self, method: str, path: str, query: str, status: int) -> None:
        """Log an API request the HTTP face served."""
        with self._lock:
            self._requests.append(
                {"method": method, "path": path, "query": query, "status": status, "at": self._iso_now()}
            )

    def requests_log(self) -> list[Record]:
        """Every API request served: method, path (no query string), query, status, at."""
        with self._lock:
            return copy.deepcopy(self._requests)

    def reset_requests_log(self) -> None:
        """Forget the API requests served so far."""
        with self._lock:
            self._requests.clear()

    def emails(self) -> list[Record]:
        """The emails Zendesk would have sent for agents' public comments."""
        with self._lock:
            return copy.deepcopy(self._emails)

    def deliveries(self) -> list[Record]:
        """Webhook deliveries with every attempt; `final_status` is None while in flight."""
        with self._lock:
            return copy.deepcopy(self._deliveries)

    def wait_for_deliveries(self, timeout: float = 10) -> None:
        """Block until no webhook delivery is in flight; TimeoutError after `timeout` seconds."""
        with self._lock:
            if not self._deliveries_settled.wait_for(lambda: self._deliveries_in_flight == 0, timeout):
                raise TimeoutError(f"webhook deliveries still in flight after {timeout} s")

    def settings(self) -> Record:
        """The sandbox's adjustable behaviour."""
        return {
            "latency": self.latency,
            "requests_per_minute": self.rate_limiter.requests_per_minute,
            "updates_per_minute": self.rate_limiter.updates_per_minute,
            "webhook_delivery_enabled": self.webhook_delivery_enabled,
        }

    def state(self) -> Record:
        """Everything in the account, for the sandbox page and for tests in other processes."""
        with self._lock:
            tickets = [
                {**self._ticket_json(ticket), "comments": self._comments[ticket_id]}
                for ticket_id, ticket in sorted(self._tickets.items())
            ]
            return copy.deepcopy(
                {
                    "users": list(self._users.values()),
                    "groups": list(self._groups.values()),
                    "group_memberships": list(self._memberships.values()),
                    "tickets": tickets,
                    "ticket_fields": self._sorted_ticket_fields(),
                    "webhooks": [
                        {**webhook, "signing_secret": self._secret_json(webhook_id)}
                        for webhook_id, webhook in self._webhooks.items()
                    ],
                    "triggers": self._sorted_business_rules("trigger"),
                    "views": self._sorted_business_rules("view"),
                    "emails": self._emails,
                    "deliveries": self._deliveries,
                    "settings": self.settings(),
                }
            )

    def export_state(self) -> Record:
        """The account as JSON-ready data, for :meth:`import_state` (requests are not kept)."""
        with self._lock:
            return copy.deepcopy(
                {
                    "last_id": self._last_id,
                    "last_ticket_id": self._last_ticket_id,
                    "api_user_id": self.api_user_id,
                    "users": list(self._users.values()),
                    "groups": list(self._groups.values()),
                    "group_memberships": list(self._memberships.values()),
                    "tickets": list(self._tickets.values()),
                    "comments": {str(ticket_id): c for ticket_id, c in self._comments.items()},
                    "ticket_fields": list(self._ticket_fields.values()),
                    "webhooks": list(self._webhooks.values()),
                    "signing_secrets": self._signing_secrets,
                    "triggers": list(self._business_rules["trigger"].values()),
                    "views": list(self._business_rules["view"].values()),
                    "ticket_events": self._ticket_events,
                    "emails": self._emails,
                    "deliveries": self._deliveries,
                }
            )

    def import_state(self, saved: Mapping[str, Any]) -> None:
        """Replace the whole account with one saved by :meth:`export_state`."""
        saved = copy.deepcopy(saved)
        with self._lock:
            self._last_id = saved["last_id"]
            self._last_ticket_id = saved["last_ticket_id"]
            self.api_user_id = saved["api_user_id"]
            self._users = {u["id"]: u for u in saved["users"]}
            self._groups = {g["id"]: g for g in saved["groups"]}
            self._memberships = {m["id"]: m for m in saved["group_memberships"]}
            self._tickets = {t["id"]: t for t in saved["tickets"]}
            self._comments = {int(ticket_id): c for ticket_id, c in saved["comments"].items()}
            self._ticket_fields = {f["id"]: f for f in saved["ticket_fields"]}
            self._webhooks = {w["id"]: w for w in saved["webhooks"]}
            self._signing_secrets = saved["signing_secrets"]
            self._business_rules = {
                "trigger": {t["id"]: t for t in saved["triggers"]},
                "view": {v["id"]: v for v in saved["views"]},
            }
            self._ticket_events = saved["ticket_events"]
            self._emails = saved["emails"]
            self._deliveries = saved["deliveries"]

    # -- tickets ----------------------------------------------------------------------

    def ticket(self, ticket_id: int) -> Record:
        """The ticket as the API shows it."""
        with self._lock:
            return copy.deepcopy(self._ticket_json(self._ticket_record(ticket_id)))

    def tickets(self) -> list[Record]:
        """All tickets, oldest first."""
        with self._lock:
            return copy.deepcopy([self._ticket_json(t) for _, t in sorted(self._tickets.items())])

    def schedules(self) -> list[Record]:
        """Business-hours schedules, as the Schedules API lists them."""
        return copy.deepcopy(self._schedules)

    def schedule_holidays(self, schedule_id: int) -> list[Record]:
        if not any(schedule["id"] == schedule_id for schedule in self._schedules):
            raise SandboxError(404, "RecordNotFound", "Not found")
        return copy.deepcopy(self._schedule_holidays.get(schedule_id, []))

    def search_tickets(self, query: str) -> list[Record]:
        """Tickets matching a search query: the `type:ticket`, `tags:` and `status:` terms only.

        Every term must hold (Zendesk ANDs different terms). Any other term is
        refused with 400 rather than silently ignored, so a caller cannot rely
        on search syntax the sandbox does not honour.
        """
        wanted_tags: list[str] = []
        wanted_status: list[str] = []
        for term in query.split():
            keyword, _, value = term.partition(":")
            if keyword == "type" and value == "ticket":
                continue
            if keyword == "tags" and value:
                wanted_tags.append(value.lower())
            elif keyword == "status" and value:
                wanted_status.append(value.lower())
            else:
                raise SandboxError(
                    400, "InvalidSearch", f"the sandbox's search supports type:ticket, tags: and status:, not {term!r}"
                )
        return [
            {**ticket, "result_type": "ticket"}
            for ticket in self.tickets()
            if all(tag in ticket["tags"] for tag in wanted_tags)
            and all(ticket["status"] == status for status in wanted_status)
        ]

    def comments(self, ticket_id: int) -> list[Record]:
        """The ticket's comments, oldest first."""
        with self._lock:
            self._ticket_record(ticket_id)
            return copy.deepcopy(self._comments[ticket_id])

    def create_ticket(
        self,
        *,
        requester_id: int,
        subject: str,
        description: str,
        email_cc_ids: Sequence[int] = (),
        status: str = "open",
        group_id: int | None = None,
    ) -> Record:
        """Open a ticket as if the requester wrote in through the web form; runs triggers."""
        with self._lock:
            requester = self._user_record(requester_id, field="requester_id")
            changes: Record = {"subject": subject, "status": status, "email_cc_ids": list(email_cc_ids)}
            if group_id is not None:
                changes["group_id"] = group_id
            ticket, _, notifications = self._open_ticket(
                changes,
                _CommentInput(requester, description, _html(description), public=True),
                requester=requester,
                actor=requester,
                channel="web",
            )
        self._dispatch(notifications)
        return ticket

    def add_comment(
        self,
        ticket_id: int,
        *,
        author_id: int,
        body: str,
        public: bool = True,
        deliver_webhooks: bool = True,
    ) -> Record:
        """Comment as that user through the web or email; runs triggers unless told not to.

        A customer's comment reopens a pending or solved ticket, as in Zendesk.
        ``deliver_webhooks=False`` skips the triggers, for setting up history quietly.
        """
        with self._lock:
            ticket = self._ticket_record(ticket_id)
            author = self._users.get(author_id)
            if author is None:
                raise bad_request(f"author_id: no user {author_id}")
            if not body.strip():
                raise bad_request("body: a comment needs text")
            if ticket["status"] == "closed":
                raise invalid("Status: closed prevents ticket update")
            updated = copy.deepcopy(ticket)
            if author["role"] == "end-user" and ticket["status"] in ("pending", "solved"):
                updated["status"] = "open"
            comment_input = _CommentInput(author, body, _html(body), public)
            _, comment, notifications = self._commit_change(
                ticket, updated, comment_input, actor=author, channel="web", run_triggers=deliver_webhooks
            )
        self._dispatch(notifications)
        assert comment is not None
        return copy.deepcopy(comment)

    def set_status(self, ticket_id: int, status: str) -> None:
        """Change a ticket's status directly, as the admin in the agent interface would."""
        with self._lock:
            ticket = self._ticket_record(ticket_id)
            if ticket["status"] == "closed":
                raise invalid("Status: closed prevents ticket update")
            updated = copy.deepcopy(ticket)
            self._apply_ticket_changes(updated, {"status": status})
            actor = self._users[self.api_user_id]
            _, _, notifications = self._commit_change(ticket, updated, None, actor=actor, channel="web")
        self._dispatch(notifications)

    def api_create_ticket(self, fields: Mapping[str, Any]) -> tuple[Record, list[str]]:
        """POST /api/v2/tickets as the API user: the `{ticket, audit}` answer and ignored keys."""
        with self._lock:
            actor = self._users[self.api_user_id]
            requester = self._user_record(fields.get("requester_id", self.api_user_id), field="requester_id")
            comment = fields.get("comment")
            if not isinstance(comment, Mapping):
                raise invalid("Description: cannot be blank")
            changes = {key: value for key, value in fields.items() if key != "comment"}
            changes.setdefault("status", "open" if fields.get("assignee_id") else "new")
            ticket, audit, notifications = self._open_ticket(
                changes,
                self._comment_input(comment, default_author=actor),
                requester=requester,
                actor=actor,
                channel="api",
            )
            ignored = _unknown_ticket_keys(fields)
        self._dispatch(notifications)
        return {"ticket": ticket, "audit": audit}, ignored

    def api_update_ticket(self, ticket_id: int, changes: Mapping[str, Any]) -> tuple[Record, list[str]]:
        """PUT /api/v2/tickets/{id} as the API user: the `{ticket, audit}` answer and ignored keys.

        Tags replace the list, custom fields merge by id, one comment may be added,
        `safe_update` with a stale `updated_stamp` is a 409, a closed ticket a 422;
        a refused update changes nothing.
        """
        with self._lock:
            ticket = self._ticket_record(ticket_id)
            if ticket["status"] == "closed":
                raise invalid("Status: closed prevents ticket update")
            if changes.get("safe_update") and changes.get("updated_stamp") != ticket["updated_at"]:
                raise SandboxError(
                    409,
                    "UpdateConflict",
                    "Safe Update prevented the update due to outdated ticket data. "
                    "Please fetch the latest ticket data and try again.",
                )
            updated = copy.deepcopy(ticket)
            self._apply_ticket_changes(updated, changes)
            actor = self._users[self.api_user_id]
            comment = changes.get("comment")
            comment_input = None if comment is None else self._comment_input(comment, default_author=actor)
            audit, _, notifications = self._commit_change(ticket, updated, comment_input, actor=actor, channel="api")
            answer = {"ticket": self._ticket_json(self._tickets[ticket_id]), "audit": audit}
            ignored = _unknown_ticket_keys(changes)
        self._dispatch(notifications)
        return copy.deepcopy(answer), ignored

    def ticket_events(
        self, start_time: int, *, include_comment_events: bool, limit: int = 1000
    ) -> tuple[list[Record], bool]:
        """Ticket events with timestamp >= start_time, oldest first, and whether that is all.

        Unlike Zendesk, events from the last minute are included, so tests need not wait.
        A page never ends inside a run of events sharing one timestamp that fills it.
        """
        with self._lock:
            events = sorted(
                (e for e in self._ticket_events if e["timestamp"] >= start_time),
                key=lambda e: (e["timestamp"], e["id"]),
            )
            page = events[:limit]
            if page and len(events) > limit and page[0]["timestamp"] == page[-1]["timestamp"]:
                page = [e for e in events if e["timestamp"] == page[-1]["timestamp"]]
            rendered = [self._ticket_event_json(e, include_comment_events) for e in page]
            return copy.deepcopy(rendered), len(page) == len(events)

    # -- users and groups -----------------------------------------------------------

    def user(self, user_id: int) -> Record:
        """One user."""
        with self._lock:
            return copy.deepcopy(self._user_record(user_id))

    def users(self, *, roles: Iterable[str] = (), ids: Iterable[int] | None = None) -> list[Record]:
        """Users in id order, optionally only those with one of `roles` or among `ids`."""
        wanted_roles = set(roles)
        wanted_ids = None if ids is None else set(ids)
        with self._lock:
            return copy.deepcopy(
                [
                    user
                    for user_id, user in sorted(self._users.items())
                    if (not wanted_roles or user["role"] in wanted_roles)
                    and (wanted_ids is None or user_id in wanted_ids)
                ]
            )

    def create_user(self, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/users: a new user, an end-user unless a role is given."""
        with self._lock:
            name = fields.get("name")
            if not isinstance(name, str) or not name.strip():
                raise invalid("Name: is too short (minimum one character)")
            email = fields.get("email")
            if email is not None and any(u["email"] == email for u in self._users.values()):
                raise invalid(f"Email: {email} is already being used by another user")
            role = fields.get("role", "end-user")
            if role not in USER_ROLES:
                raise invalid(f"Role: {role} is not one of {', '.join(USER_ROLES)}")
            user = self._add_user(
                name=name,
                email=email,
                role=role,
                phone=fields.get("phone"),
                locale=fields.get("locale", "en-US"),
                time_zone=fields.get("time_zone", "UTC"),
            )
            return copy.deepcopy(user)

    def groups(self) -> list[Record]:
        """All groups."""
        with self._lock:
            return copy.deepcopy([g for _, g in sorted(self._groups.items())])

    def group(self, group_id: int) -> Record:
        """One group."""
        with self._lock:
            return copy.deepcopy(self._group_record(group_id))

    def create_group(self, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/groups."""
        with self._lock:
            name = fields.get("name")
            if not isinstance(name, str) or not name.strip():
                raise invalid("Name: cannot be blank")
            return copy.deepcopy(self._add_group(name, description=str(fields.get("description") or "")))

    def group_memberships(self, group_id: int | None = None) -> list[Record]:
        """Group memberships, all of them or one group's."""
        with self._lock:
            if group_id is not None:
                self._group_record(group_id)
            return copy.deepcopy(
                [m for _, m in sorted(self._memberships.items()) if group_id is None or m["group_id"] == group_id]
            )

    def create_group_membership(self, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/group_memberships: put an agent in a group."""
        with self._lock:
            user = self._user_record(fields.get("user_id"), field="user_id")
            group = self._group_record_for(fields.get("group_id"))
            if user["role"] == "end-user":
                raise invalid("User: must be an agent to be a member of a group")
            if any(m["user_id"] == user["id"] and m["group_id"] == group["id"] for m in self._memberships.values()):
                raise invalid("User: is already a member of this group")
            return copy.deepcopy(self._add_membership(user["id"], group["id"]))

    # -- ticket fields ----------------------------------------------------------------

    def ticket_fields(self) -> list[Record]:
        """System and custom ticket fields in position order."""
        with self._lock:
            return copy.deepcopy(self._sorted_ticket_fields())

    def ticket_field(self, field_id: int) -> Record:
        """One ticket field."""
        with self._lock:
            return copy.deepcopy(self._ticket_field_record(field_id))

    def create_ticket_field(self, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/ticket_fields: a custom field; tagger option values must be unused tags."""
        with self._lock:
            field_type = fields.get("type")
            if field_type not in CUSTOM_FIELD_TYPES:
                raise invalid(f"Type: must be one of {', '.join(CUSTOM_FIELD_TYPES)}")
            now = self._iso_now()
            field: Record = {
                "id": self._new_id(),
                "type": field_type,
                "title": "",
                "description": "",
                "position": 1 + max((f["position"] for f in self._ticket_fields.values()), default=0),
                "active": True,
                "required": False,
                "collapsed_for_agents": False,
                "regexp_for_validation": None,
                "visible_in_portal": False,
                "editable_in_portal": False,
                "required_in_portal": False,
                "tag": None,
                "removable": True,
                "agent_description": None,
                "created_at": now,
                "updated_at": now,
            }
            if field_type == "tagger":
                field["custom_field_options"] = []
            self._apply_ticket_field_changes(field, fields)
            self._ticket_fields[field["id"]] = field
            return copy.deepcopy(field)

    def update_ticket_field(self, field_id: int, changes: Mapping[str, Any]) -> Record:
        """PUT /api/v2/ticket_fields/{id}: change a field (its type stays)."""
        with self._lock:
            field = copy.deepcopy(self._ticket_field_record(field_id))
            self._apply_ticket_field_changes(field, changes)
            field["updated_at"] = self._iso_now()
            self._ticket_fields[field_id] = field
            return copy.deepcopy(field)

    def delete_ticket_field(self, field_id: int) -> None:
        """DELETE /api/v2/ticket_fields/{id}: custom fields only."""
        with self._lock:
            if not self._ticket_field_record(field_id)["removable"]:
                raise invalid("This field is a system field and cannot be deleted")
            del self._ticket_fields[field_id]

    # -- webhooks ---------------------------------------------------------------------

    def webhooks(self, *, name_contains: str | None = None) -> list[Record]:
        """Webhooks in creation order, optionally filtered by name."""
        with self._lock:
            return copy.deepcopy(
                [
                    w
                    for w in self._webhooks.values()
                    if name_contains is None or name_contains.lower() in w["name"].lower()
                ]
            )

    def webhook(self, webhook_id: str) -> Record:
        """One webhook."""
        with self._lock:
            return copy.deepcopy(self._webhook_record(webhook_id))

    def create_webhook(self, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/webhooks: a webhook with a fresh signing secret (or the one given)."""
        with self._lock:
            now = self._iso_now()
            webhook: Record = {
                "id": _ulid(time.time()),
                **copy.deepcopy(_WEBHOOK_DEFAULTS),
                "created_at": now,
                "created_by": str(self.api_user_id),
                "updated_at": now,
                "updated_by": str(self.api_user_id),
            }
            _apply_webhook_changes(webhook, fields)
            given_secret = fields.get("signing_secret")
            secret = given_secret.get("secret") if isinstance(given_secret, Mapping) else None
            self._signing_secrets[webhook["id"]] = secret if isinstance(secret, str) and secret else _new_secret()
            self._webhooks[webhook["id"]] = webhook
            return copy.deepcopy(webhook)

    def update_webhook(self, webhook_id: str, changes: Mapping[str, Any], *, replace: bool) -> None:
        """PUT (`replace`: the body is the whole webhook) or PATCH /api/v2/webhooks/{id}."""
        with self._lock:
            webhook = copy.deepcopy(self._webhook_record(webhook_id))
            if replace:
                kept = ("id", "created_at", "created_by", "updated_by")
                webhook = {**{key: webhook[key] for key in kept}, **copy.deepcopy(_WEBHOOK_DEFAULTS)}
            _apply_webhook_changes(webhook, changes)
            webhook["updated_at"] = self._iso_now()
            self._webhooks[webhook_id] = webhook

    def delete_webhook(self, webhook_id: str) -> None:
        """DELETE /api/v2/webhooks/{id}."""
        with self._lock:
            self._webhook_record(webhook_id)
            del self._webhooks[webhook_id]
            del self._signing_secrets[webhook_id]

    def signing_secret(self, webhook_id: str) -> Record:
        """GET /api/v2/webhooks/{id}/signing_secret."""
        with self._lock:
            self._webhook_record(webhook_id)
            return self._secret_json(webhook_id)

    def reset_signing_secret(self, webhook_id: str) -> Record:
        """POST /api/v2/webhooks/{id}/signing_secret: a new random secret."""
        with self._lock:
            self._webhook_record(webhook_id)
            self._signing_secrets[webhook_id] = _new_secret()
            return self._secret_json(webhook_id)

    # -- triggers and views -----------------------------------------------------------

    def business_rules(self, kind: BusinessRuleKind) -> list[Record]:
        """All triggers or views in position order."""
        with self._lock:
            return copy.deepcopy(self._sorted_business_rules(kind))

    def business_rule(self, kind: BusinessRuleKind, rule_id: int) -> Record:
        """One trigger or view."""
        with self._lock:
            return copy.deepcopy(self._business_rule_record(kind, rule_id))

    def create_business_rule(self, kind: BusinessRuleKind, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/triggers or /api/v2/views; new rules go last unless a position is given."""
        with self._lock:
            now = self._iso_now()
            existing = self._business_rules[kind].values()
            rule: Record = {
                "id": self._new_id(),
                "title": "",
                "raw_title": "",
                "description": None,
                "active": True,
                "position": 1 + max((r["position"] for r in existing), default=0),
                "conditions": {"all": [], "any": []},
                "default": False,
                "created_at": now,
                "updated_at": now,
            }
            rule.update({"actions": []} if kind == "trigger" else {"execution": {}, "restriction": None})
            self._apply_business_rule_changes(kind, rule, fields)
            self._business_rules[kind][rule["id"]] = rule
            return copy.deepcopy(rule)

    def update_business_rule(self, kind: BusinessRuleKind, rule_id: int, changes: Mapping[str, Any]) -> Record:
        """PUT /api/v2/triggers/{id} or /api/v2/views/{id}."""
        with self._lock:
            rule = copy.deepcopy(self._business_rule_record(kind, rule_id))
            self._apply_business_rule_changes(kind, rule, changes)
            rule["updated_at"] = self._iso_now()
            self._business_rules[kind][rule_id] = rule
            return copy.deepcopy(rule)

    def delete_business_rule(self, kind: BusinessRuleKind, rule_id: int) -> None:
        """DELETE /api/v2/triggers/{id} or /api/v2/views/{id}."""
        with self._lock:
            self._business_rule_record(kind, rule_id)
            del self._business_rules[kind][rule_id]

    # -- internals: the caller holds self._lock ------------------------------------

    def _seed(self) -> None:
        """A small support team with a few customers and their open tickets."""
        support = self._add_group("Support", description="Front-line support", default=True)
        managers = self._add_group("Support Managers", description="Escalations are handled here")
        priya = self._add_user(name="Priya Natarajan", email="priya@sandbox.test", role="agent")
        tom = self._add_user(name="Tom Becker", email="tom@sandbox.test", role="agent")
        self._add_membership(priya["id"], support["id"])
        self._add_membership(tom["id"], managers["id"])
        alice = self._add_user(
            name="Alice Moreau", email="alice.moreau@example.com", role="end-user", phone="+33 6 12 34 56 78"
        )
        bob = self._add_user(name="Bob Lindqvist", email="bob.lindqvist@example.com", role="end-user")
        carmen = self._add_user(name="Carmen Ortiz", email="carmen.ortiz@example.com", role="end-user")
        deepak = self._add_user(name="Deepak Rao", email="deepak.rao@example.com", role="end-user")
        seed_tickets: tuple[tuple[Record, str, str, list[int]], ...] = (
            (
                alice,
                "Charged twice for my March invoice",
                "Hello, my card was charged twice for invoice INV-2031. Could you refund one charge?",
                [],
            ),
            (
                bob,
                "Cannot log in after resetting my password",
                "Since I reset my password this morning the login page says my account is locked.",
                [],
            ),
            (
                carmen,
                "CSV export times out",
                "Exporting last quarter's orders to CSV fails after a minute, every time.",
                [deepak["id"]],
            ),
            (
                deepak,
                "Parcel arrived damaged",
                "Order 55812 arrived with the box crushed and the lamp inside broken.",
                [],
            ),
            (
                alice,
                "Please update my billing address",
                "We moved offices: the new billing address is 12 rue des Lilas, 69003 Lyon.",
                [],
            ),
        )
        for requester, subject, description, cc_ids in seed_tickets:
            self._open_ticket(
                {
                    "subject": subject,
                    "status": "open",
                    "group_id": support["id"],
                    "assignee_id": priya["id"],
                    "email_cc_ids": cc_ids,
                },
                _CommentInput(requester, description, _html(description), public=True),
                requester=requester,
                actor=requester,
                channel="web",
            )

    def _new_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now.astimezone(UTC).replace(microsecond=0)

    def _iso_now(self) -> str:
        return self._now().strftime(TIMESTAMP_FORMAT)

    def _add_user(
        self,
        *,
        name: str,
        email: str | None,
        role: str,
        phone: str | None = None,
        locale: str = "en-US",
        time_zone: str = "UTC",
    ) -> Record:
        now = self._iso_now()
        user: Record = {
            "id": self._new_id(),
            "name": name,
            "email": email,
            "role": role,
            "phone": phone,
            "locale": locale,
            "time_zone": time_zone,
            "active": True,
            "verified": True,
            "suspended": False,
            "organization_id": None,
            "default_group_id": None,
            "tags": [],
            "user_fields": {},
            "created_at": now,
            "updated_at": now,
        }
        self._users[user["id"]] = user
        return user

    def _add_group(self, name: str, *, description: str = "", default: bool = False) -> Record:
        now = self._iso_now()
        group: Record = {
            "id": self._new_id(),
            "name": name,
            "description": description,
            "default": default,
            "deleted": False,
            "is_public": True,
            "created_at": now,
            "updated_at": now,
        }
        self._groups[group["id"]] = group
        return group

    def _add_membership(self, user_id: int, group_id: int) -> Record:
        now = self._iso_now()
        user = self._users[user_id]
        is_default = user["default_group_id"] is None
        membership: Record = {
            "id": self._new_id(),
            "user_id": user_id,
            "group_id": group_id,
            "default": is_default,
            "created_at": now,
            "updated_at": now,
        }
        if is_default:
            user["default_group_id"] = group_id
        self._memberships[membership["id"]] = membership
        return membership

    def _add_system_field(self, field_type: str, title: str, position: int) -> None:
        now = self._iso_now()
        field_id = self._new_id()
        self._ticket_fields[field_id] = {
            "id": field_id,
            "type": field_type,
            "title": title,
            "description": "",
            "position": position,
            "active": True,
            "required": field_type == "subject",
            "collapsed_for_agents": False,
            "regexp_for_validation": None,
            "visible_in_portal": field_type in ("subject", "description"),
            "editable_in_portal": field_type in ("subject", "description"),
            "required_in_portal": field_type in ("subject", "description"),
            "tag": None,
            "removable": False,
            "agent_description": None,
            "created_at": now,
            "updated_at": now,
        }

    def _user_record(self, user_id: object, *, field: str | None = None) -> Record:
        """The user, a 404 for an unknown id, or a 422 naming `field` when it is an input."""
        user = self._users.get(user_id) if isinstance(user_id, int) else None
        if user is None:
            if field is None:
                raise not_found()
            raise invalid(f"{field}: no user {user_id}")
        return user

    def _group_record(self, group_id: int) -> Record:
        group = self._groups.get(group_id)
        if group is None:
            raise not_found()
        return group

    def _group_record_for(self, group_id: object) -> Record:
        group = self._groups.get(group_id) if isinstance(group_id, int) else None
        if group is None:
            raise invalid(f"group_id: no group {group_id}")
        return group

    def _ticket_record(self, ticket_id: int) -> Record:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            raise not_found()
        return ticket

    def _ticket_field_record(self, field_id: int) -> Record:
        field = self._ticket_fields.get(field_id)
        if field is None:
            raise not_found()
        return field

    def _webhook_record(self, webhook_id: str) -> Record:
        webhook = self._webhooks.get(webhook_id)
        if webhook is None:
            raise not_found()
        return webhook

    def _business_rule_record(self, kind: BusinessRuleKind, rule_id: int) -> Record:
        rule = self._business_rules[kind].get(rule_id)
        if rule is None:
            raise not_found()
        return rule

    def _sorted_ticket_fields(self) -> list[Record]:
        return sorted(self._ticket_fields.values(), key=lambda f: (f["position"], f["id"]))

    def _custom_fields(self) -> list[Record]:
        return [f for f in self._sorted_ticket_fields() if f["removable"]]

    def _sorted_business_rules(self, kind: BusinessRuleKind) -> list[Record]:
        return sorted(self._business_rules[kind].values(), key=lambda r: (r["position"], r["id"]))

    def _secret_json(self, webhook_id: str) -> Record:
        return {"algorithm": "SHA256", "secret": self._signing_secrets[webhook_id]}

    def _ticket_json(self, ticket: Record) -> Record:
        """The ticket as the API shows it: every custom field listed, unset ones as null."""
        values = {f["id"]: f["value"] for f in ticket["custom_fields"]}
        return {
            **ticket,
            "custom_fields": [{"id": f["id"], "value": values.get(f["id"])} for f in self._custom_fields()],
        }

    def _open_ticket(
        self,
        changes: Mapping[str, Any],
        description: _CommentInput,
        *,
        requester: Record,
        actor: Record,
        channel: str,
    ) -> tuple[Record, Record, list[_Notification]]:
        """Create a ticket with its description comment; the ticket, its audit, the webhooks due."""
        ticket: Record = {
            "id": self._last_ticket_id + 1,
            "subject": "",
            "description": description.body,
            "status": "new",
            "priority": None,
            "type": None,
            "requester_id": requester["id"],
            "submitter_id": description.author["id"],
            "assignee_id": None,
            "organization_id": None,
            "group_id": None,
            "tags": [],
            "custom_fields": [],
            "collaborator_ids": [],
            "email_cc_ids": [],
            "follower_ids": [],
            "via": {"channel": channel},
            "is_public": description.public,
            "created_at": None,
            "updated_at": None,
        }
        self._apply_ticket_changes(ticket, changes)
        self._last_ticket_id = ticket["id"]
        self._comments[ticket["id"]] = []
        audit, _, notifications = self._commit_change(None, ticket, description, actor=actor, channel=channel)
        return copy.deepcopy(self._ticket_json(ticket)), audit, notifications

    def _apply_ticket_changes(self, ticket: Record, changes: Mapping[str, Any]) -> None:
        """Apply writable ticket attributes to `ticket` (a copy), validating each; 422 on bad input."""
        if "subject" in changes:
            if not isinstance(changes["subject"], str):
                raise invalid("Subject: must be text")
            ticket["subject"] = changes["subject"]
        for key, allowed in (("status", STATUS_ORDER), ("priority", PRIORITIES), ("type", TICKET_TYPES)):
            if key in changes:
                value = changes[key]
                if value not in allowed and not (key != "status" and value is None):
                    raise invalid(f"{key.capitalize()}: {value!r} is not one of {', '.join(allowed)}")
                ticket[key] = value
        if "requester_id" in changes:
            ticket["requester_id"] = self._user_record(changes["requester_id"], field="requester_id")["id"]
        if "group_id" in changes:
            group_id = changes["group_id"]
            ticket["group_id"] = None if group_id is None else self._group_record_for(group_id)["id"]
        if "assignee_id" in changes:
            ticket["assignee_id"] = self._assignee_id(changes["assignee_id"])
            if ticket["assignee_id"] is not None and ticket["group_id"] is None:
                ticket["group_id"] = self._users[ticket["assignee_id"]]["default_group_id"]
        for key in ("email_cc_ids", "follower_ids"):
            if key in changes:
                ticket[key] = self._user_ids(changes[key], key, agents_only=key == "follower_ids")
        ticket["collaborator_ids"] = list(dict.fromkeys(ticket["email_cc_ids"] + ticket["follower_ids"]))
        if "tags" in changes:
            ticket["tags"] = _normalise_tags(changes["tags"])
        explicit_fields = self._merge_custom_fields(ticket, changes.get("custom_fields", []))
        self._sync_field_tags(ticket, explicit_fields, tags_given="tags" in changes)

    def _assignee_id(self, assignee_id: object) -> int | None:
        if assignee_id is None:
            return None
        assignee = self._user_record(assignee_id, field="assignee_id")
        if assignee["role"] == "end-user":
            raise invalid(f"Assignee: {assignee['name']} is not an agent")
        return int(assignee["id"])

    def _user_ids(self, user_ids: object, key: str, *, agents_only: bool) -> list[int]:
        if not isinstance(user_ids, list):
            raise invalid(f"{key}: must be a list of user ids")
        users = [self._user_record(user_id, field=key) for user_id in user_ids]
        if agents_only and any(u["role"] == "end-user" for u in users):
            raise invalid(f"{key}: only agents can be followers")
        return list(dict.fromkeys(int(u["id"]) for u in users))

    def _merge_custom_fields(self, ticket: Record, given: object) -> set[int]:
        """Merge `[{id, value}]` into the ticket's values by id; the ids that were given."""
        if not isinstance(given, list):
            raise invalid("custom_fields: must be a list of {id, value}")
        values = {f["id"]: f["value"] for f in ticket["custom_fields"]}
        custom_fields = {f["id"]: f for f in self._custom_fields()}
        for entry in given:
            field_id = entry.get("id") if isinstance(entry, Mapping) else None
            field = custom_fields.get(field_id) if isinstance(field_id, int) else None
            if field is None:
                raise invalid(f"custom_fields: there is no ticket field {field_id}")
            values[field["id"]] = _checked_field_value(field, entry.get("value"))
        ticket["custom_fields"] = [{"id": i, "value": v} for i, v in values.items() if v is not None]
        return {entry["id"] for entry in given}

    def _sync_field_tags(self, ticket: Record, explicit_fields: set[int], *, tags_given: bool) -> None:
        """Keep drop-down and checkbox fields and their tags in step, as Zendesk does.

        A field set in this change writes its tags; otherwise replaced tags set the field.
        """
        values = {f["id"]: f["value"] for f in ticket["custom_fields"]}
        tags: list[str] = ticket["tags"]
        for field in self._custom_fields():
            if field["type"] == "tagger":
                field_tags = [option["value"] for option in field["custom_field_options"]]
            elif field["type"] == "checkbox" and field["tag"]:
                field_tags = [field["tag"]]
            else:
                continue
            if field["id"] in explicit_fields:
                value = values.get(field["id"])
                chosen = field["tag"] if field["type"] == "checkbox" and value else value
            elif tags_given:
                chosen = next((tag for tag in tags if tag in field_tags), None)
                if field["type"] == "tagger":
                    values[field["id"]] = chosen
                elif bool(chosen) != bool(values.get(field["id"])):
                    values[field["id"]] = chosen is not None
            else:
                continue
            tags = [tag for tag in tags if tag not in field_tags] + ([chosen] if chosen else [])
        ticket["tags"] = tags
        ticket["custom_fields"] = [{"id": i, "value": v} for i, v in values.items() if v is not None]

    def _comment_input(self, comment: object, *, default_author: Record) -> _CommentInput:
        """Validate a `comment` object from the API."""
        if not isinstance(comment, Mapping):
            raise invalid("Comment: must be an object with a body")
        author = default_author
        if comment.get("author_id") is not None:
            author = self._user_record(comment["author_id"], field="comment.author_id")
        html_body = comment.get("html_body")
        body = comment.get("body")
        if isinstance(html_body, str) and html_body.strip():
            text = body if isinstance(body, str) and body.strip() else _text(html_body)
            return _CommentInput(author, text, html_body, bool(comment.get("public", True)))
        if not isinstance(body, str) or not body.strip():
            raise invalid("Comment: body cannot be blank")
        return _CommentInput(author, body, _html(body), bool(comment.get("public", True)))

    def _next_stamp(self, previous: str | None) -> datetime:
        """Now, or one second after `previous` if the clock has not moved past it."""
        now = self._now()
        if previous is None:
            return now
        earliest = _parse_time(previous) + timedelta(seconds=1)
        return max(now, earliest)

    def _commit_change(
        self,
        before: Record | None,
        after: Record,
        comment_input: _CommentInput | None,
        *,
        actor: Record,
        channel: str,
        run_triggers: bool = True,
    ) -> tuple[Record, Record | None, list[_Notification]]:
        """Store a ticket change, its event and emails, and run triggers.

        Returns the audit, the new comment and the webhook calls to make. A change that
        alters nothing and adds no comment is not recorded, like in Zendesk.
        """
        changes = _field_changes(before, after)
        if before is not None and not changes and comment_input is None:
            return {"id": None, "ticket_id": after["id"], "events": []}, None, []
        stamp = self._next_stamp(before["updated_at"] if before else None)
        iso = stamp.strftime(TIMESTAMP_FORMAT)
        after["updated_at"] = iso
        if before is None:
            after["created_at"] = iso
        audit_id = self._new_id()
        via = {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}}
        comment = None
        if comment_input is not None:
            comment = {
                "id": self._new_id(),
                "type": "Comment",
                "author_id": comment_input.author["id"],
                "body": comment_input.body,
                "html_body": comment_input.html_body,
                "plain_body": comment_input.body,
                "public": comment_input.public,
                "attachments": [],
                "audit_id": audit_id,
                "via": via,
                "metadata": {"system": {}, "custom": {}},
                "created_at": iso,
            }
            self._comments[after["id"]].append(comment)
        for change in changes:
            change["id"] = self._new_id()
        event: Record = {
            "id": audit_id,
            "ticket_id": after["id"],
            "timestamp": int(stamp.timestamp()),
            "created_at": iso,
            "updater_id": actor["id"],
            "via": via,
            "event_type": "Create" if before is None else "Audit",
            "changes": changes,
            "comment": comment,
        }
        self._tickets[after["id"]] = after
        self._ticket_events.append(event)
        if comment_input is not None and comment is not None:
            self._send_emails(after, comment, comment_input.author)
        notifications: list[_Notification] = []
        if run_triggers:
            ticket_comments = self._comments[after["id"]]
            notifications = self._fire_triggers(
                TicketChange(
                    update_type="Create" if before is None else "Change",
                    ticket=self._ticket_json(after),
                    actor=actor,
                    comment=comment,
                    latest_comment_id=ticket_comments[-1]["id"] if ticket_comments else None,
                )
            )
        audit = {
            "id": audit_id,
            "ticket_id": after["id"],
            "created_at": iso,
            "author_id": actor["id"],
            "via": via,
            "metadata": {"system": {}, "custom": {}},
            "events": ([comment] if comment else []) + [{**c, "type": c["event_type"]} for c in changes],
        }
        return copy.deepcopy(audit), comment, notifications

    def _send_emails(self, ticket: Record, comment: Record, author: Record) -> None:
        """An agent's public comment is emailed to the requester and email CCs."""
        if not comment["public"] or author["role"] == "end-user":
            return
        recipients = [
            self._users[user_id]["email"]
            for user_id in dict.fromkeys([ticket["requester_id"], *ticket["email_cc_ids"]])
            if user_id != comment["author_id"] and self._users[user_id]["email"]
        ]
        if recipients:
            self._emails.append(
                {
                    "to": recipients,
                    "ticket_id": ticket["id"],
                    "subject": ticket["subject"],
                    "body": comment["body"],
                    "comment_id": comment["id"],
                    "sent_at": comment["created_at"],
                }
            )

    def _fire_triggers(self, change: TicketChange) -> list[_Notification]:
        """Run active triggers once, in position order; the webhook calls they ask for."""
        notifications: list[_Notification] = []
        for trigger in self._sorted_business_rules("trigger"):
            if not trigger["active"] or not conditions_match(trigger["conditions"], change):
                continue
            for action in trigger["actions"]:
                if action.get("field") != "notification_webhook":
                    continue
                webhook_id, template = action["value"][0], action["value"][1]
                webhook = self._webhooks.get(webhook_id)
                if webhook is None or webhook["status"] != "active":
                    continue
                body = template if isinstance(template, str) else json.dumps(template)
                notification = self._schedule_delivery(webhook, render_placeholders(body, change), trigger)
                if notification is not None:
                    notifications.append(notification)
        return notifications

    def _schedule_delivery(self, webhook: Record, body: str, trigger: Record) -> _Notification | None:
        """Record a delivery; the call to make, or None when deliveries are switched off."""
        invocation_id = _ulid(time.time())
        delivery: Record = {
            "webhook_id": webhook["id"],
            "invocation_id": invocation_id,
            "trigger_id": trigger["id"],
            "url": webhook["endpoint"],
            "body": body,
            "attempts": [],
            "final_status": None,
        }
        self._deliveries.append(delivery)
        if not self.webhook_delivery_enabled:
            delivery["final_status"] = "dropped"
            return None
        headers = {
            "Content-Type": CONTENT_TYPES.get(webhook["request_format"], "application/json"),
            "User-Agent": USER_AGENT,
            "X-Zendesk-Account-Id": str(ACCOUNT_ID),
            "X-Zendesk-Webhook-Id": webhook["id"],
            "X-Zendesk-Webhook-Invocation-Id": invocation_id,
            **_authentication_headers(webhook.get("authentication")),
            **(webhook.get("custom_headers") or {}),
        }
        call = WebhookCall(
            url=webhook["endpoint"],
            http_method=webhook["http_method"],
            body=body,
            secret=self._signing_secrets[webhook["id"]],
            headers=headers,
        )
        self._deliveries_in_flight += 1
        return _Notification(call, delivery)

    def _dispatch(self, notifications: list[_Notification]) -> None:
        """Deliver webhooks in the background; the change that caused them does not wait."""
        for notification in notifications:
            threading.Thread(
                target=self._deliver, args=(notification,), name="zendesk-sandbox-webhook", daemon=True
            ).start()

    def _deliver(self, notification: _Notification) -> None:
        delivery = notification.delivery

        def record_attempt(status: int | None, error: str | None) -> None:
            with self._lock:
                delivery["attempts"].append({"status": status, "error": error, "at": self._iso_now()})

        try:
            deliver(notification.call, timestamp=self._iso_now, record_attempt=record_attempt)
        finally:
            with self._lock:
                attempts = delivery["attempts"]
                last_status = attempts[-1]["status"] if attempts else None
                delivery["final_status"] = "failed" if last_status is None else last_status
                self._deliveries_in_flight -= 1
                self._deliveries_settled.notify_all()

    def _ticket_event_json(self, event: Record, include_comment_events: bool) -> Record:
        """A stored ticket event as the incremental export shows it."""
        children: list[Record] = []
        comment = event["comment"]
        if comment is not None and include_comment_events:
            children.append({**comment, "event_type": "Comment"})
        elif comment is not None:
            children.append(
                {
                    "id": comment["id"],
                    "event_type": "Comment",
                    "comment_present": True,
                    "comment_public": comment["public"],
                }
            )
        children.extend(event["changes"])
        return {
            "id": event["id"],
            "ticket_id": event["ticket_id"],
            "timestamp": event["timestamp"],
            "created_at": event["created_at"],
            "updater_id": event["updater_id"],
            "via": event["via"],
            "event_type": event["event_type"],
            "child_events": children,
        }

    def _apply_ticket_field_changes(self, field: Record, changes: Mapping[str, Any]) -> None:
        """Apply writable ticket-field attributes, checking tags are not used by another field."""
        for key in ("title", "description", "agent_description", "regexp_for_validation"):
            if key in changes:
                field[key] = changes[key]
        for key in (
            "active",
            "required",
            "collapsed_for_agents",
            "visible_in_portal",
            "editable_in_portal",
            "required_in_portal",
        ):
            if key in changes:
                field[key] = bool(changes[key])
        if "position" in changes:
            field["position"] = int(changes["position"])
        if not isinstance(field["title"], str) or not field["title"].strip():
            raise invalid("Title: cannot be blank")
        field["raw_title"] = field["title"]
        field["title_in_portal"] = field["raw_title_in_portal"] = field["title"]
        field["raw_description"] = field["description"]
        if field["type"] == "checkbox" and "tag" in changes:
            field["tag"] = _normalise_tags([changes["tag"]])[0] if changes["tag"] else None
        if field["type"] == "tagger" and "custom_field_options" in changes:
            field["custom_field_options"] = self._field_options(field, changes["custom_field_options"])
        if field["type"] == "tagger" and not field["custom_field_options"]:
            raise invalid("Field options: a drop-down field needs at least one option")
        own_tags = [o["value"] for o in field.get("custom_field_options", [])] + (
            [field["tag"]] if field["tag"] else []
        )
        clashes = sorted(set(own_tags) & self._tags_used_by_fields(except_field_id=field["id"]))
        if len(own_tags) != len(set(own_tags)) or clashes:
            clash = ", ".join(clashes) or "duplicate option values"
            raise invalid(f"Field options: tag already used by another ticket field ({clash})")

    def _field_options(self, field: Record, given: object) -> list[Record]:
        """Drop-down options from the API; options keep their ids when their value stays."""
        if not isinstance(given, list):
            raise invalid("custom_field_options: must be a list of {name, value}")
        existing = {o["value"]: o["id"] for o in field.get("custom_field_options", [])}
        options: list[Record] = []
        for position, option in enumerate(given):
            name = option.get("name") if isinstance(option, Mapping) else None
            raw_value = option.get("value") if isinstance(option, Mapping) else None
            if not isinstance(name, str) or not name or not isinstance(raw_value, str) or not raw_value.strip():
                raise invalid("custom_field_options: every option needs a name and a value")
            value = _normalise_tags([raw_value])[0]
            option_id = existing.get(value) or self._new_id()
            options.append(
                {
                    "id": option_id,
                    "name": name,
                    "raw_name": name,
                    "value": value,
                    "position": position,
                    "default": False,
                }
            )
        return options

    def _tags_used_by_fields(self, *, except_field_id: int) -> set[str]:
        tags: set[str] = set()
        for field in self._ticket_fields.values():
            if field["id"] == except_field_id:
                continue
            tags.update(o["value"] for o in field.get("custom_field_options", []))
            if field["tag"]:
                tags.add(field["tag"])
        return tags

    def _apply_business_rule_changes(self, kind: BusinessRuleKind, rule: Record, changes: Mapping[str, Any]) -> None:
        """Apply trigger or view attributes; views also accept Zendesk's `all`/`any`/`output` input."""
        for key in ("title", "description"):
            if key in changes:
                rule[key] = changes[key]
        if "active" in changes:
            rule["active"] = bool(changes["active"])
        if "position" in changes:
            rule["position"] = int(changes["position"])
        conditions = changes.get("conditions")
        if conditions is None and ("all" in changes or "any" in changes):
            conditions = {"all": changes.get("all", []), "any": changes.get("any", [])}
        if conditions is not None:
            rule["conditions"] = _checked_conditions(conditions)
        if kind == "trigger" and "actions" in changes:
            rule["actions"] = self._checked_actions(changes["actions"])
        if kind == "view":
            for key, source in (("execution", "execution"), ("execution", "output"), ("restriction", "restriction")):
                if source in changes:
                    rule[key] = changes[source]
        if not isinstance(rule["title"], str) or not rule["title"].strip():
            raise invalid("Title: cannot be blank")
        rule["raw_title"] = rule["title"]
        if kind == "trigger" and not rule["actions"]:
            raise invalid("Actions: a trigger needs at least one action")
        if not rule["conditions"]["all"] and not rule["conditions"]["any"]:
            raise invalid("Conditions: at least one condition is needed")

    def _checked_actions(self, actions: object) -> list[Record]:
        if not isinstance(actions, list) or not all(isinstance(a, Mapping) and "field" in a for a in actions):
            raise invalid("Actions: must be a list of {field, value}")
        for action in actions:
            if action["field"] != "notification_webhook":
                continue
            value = action.get("value")
            if not isinstance(value, list) or len(value) != 2 or value[0] not in self._webhooks:
                raise invalid("Actions: notification_webhook needs [an existing webhook id, a body]")
        return [dict(a) for a in actions]


# -- small pure helpers -----------------------------------------------------------------


def _parse_time(stamp: str) -> datetime:
    return datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def _html(body: str) -> str:
    """The HTML Zendesk renders for a plain-text comment."""
    paragraphs = "".join(f'<p dir="auto">{_escape(p).replace(chr(10), "<br>")}</p>' for p in body.split("\n\n"))
    return f'<div class="zd-comment" dir="auto">{paragraphs}</div>'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _text(html_body: str) -> str:
    """Plain text from an HTML comment."""
    with_breaks = re.sub(r"<br\s*/?>|</p>", "\n", html_body)
    text = re.sub(r"<[^>]+>", "", with_breaks)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return text.strip()


def _normalise_tags(tags: object) -> list[str]:
    """Zendesk's tags: lower case, no spaces (a space separates tags), no duplicates."""
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise invalid("Tags: must be a list of strings")
    return list(dict.fromkeys(word.lower() for tag in tags for word in tag.split()))


def _checked_field_value(field: Record, value: object) -> object:
    """A custom field value valid for the field's type (None when cleared); 422 otherwise."""
    field_type = field["type"]
    if value is None or (value == "" and field_type != "checkbox"):
        return None
    valid = {
        "text": isinstance(value, str),
        "textarea": isinstance(value, str),
        "integer": (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None),
        "decimal": (isinstance(value, (int, float)) and not isinstance(value, bool))
        or (isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None),
        "date": isinstance(value, str) and _is_date(value),
        "checkbox": isinstance(value, bool),
        "tagger": value in [o["value"] for o in field.get("custom_field_options", [])],
    }
    if not valid.get(field_type, False):
        raise invalid(f"{field['title']}: {value!r} is not a valid {field_type} value")
    return value


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None


def _field_changes(before: Record | None, after: Record) -> list[Record]:
    """Child events describing what a change did to the ticket's attributes."""
    previous = before or {}
    changes: list[Record] = []
    for name in _TRACKED_TICKET_FIELDS:
        old, new = previous.get(name), after[name]
        if before is None and new in (None, []):
            continue
        if before is None or old != new:
            changes.append(_field_change(name, old, new, created=before is None))
    old_values = {f["id"]: f["value"] for f in previous.get("custom_fields", [])}
    for entry in after["custom_fields"]:
        old = old_values.pop(entry["id"], None)
        if old != entry["value"]:
            changes.append(_field_change(str(entry["id"]), old, entry["value"], created=before is None))
    for field_id, old in old_values.items():
        changes.append(_field_change(str(field_id), old, None, created=False))
    return changes


def _field_change(name: str, old: object, new: object, *, created: bool) -> Record:
    change: Record = {"event_type": "Create" if created else "Change", "field_name": name, "value": new}
    if not created:
        change["previous_value"] = old
    if name == "tags":
        old_tags = old if isinstance(old, list) else []
        new_tags = new if isinstance(new, list) else []
        change["added_tags"] = [t for t in new_tags if t not in old_tags]
        change["removed_tags"] = [t for t in old_tags if t not in new_tags]
    return change


def _unknown_ticket_keys(fields: Mapping[str, Any]) -> list[str]:
    known = _TICKET_READ_ONLY_KEYS | set(_TRACKED_TICKET_FIELDS) | {"custom_fields", "comment"}
    return sorted(key for key in fields if key not in known)


def _checked_conditions(conditions: object) -> Record:
    if not isinstance(conditions, Mapping):
        raise invalid("Conditions: must be an object with `all` and `any` lists")
    checked: Record = {}
    for key in ("all", "any"):
        items = conditions.get(key) or []
        if not isinstance(items, list) or not all(isinstance(c, Mapping) and "field" in c for c in items):
            raise invalid(f"Conditions: `{key}` must be a list of {{field, operator, value}}")
        checked[key] = [dict(c) for c in items]
    return checked


def _apply_webhook_changes(webhook: Record, changes: Mapping[str, Any]) -> None:
    """Apply webhook attributes and check the result; 400 like Zendesk's webhooks API."""
    for key in (
        "name",
        "description",
        "status",
        "endpoint",
        "http_method",
        "request_format",
        "subscriptions",
        "authentication",
        "custom_headers",
    ):
        if key in changes:
            webhook[key] = changes[key]
    problems = [
        key
        for key, ok in (
            ("name", isinstance(webhook["name"], str) and bool(webhook["name"].strip())),
            ("status", webhook["status"] in WEBHOOK_STATUSES),
            ("endpoint", isinstance(webhook["endpoint"], str) and bool(re.match(r"https?://", webhook["endpoint"]))),
            ("http_method", webhook["http_method"] in WEBHOOK_METHODS),
            ("request_format", webhook["request_format"] in CONTENT_TYPES),
            ("subscriptions", isinstance(webhook["subscriptions"], list)),
        )
        if not ok
    ]
    if problems:
        raise bad_request(f"Invalid or missing webhook attributes: {', '.join(problems)}")


def _authentication_headers(authentication: object) -> dict[str, str]:
    """Headers for a webhook's bearer token, basic auth or API key."""
    if not isinstance(authentication, Mapping):
        return {}
    data = authentication.get("data") or {}
    kind = authentication.get("type")
    if kind == "bearer_token":
        return {"Authorization": f"Bearer {data.get('token', '')}"}
    if kind == "basic_auth":
        pair = f"{data.get('username', '')}:{data.get('password', '')}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    if kind == "api_key":
        return {str(data.get("name", "X-Api-Key")): str(data.get("value", ""))}
    return {}


def _new_secret() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _ulid(now: float) -> str:
    """A ULID (26 Crockford base-32 characters: 48-bit milliseconds, 80 random bits)."""
    value = (int(now * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -5, -5))
