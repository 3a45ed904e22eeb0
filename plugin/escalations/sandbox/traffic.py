"""What stands between an API request and the account: injected faults and rate limits."""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

HANG_SECONDS = 30.0
RATE_WINDOW_SECONDS = 60.0

FaultStatus = int | Literal["hang"]


@dataclass
class Fault:
    """An injected failure answering matching API requests instead of the account."""

    status: FaultStatus
    remaining: int | None
    expires_at: float | None
    method: str | None
    path_pattern: re.Pattern[str] | None
    retry_after: int | None
    body_format: Literal["json", "html"]

    def matches(self, method: str, path: str, now: float) -> bool:
        """True when this fault is still live and applies to the request."""
        if self.expires_at is not None and now >= self.expires_at:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_pattern is None or self.path_pattern.search(path) is not None


class FaultPlan:
    """The faults injected so far, consumed request by request."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._release = threading.Event()

    def add(
        self,
        *,
        status: FaultStatus,
        count: int | None,
        seconds: float | None,
        method: str | None,
        path_regex: str | None,
        retry_after: int | None,
        body_format: Literal["json", "html"],
    ) -> None:
        """Answer the next `count` matching requests (or all for `seconds`) with `status`."""
        if status != "hang" and not 400 <= status <= 599:
            raise ValueError(f"a fault must be an HTTP error status or 'hang', not {status!r}")
        fault = Fault(
            status=status,
            remaining=count,
            expires_at=None if seconds is None else self._clock() + seconds,
            method=method,
            path_pattern=None if path_regex is None else re.compile(path_regex),
            retry_after=retry_after,
            body_format=body_format,
        )
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Remove every fault and let hanging requests answer now."""
        with self._lock:
            self._faults.clear()
        self.release_hanging()

    def release_hanging(self) -> None:
        """Wake requests that are hanging so they answer immediately."""
        with self._lock:
            released, self._release = self._release, threading.Event()
        released.set()

    def take(self, method: str, path: str) -> Fault | None:
        """The first live fault matching this request, counting it as used."""
        now = self._clock()
        with self._lock:
            self._faults = [f for f in self._faults if f.expires_at is None or now < f.expires_at]
            for fault in self._faults:
                if fault.matches(method, path, now):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def hang(self) -> None:
        """Block like an unresponsive server, until 30 s pass or the faults are released."""
        with self._lock:
            release = self._release
        release.wait(HANG_SECONDS)


@dataclass(frozen=True)
class RateVerdict:
    """Whether a request is within the limits, and the headers describing them."""

    retry_after: int | None
    headers: dict[str, str] = field(default_factory=dict)


# Endpoints with a budget of their own, which also count toward the account's budget. Incremental
# exports: 10 a minute, 30 with the High Volume add-on
# (developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/, "Rate limits");
# search export: 100 a minute (spec, ExportSearchResults, "Limits"). Zendesk documents a
# `zendesk-ratelimit-<name>` header for ticket list endpoints only (`tickets-index`), none for these:
# the sandbox describes them in such a header only when a test asks (`endpoint_headers`), so that the
# product is tried both ways.
INCREMENTAL_EXPORTS = "incremental-exports"
SEARCH_EXPORT = "search-export"
ENDPOINT_LIMITS: dict[str, int] = {INCREMENTAL_EXPORTS: 10, SEARCH_EXPORT: 100}
ENDPOINT_HEADER_PREFIX = (
    "zendesk-ratelimit-"  # as in "zendesk-ratelimit-tickets-index: total=100; remaining=99; resets=41"
)
_ENDPOINTS = (
    (INCREMENTAL_EXPORTS, re.compile(r"/api/v2/incremental/.+")),
    (SEARCH_EXPORT, re.compile(r"/api/v2/search/export(\.json)?")),
)


def endpoint_budget(method: str, path: str) -> str | None:
    """The name of the endpoint budget a request counts against, if any."""
    if method.upper() != "GET":
        return None
    return next((name for name, pattern in _ENDPOINTS if pattern.fullmatch(path)), None)


class RateLimiter:
    """Sliding 60 s windows: all requests, ticket updates, and each endpoint with its own budget.

    The account-wide and ticket-update limits are off unless configured; the endpoint
    budgets start at Zendesk's numbers (ENDPOINT_LIMITS). None means unlimited. The
    answers describe an endpoint budget in its own header only with `endpoint_headers`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.requests_per_minute: int | None = None
        self.updates_per_minute: int | None = None
        self.endpoint_limits: dict[str, int | None] = dict(ENDPOINT_LIMITS)
        self.endpoint_headers = False
        self._requests: deque[float] = deque()
        self._updates: deque[float] = deque()
        self._endpoints: dict[str, deque[float]] = {name: deque() for name in ENDPOINT_LIMITS}

    def configure(
        self,
        *,
        requests_per_minute: int | None,
        updates_per_minute: int | None,
        endpoint_limits: Mapping[str, int | None] | None = None,
        endpoint_headers: bool | None = None,
    ) -> None:
        """Set the limits; endpoint budgets not named in `endpoint_limits` keep theirs, and
        `endpoint_headers` stays as it is unless given."""
        with self._lock:
            self.requests_per_minute = requests_per_minute
            self.updates_per_minute = updates_per_minute
            if endpoint_headers is not None:
                self.endpoint_headers = endpoint_headers
            for name, limit in (endpoint_limits or {}).items():
                if name not in self._endpoints:
                    raise ValueError(f"no endpoint budget called {name!r}")
                self.endpoint_limits[name] = limit

    def admit(self, *, ticket_update: bool, endpoint: str | None = None) -> RateVerdict:
        """Count the request against the windows it belongs to, unless one is full.

        A refused request counts against none, as Zendesk's 429 does not spend the budget.
        """
        now = self._clock()
        with self._lock:
            windows = [(self._requests, self.requests_per_minute)]
            if ticket_update:
                windows.append((self._updates, self.updates_per_minute))
            if endpoint is not None:
                windows.append((self._endpoints[endpoint], self.endpoint_limits[endpoint]))
            limited = [(window, limit) for window, limit in windows if limit is not None]
            for window, _ in limited:
                while window and window[0] <= now - RATE_WINDOW_SECONDS:
                    window.popleft()
            full = [(window, limit) for window, limit in limited if len(window) >= limit]
            if full:
                frees_at = max(window[len(window) - limit] for window, limit in full)
                retry_after = max(1, math.ceil(frees_at + RATE_WINDOW_SECONDS - now))
                return RateVerdict(retry_after, self._headers(limited, endpoint, now))
            for window, _ in limited:
                window.append(now)
            return RateVerdict(None, self._headers(limited, endpoint, now))

    def _headers(self, limited: list[tuple[deque[float], int]], endpoint: str | None, now: float) -> dict[str, str]:
        """X-Rate-Limit for the account (or ticket-update) budget, and the endpoint budget's own header
        when asked for."""
        endpoint_window = self._endpoints[endpoint] if endpoint is not None else None
        headers = _limit_headers([(w, limit) for w, limit in limited if w is not endpoint_window])
        limit = self.endpoint_limits[endpoint] if endpoint is not None else None
        if self.endpoint_headers and endpoint is not None and endpoint_window is not None and limit is not None:
            resets = math.ceil(endpoint_window[0] + RATE_WINDOW_SECONDS - now) if endpoint_window else 0
            remaining = max(0, limit - len(endpoint_window))
            headers[f"{ENDPOINT_HEADER_PREFIX}{endpoint}"] = (
                f"total={limit}; remaining={remaining}; resets={max(0, resets)}"
            )
        return headers


def _limit_headers(limited: list[tuple[deque[float], int]]) -> dict[str, str]:
    """X-Rate-Limit headers for the tightest of the windows that apply."""
    if not limited:
        return {}
    window, limit = min(limited, key=lambda pair: pair[1] - len(pair[0]))
    return {"X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(max(0, limit - len(window)))}
