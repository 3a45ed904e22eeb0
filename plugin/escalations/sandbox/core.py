"""What every part of the sandbox account shares: its state, one lock, ids and the clock.

Each resource of the account (people, ticket fields, webhooks, triggers and
views, tickets, ...) lives in its own module as a part of
:class:`~escalations.sandbox.zendesk.SandboxZendesk`; they all inherit
:class:`AccountCore`, so they read and write the same state under the same
lock. Methods whose name starts with ``_`` expect the caller to hold
``self._lock``; public methods take it themselves.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo

from escalations.sandbox.errors import record_invalid
from escalations.sandbox.traffic import FaultPlan, RateLimiter

Record = dict[str, Any]
BusinessRuleKind = Literal["trigger", "view"]

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ACCOUNT_ID = 9000001


class AccountCore:
    """The account's state and the means to change it safely from many threads."""

    def __init__(
        self,
        *,
        subdomain: str,
        email: str,
        api_token: str,
        clock: Callable[[], datetime] | None,
        time_zone: str = "UTC",
    ) -> None:
        self.subdomain = subdomain
        # The account's time zone (an IANA name): search reads a bare date as a day in it.
        self.time_zone: tzinfo = UTC if time_zone == "UTC" else ZoneInfo(time_zone)
        self.email = email
        self.api_token = api_token
        self.latency = 0.0
        self.webhook_delivery_enabled = True
        self.faults = FaultPlan()
        self.rate_limiter = RateLimiter()
        self.api_user_id = 0
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._deliveries_settled = threading.Condition(self._lock)
        self._deliveries_in_flight = 0
        self._last_id = 10000
        self._last_ticket_id = 0
        self._users: dict[int, Record] = {}
        self._groups: dict[int, Record] = {}
        self._brands: dict[int, Record] = {}
        self._oauth_clients: dict[int, Record] = {}
        self._oauth_tokens: dict[int, Record] = {}
        self._memberships: dict[int, Record] = {}
        self._tickets: dict[int, Record] = {}
        self._deleted_tickets: dict[int, Record] = {}
        self._comments: dict[int, list[Record]] = {}
        self._schedules: list[Record] = []
        self._schedule_holidays: dict[int, list[Record]] = {}
        self._ticket_fields: dict[int, Record] = {}
        self._webhooks: dict[str, Record] = {}
        self._signing_secrets: dict[str, str] = {}
        self._business_rules: dict[BusinessRuleKind, dict[int, Record]] = {"trigger": {}, "view": {}}
        self._ticket_events: list[Record] = []
        self._emails: list[Record] = []
        self._deliveries: list[Record] = []
        self._requests: list[Record] = []

    def _refuse_problems(self, problems: list[tuple[str, str]]) -> None:
        """Refuse with 422 RecordInvalid what Zendesk refuses: `problems` are (rule, description) pairs."""
        if problems:
            raise record_invalid([description for _, description in problems])

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


@functools.lru_cache(maxsize=16_384)  # a search reads each ticket's, again for every page of an export
def parse_time(stamp: str) -> datetime:
    """A timestamp as the API writes it (``2026-11-27T15:00:00Z``), as an aware datetime."""
    return datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
