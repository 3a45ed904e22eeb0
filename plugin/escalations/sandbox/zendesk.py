"""A local, in-memory sandbox that behaves like a Zendesk Support account.

It is not Zendesk. It implements the parts of the Support API that the
escalations app uses (tickets, comments, users, groups, ticket fields,
webhooks, triggers, views, search, the ticket-events export), runs triggers
after every ticket change and delivers signed webhooks like Zendesk does, so
the app can be tested end to end, and tried by people without a Zendesk account.

:class:`SandboxZendesk` is the account: its state and behaviour, no HTTP. It is
made of one part per resource, each in its own module over the shared
:class:`~escalations.sandbox.core.AccountCore`:

- ``people``: users, groups, memberships; ``brands``: the account's brands;
- ``oauth``: OAuth clients and access tokens, bearer authentication;
- ``ticket_fields``: system and custom ticket fields;
- ``webhooks``: webhooks, signing secrets, deliveries;
- ``business_rules``: triggers and views, triggers firing;
- ``tickets``: tickets, comments, emails, ticket events;
- ``end_user_requests``: the Requests API, tickets as end-users see them;
- ``search``, ``exports``: search and the incremental ticket-event export;
- ``schedules``: business hours; ``seed``: the starting account.

This module adds the sandbox's own controls (faults, rate limits, logs, state).
:func:`create_sandbox_app` and :class:`SandboxServer` (in
``escalations.sandbox.server``, re-exported here) are its HTTP face.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from escalations.sandbox.core import Record
from escalations.sandbox.end_user_requests import EndUserRequests
from escalations.sandbox.errors import SandboxError
from escalations.sandbox.exports import IncrementalExports
from escalations.sandbox.oauth import OAuthTokens
from escalations.sandbox.schedules import Schedules
from escalations.sandbox.search import Search
from escalations.sandbox.seed import SeedData
from escalations.sandbox.server import SandboxServer, create_sandbox_app
from escalations.sandbox.ticket_fields import SYSTEM_FIELDS
from escalations.sandbox.traffic import INCREMENTAL_EXPORTS, SEARCH_EXPORT, FaultStatus


class Unchanged(enum.Enum):
    """The default of a `set_rate_limit` argument: keep that limit as it is."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED
DEFAULT_BRAND = "Acme"  # every account has a default brand

__all__ = ["SandboxError", "SandboxServer", "SandboxZendesk", "create_sandbox_app"]


class SandboxZendesk(SeedData, Search, IncrementalExports, EndUserRequests, Schedules, OAuthTokens):
    """The sandbox account: users, tickets, rules and webhooks, safe to use from many threads.

    With ``seed=True`` it starts with an admin (the API user), two agents, the groups
    "Support" and "Support Managers", a second brand ("Globex" beside the default "Acme"),
    four customers and five open tickets (the fourth of the Globex brand). With
    ``seed=False`` only the API user, the default brand and the system ticket fields exist. `time_zone` is
    the account's time zone (an IANA name), in which search reads dates.
    """

    def __init__(
        self,
        *,
        subdomain: str = "sandbox",
        email: str = "admin@sandbox.test",
        api_token: str = "sandbox-token",
        seed: bool = True,
        clock: Callable[[], datetime] | None = None,
        time_zone: str = "UTC",
    ) -> None:
        super().__init__(subdomain=subdomain, email=email, api_token=api_token, clock=clock, time_zone=time_zone)
        with self._lock:
            self._add_office_hours()
            self._add_brand(DEFAULT_BRAND, subdomain)
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

    def set_rate_limit(
        self,
        *,
        requests_per_minute: int | Unchanged | None = UNCHANGED,
        updates_per_minute: int | Unchanged | None = UNCHANGED,
        incremental_exports_per_minute: int | Unchanged | None = UNCHANGED,
        search_exports_per_minute: int | Unchanged | None = UNCHANGED,
    ) -> None:
        """Limit requests per sliding minute: all API requests, ticket updates, and the endpoints
        with a budget of their own (incremental exports, 10 by default as in Zendesk, 30 with the
        High Volume add-on; search export, 100). None is unlimited; a limit not given stays."""
        limiter = self.rate_limiter
        endpoint_limits = {
            name: limit
            for name, limit in (
                (INCREMENTAL_EXPORTS, incremental_exports_per_minute),
                (SEARCH_EXPORT, search_exports_per_minute),
            )
            if not isinstance(limit, Unchanged)
        }
        limiter.configure(
            requests_per_minute=(
                limiter.requests_per_minute if isinstance(requests_per_minute, Unchanged) else requests_per_minute
            ),
            updates_per_minute=(
                limiter.updates_per_minute if isinstance(updates_per_minute, Unchanged) else updates_per_minute
            ),
            endpoint_limits=endpoint_limits,
        )

    def describe_endpoint_budgets(self, described: bool) -> None:
        """Whether the answers of the endpoints with a budget of their own describe it in a
        `zendesk-ratelimit-<name>` header. Zendesk documents that header for ticket lists only, not for
        the exports: off unless a test asks."""
        limiter = self.rate_limiter
        limiter.configure(
            requests_per_minute=limiter.requests_per_minute,
            updates_per_minute=limiter.updates_per_minute,
            endpoint_headers=described,
        )

    def record_request(self, method: str, path: str, query: str, status: int, credentials: str = "") -> None:
        """Log an API request the HTTP face served, with the kind of credentials it came with."""
        with self._lock:
            self._requests.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "status": status,
                    "credentials": credentials,
                    "at": self._iso_now(),
                }
            )

    def requests_log(self) -> list[Record]:
        """Every API request served: method, path (no query string), query, status, credentials (api_token,
        oauth, session or '' for none), at."""
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
            "incremental_exports_per_minute": self.rate_limiter.endpoint_limits[INCREMENTAL_EXPORTS],
            "search_exports_per_minute": self.rate_limiter.endpoint_limits[SEARCH_EXPORT],
            "endpoint_budget_headers": self.rate_limiter.endpoint_headers,
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
                    "brands": list(self._brands.values()),
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
                    "brands": list(self._brands.values()),
                    "oauth_clients": list(self._oauth_clients.values()),
                    "oauth_tokens": list(self._oauth_tokens.values()),
                    "tickets": list(self._tickets.values()),
                    "deleted_tickets": list(self._deleted_tickets.values()),
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
            self._brands = {b["id"]: b for b in saved.get("brands", self._brands.values())}
            self._oauth_clients = {c["id"]: c for c in saved.get("oauth_clients", [])}
            self._oauth_tokens = {t["id"]: t for t in saved.get("oauth_tokens", [])}
            self._tickets = {t["id"]: t for t in saved["tickets"]}
            self._deleted_tickets = {t["id"]: t for t in saved.get("deleted_tickets", [])}
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
