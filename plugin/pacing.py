"""Proactive pacing of Zendesk API calls, so that the service never spends the budget the agents share.

Zendesk counts every API call against an account-wide budget (200 to 2,500
requests a minute, by plan) and every ticket update against a second one (100
a minute per account, agents' updates in the agent interface included). Its
answers say what is left: `X-Rate-Limit` / `X-Rate-Limit-Remaining`,
`ratelimit-limit` / `ratelimit-remaining` / `ratelimit-reset`, and for some
endpoints `zendesk-ratelimit-<name>: total=100; remaining=99; resets=41`.

`PacedSession` is the requests session Zenpy uses. Before each call it books a
slot with the process-wide `Pacer` (shared by every session and thread of the
process) and sleeps until then; after each answer it reports the headers back.
For each budget a call counts against:

- what others (agents, other integrations, other instances) used is the used
  part of the last reading minus our own calls in the window; our allowance is
  the limit less RESERVE (20 %) less that, and our calls in any window stay
  within it: alone on the account the service uses at most 80 %, and when
  agents use more it yields, down to one probing call every 15 s when they use
  everything but the reserve;
- while at least half of the budget is left, calls go out at once; below
  that they are spread out, the more the less is left (see `spacing`);
- ticket updates also count against the process's own budget of
  ZENDESK_TICKET_UPDATES_PER_MINUTE (default 100, 300 with the High Volume
  add-on), whether or not Zendesk's answers describe the update limit;
- a 429's `Retry-After` holds back every thread of the process, not only the
  one that got it (Zenpy then retries the call, as before).

Only the worker and the admin commands call Zendesk; the webhook route never
does, so pacing never delays an answer to Zendesk's webhook. A single wait is
capped at MAX_WAIT so that a job holding its ticket's lock cannot stall.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0  # Zendesk's budgets are per minute
UPDATES_PER_MINUTE = 100  # Zendesk's Update Ticket limit per account (300 with the High Volume add-on)
RESERVE = 0.2  # the share of each budget left to agents and other integrations
SLOW_BELOW = 0.5  # calls are spread out once less than this share of a budget is left
MAX_WAIT = 60.0  # the longest a single call waits for its turn

_TICKET_UPDATE_PATH = re.compile(r"/api/v2/tickets/\d+(\.json)?")
_ENDPOINT_HEADER = "zendesk-ratelimit-"


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


def read_budget(headers: Mapping[str, str]) -> Budget | None:
    """The tightest budget an answer's headers describe, or None when they describe none.

    `headers` must look names up case-insensitively, as requests' headers do.
    """
    budgets = [
        _budget(headers.get("X-Rate-Limit"), headers.get("X-Rate-Limit-Remaining"), None),
        _budget(headers.get("ratelimit-limit"), headers.get("ratelimit-remaining"), headers.get("ratelimit-reset")),
    ]
    for name, value in headers.items():
        if name.lower().startswith(_ENDPOINT_HEADER):
            parts = {key.strip(): val.strip() for key, _, val in (part.partition("=") for part in value.split(";"))}
            budgets.append(_budget(parts.get("total"), parts.get("remaining"), parts.get("resets")))
    known = [budget for budget in budgets if budget is not None]
    return min(known, key=lambda budget: (budget.share_left, budget.remaining)) if known else None


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


def spacing(
    limit: int,
    remaining: int,
    *,
    window: float = WINDOW_SECONDS,
    reserve: float = RESERVE,
    slow_below: float = SLOW_BELOW,
) -> float:
    """Seconds to leave between two calls when `remaining` of `limit` calls per `window` are left.

    None while at least `slow_below` of the budget is left. Below that the gap
    is window · kept / ((limit − kept) · remaining), with kept = reserve · limit:
    at `kept` calls left it is exactly the rate that holds a sliding window
    steady at `kept` left, so a service alone on the account settles there;
    with less left it slows down in proportion (one call per 15 s at the
    last one, with the defaults), with more it speeds up.
    """
    if limit <= 1:
        return window
    if remaining >= slow_below * limit:
        return 0.0
    kept = min(max(1.0, reserve * limit), limit - 1.0)
    return window * kept / ((limit - kept) * max(remaining, 1))


@dataclass(frozen=True)
class _Reading:
    """A budget Zendesk reported, when, and how much of what was spent was not ours."""

    budget: Budget
    read_at: float
    others: int


class Pacer:
    """Books a slot for every Zendesk call of the process; thread-safe, clock and window injectable.

    For each budget that applies to a call it keeps our own use within an
    allowance, limit − reserve − what others (agents, other integrations) used
    in the last reading, and spreads calls out with `spacing` as the estimated
    remainder, limit − others − ours in the window, shrinks. Our own use is
    the list of slots booked in the last window, so the estimate recovers by
    itself as our calls age out of it. Ticket updates are also held to the
    process's own allowance of UPDATES_PER_MINUTE, whatever the headers say.
    """

    def __init__(
        self,
        *,
        updates_per_minute: int = UPDATES_PER_MINUTE,
        window: float = WINDOW_SECONDS,
        reserve: float = RESERVE,
        slow_below: float = SLOW_BELOW,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.updates_per_minute = updates_per_minute
        self.window = window
        self.reserve = reserve
        self.slow_below = slow_below
        self.max_wait = max_wait
        self.clock = clock
        self._lock = threading.Lock()
        self._slots: list[float] = []  # every call booked in the last window (some maybe ahead), sorted
        self._own_updates: list[float] = []  # the ticket updates among them
        self._readings: dict[bool, _Reading] = {}  # by "was the answer to a ticket update"
        self._blocked_until = -math.inf

    def book(self, ticket_update: bool) -> float:
        """Book the next slot for a call; return the seconds to wait before making it (0: go now)."""
        with self._lock:
            now = self.clock()
            for slots in (self._slots, self._own_updates):
                del slots[: bisect.bisect_right(slots, now - self.window)]
            budgets = self._budgets(ticket_update, now)
            at = max(now, self._blocked_until)
            for _ in range(len(self._slots) + 2):
                moved = at
                for limit, others, slots in budgets:
                    moved = max(moved, self._allowance_frees_at(limit, others, slots, now))
                    moved = _first_free(slots, moved, self._spacing(limit, limit - others - len(slots)))
                if moved == at:
                    break
                at = moved
            at = min(at, now + self.max_wait)
            bisect.insort(self._slots, at)
            if ticket_update:
                bisect.insort(self._own_updates, at)
            return at - now

    def observe(self, status: int, headers: Mapping[str, str], ticket_update: bool) -> None:
        """Take in what an answer says about the budgets; a 429 holds back every call for its Retry-After."""
        budget = read_budget(headers)
        with self._lock:
            now = self.clock()
            if budget is not None:
                slots = self._own_updates if ticket_update else self._slots
                ours = bisect.bisect_right(slots, now) - bisect.bisect_right(slots, now - self.window)
                others = max(0, budget.limit - budget.remaining - ours)
                self._readings[ticket_update] = _Reading(budget, now, others)
            if status == 429:
                wait = retry_after(headers)
                if wait is not None:
                    self._blocked_until = max(self._blocked_until, now + wait)

    def _budgets(self, ticket_update: bool, now: float) -> list[tuple[int, int, list[float]]]:
        """The budgets a call counts against: (limit, used by others, our slots against it)."""
        budgets = []
        for answers_to_updates in (False, True) if ticket_update else (False,):
            reading = self._readings.get(answers_to_updates)
            if reading is None:
                continue
            resets_in = reading.budget.resets_in
            if now - reading.read_at > (self.window if resets_in is None else min(self.window, resets_in)):
                continue  # stale: the window has moved on since
            budgets.append(
                (reading.budget.limit, reading.others, self._own_updates if answers_to_updates else self._slots)
            )
        if ticket_update:
            budgets.append((self.updates_per_minute, 0, self._own_updates))
        return budgets

    def _allowance_frees_at(self, limit: int, others: int, slots: list[float], now: float) -> float:
        """When our use of a budget is back under our allowance: limit − reserve − others."""
        allowance = limit - math.ceil(self.reserve * limit) - others
        if allowance < 1:  # others use up everything but the reserve: only probe, slowly
            return now + self._spacing(limit, 0)
        if len(slots) < allowance:
            return -math.inf
        return slots[-allowance] + self.window

    def _spacing(self, limit: int, remaining: int) -> float:
        return spacing(limit, remaining, window=self.window, reserve=self.reserve, slow_below=self.slow_below)


def _first_free(slots: list[float], start: float, gap: float) -> float:
    """The earliest time from `start` that is at least `gap` away from every slot in `slots` (sorted)."""
    if gap <= 0:
        return start
    at = start
    for slot in slots[bisect.bisect_right(slots, at - gap) :]:
        if slot >= at + gap:
            break
        at = slot + gap
    return at


_shared: Pacer | None = None
_shared_lock = threading.Lock()


def shared_pacer() -> Pacer:
    """The process's pacer, created on first use from ZENDESK_TICKET_UPDATES_PER_MINUTE."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Pacer(updates_per_minute=_updates_per_minute(os.environ.get("ZENDESK_TICKET_UPDATES_PER_MINUTE")))
        return _shared


def _updates_per_minute(value: str | None) -> int:
    text = (value or "").strip()
    if not text:
        return UPDATES_PER_MINUTE
    if not text.isdigit() or int(text) < 1:
        log.warning("ZENDESK_TICKET_UPDATES_PER_MINUTE must be a whole number >= 1; using %d", UPDATES_PER_MINUTE)
        return UPDATES_PER_MINUTE
    return int(text)


class PacedSession(requests.Session):
    """A plain requests session (no retries) that waits its turn with the process's pacer before each call."""

    def __init__(self, pacer: Pacer | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self.pacer = pacer if pacer is not None else shared_pacer()
        self._sleep = sleep

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        address = url.decode() if isinstance(url, bytes) else url
        update = is_ticket_update(method, address)
        wait = self.pacer.book(update)
        if wait > 0:
            log.debug("pacing: %s %s waits %.2f s for its turn", method, urlsplit(address).path, wait)
            self._sleep(wait)
        response = super().request(method, url, *args, **kwargs)
        self.pacer.observe(response.status_code, response.headers, update)
        return response
