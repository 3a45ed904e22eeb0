"""Zendesk's rate limits as its answers describe them: pure readings, for the pacing.

Which budgets a call counts against (`classify`: the account, ticket updates, an endpoint with a documented
limit of its own), the budgets an answer's headers describe, a 429's `Retry-After`, and which budget a 429
belongs to (`budget_of_429`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from escalations.zendesk.api_calls import endpoint_of

ACCOUNT = "account"
TICKET_UPDATES = "ticket updates"

_TICKET_UPDATE_PATH = re.compile(r"/api/v2/tickets/\d+(\.json)?")
_ENDPOINT_HEADER = "zendesk-ratelimit-"


@dataclass(frozen=True)
class EndpointLimit:
    """An endpoint with a documented budget of its own, counted apart from the account's."""

    name: str
    path: re.Pattern[str]
    per_minute: int


ENDPOINT_LIMITS = (
    EndpointLimit("incremental exports", re.compile(r"/api/v2/incremental/"), 10),
    EndpointLimit("search export", re.compile(r"/api/v2/search/export(\.json)?$"), 100),
)


@dataclass(frozen=True)
class Call:
    """What pacing knows of an API call: whether it updates a ticket, and its endpoint's own budget."""

    ticket_update: bool
    endpoint: str  # a documented limit's name, or the path with its ids taken out
    endpoint_limit: int | None = None  # the endpoint's documented calls per minute, when it has a limit

    @property
    def endpoint_budget(self) -> str:
        return f"endpoint {self.endpoint}"

    @property
    def budgets(self) -> tuple[str, ...]:
        """Every budget the call counts against."""
        return (
            (ACCOUNT, TICKET_UPDATES, self.endpoint_budget) if self.ticket_update else (ACCOUNT, self.endpoint_budget)
        )


@dataclass(frozen=True)
class Budget:
    """What an answer says is left of a budget: `remaining` of `limit` calls, maybe when it resets."""

    limit: int
    remaining: int
    resets_in: float | None = None

    @property
    def share_left(self) -> float:
        return self.remaining / self.limit


def is_ticket_update(method: str, url: str) -> bool:
    """True for `PUT /api/v2/tickets/<id>.json`, the call Zendesk's Update Ticket limit counts."""
    return method.upper() == "PUT" and _TICKET_UPDATE_PATH.fullmatch(urlsplit(url).path) is not None


def classify(method: str, url: str, limits: tuple[EndpointLimit, ...] = ENDPOINT_LIMITS) -> Call:
    """The budgets a call to `url` counts against."""
    path = urlsplit(url).path
    limit = next((limit for limit in limits if limit.path.search(path)), None)
    if limit is not None:
        return Call(is_ticket_update(method, url), limit.name, limit.per_minute)
    return Call(is_ticket_update(method, url), endpoint_of(path))


def read_account_budget(headers: Mapping[str, str]) -> Budget | None:
    """The account-wide budget an answer describes (the tighter spelling if both), or None.

    `headers` must look names up case-insensitively, as requests' headers do.
    """
    known = [
        budget
        for budget in (
            _budget(headers.get("X-Rate-Limit"), headers.get("X-Rate-Limit-Remaining"), None),
            _budget(headers.get("ratelimit-limit"), headers.get("ratelimit-remaining"), headers.get("ratelimit-reset")),
        )
        if budget is not None
    ]
    return _tightest(known)


def read_endpoint_budget(headers: Mapping[str, str]) -> Budget | None:
    """The endpoint's own budget an answer describes in `zendesk-ratelimit-<name>` headers, or None."""
    known = []
    for name, value in headers.items():
        if name.lower().startswith(_ENDPOINT_HEADER):
            parts = {key.strip(): val.strip() for key, _, val in (part.partition("=") for part in value.split(";"))}
            budget = _budget(parts.get("total"), parts.get("remaining"), parts.get("resets"))
            if budget is not None:
                known.append(budget)
    return _tightest(known)


def _tightest(budgets: list[Budget]) -> Budget | None:
    return min(budgets, key=lambda budget: (budget.share_left, budget.remaining)) if budgets else None


def _budget(limit: str | None, remaining: str | None, resets_in: str | None) -> Budget | None:
    try:
        total, left = int(str(limit).strip()), int(str(remaining).strip())
    except ValueError:
        return None
    if total <= 0:
        return None
    return Budget(total, max(0, min(left, total)), _seconds(resets_in))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds a `Retry-After` header asks for, when it gives a number."""
    return _seconds(headers.get("Retry-After"))


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def budget_of_429(call: Call, headers: Mapping[str, str]) -> str:
    """The budget a 429 answer to `call` belongs to, so that only the calls counting against it wait.

    - the endpoint's own header says it is spent: the endpoint's budget;
    - a ticket update: the update budget;
    - a call to an endpoint with a documented limit of its own: that budget;
    - any other call: the account.

    An update's or a limited endpoint's answer may describe its own budget in
    the account's headers, so those do not decide for them: were the account
    spent, the other calls would meet their own 429 and hold it back then.
    """
    endpoint = read_endpoint_budget(headers)
    if endpoint is not None and endpoint.remaining == 0:
        return call.endpoint_budget
    return described_by_account_headers(call)


def described_by_account_headers(call: Call) -> str:
    """The budget the account's headers on an answer to `call` are taken to describe.

    The answer to an update, or to an endpoint with a limit of its own, may
    describe that budget in the account's headers (the tightest that applies):
    kept apart, such a reading slows those calls only, never the rest.
    """
    if call.ticket_update:
        return TICKET_UPDATES
    if call.endpoint_limit is not None:
        return call.endpoint_budget
    return ACCOUNT
