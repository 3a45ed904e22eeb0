"""Proactive pacing of Zendesk API calls, each budget apart, so that the service never spends what agents share.

Zendesk counts API calls against several budgets, and a 429 from one says
nothing about the others:

- the account: every call (200 to 2,500 requests a minute, by plan), described
  by `X-Rate-Limit` / `X-Rate-Limit-Remaining` (or `ratelimit-limit` /
  `ratelimit-remaining` / `ratelimit-reset`) on every answer;
- ticket updates: 100 a minute per account (300 with the High Volume add-on),
  agents' updates in the agent interface included;
- endpoints with a limit of their own: the incremental exports
  (`/api/v2/incremental/…`, 10 a minute, 30 with High Volume) and the search
  export (`/api/v2/search/export`, 100 a minute), among others. Zendesk
  documents a `zendesk-ratelimit-<name>: total=N; remaining=M; resets=S`
  header for ticket list endpoints (`tickets-index`), none for the exports:
  such a header is read wherever it comes, and the exports are held to their
  documented limits without it.

`PacedSession` is the requests session Zenpy uses. Before each call it books a
slot with the process-wide `Pacer` (shared by every session and thread of the
process) and waits until then; after each answer it reports the headers back.
For each budget a call counts against:

- what others (agents, other integrations, other instances) used is the used
  part of the last reading minus our own calls in the window; our allowance is
  the limit less RESERVE (20 %) less that, and our calls in any window stay
  within it: alone on the account the service uses at most 80 %, and when
  agents use more it yields, down to one probing call every 15 s when they use
  everything but the reserve;
- while at least half of the budget is left, calls go out at once; below
  that they are spread out, the more the less is left (see `spacing`);
- ticket updates count against an allowance of
  ZENDESK_TICKET_UPDATES_PER_MINUTE, and calls to an endpoint with a
  documented limit against that limit, whether or not the answers describe
  them: the sweep reads the incremental export at most 8 times a minute at
  any sweep interval, and never meets its 429. Those budgets are the
  account's: with REDIS_URL they are counted for every host that shares the
  Redis (`SharedBudgets`), without it by the process;
- a 429's `Retry-After` holds back the calls that count against the budget it
  came from (`rate_limits.budget_of_429`), not the others: a rate-limited export holds
  back the sweep's next export, never a ticket's reads and writes. (Zenpy
  then retries the call, as before.)

Only the worker and the admin commands call Zendesk; the webhook route never
does, so pacing never delays an answer to Zendesk's webhook. A single wait is
capped at MAX_WAIT so that a job holding its ticket's lock cannot stall, and
`stop_waiting` ends every wait at once when the worker is asked to stop.
"""

from __future__ import annotations

import bisect
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from escalations.config import UPDATES_PER_MINUTE
from escalations.zendesk.rate_limits import (
    TICKET_UPDATES,
    Budget,
    Call,
    budget_of_429,
    classify,
    described_by_account_headers,
    read_account_budget,
    read_endpoint_budget,
    retry_after,
)

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0  # Zendesk's budgets are per minute
RESERVE = 0.2  # the share of each budget left to agents and other integrations
SLOW_BELOW = 0.5  # calls are spread out once less than this share of a budget is left
MAX_WAIT = 60.0  # the longest a single call waits for its turn
# A call reaches Zendesk a little after the time booked for it (the sleep's overshoot, the way there), and
# Zendesk counts it when it arrives: a slot holds its place in the allowance for this share of the window (1 s
# of a minute) past the window, so that calls booked a window apart never arrive less than a window apart.
ARRIVAL_MARGIN = 1.0 / 60


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
    the list of slots booked in the last window against that budget, so the
    estimate recovers by itself as our calls age out of it. Ticket updates and
    endpoints with a documented limit are also held to that limit, whatever
    the headers say.
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
        shared: SharedBudgets | None = None,
    ) -> None:
        self.updates_per_minute = updates_per_minute
        self.window = window
        self.reserve = reserve
        self.slow_below = slow_below
        self.max_wait = max_wait
        self.clock = clock
        self.shared = shared  # the budgets with a documented limit, counted for every host sharing a Redis
        self._lock = threading.Lock()
        self._slots: dict[str, list[float]] = {}  # by budget: our calls booked in the last window (some ahead)
        self._readings: dict[str, _Reading] = {}  # by budget, the last reading of it
        self._blocked_until: dict[str, float] = {}  # by budget, after a 429

    def book(self, call: Call) -> float:
        """Book the next slot for a call; return the seconds to wait before making it (0: go now)."""
        with self._lock:
            now = self.clock()
            for name in call.budgets:
                slots = self._slots.setdefault(name, [])
                del slots[: bisect.bisect_right(slots, now - self.window * (1 + ARRIVAL_MARGIN))]
            budgets = self._budgets(call, now)
            at = max([now, *(self._blocked_until.get(name, -math.inf) for name in call.budgets)])
            for _ in range(sum(len(slots) for _, _, slots in budgets) + 2):
                moved = at
                for limit, others, slots in budgets:
                    moved = max(moved, self._allowance_frees_at(limit, others, slots, now))
                    moved = _first_free(slots, moved, self._spacing(limit, limit - others - len(slots)))
                if moved == at:
                    break
                at = moved
            at = min(at, now + self.max_wait)
            shared = self._shared_limit(call)
            if shared is not None and self.shared is not None:
                at = now + self.shared.book(shared[0], shared[1], at - now, self)
            for name in call.budgets:
                bisect.insort(self._slots[name], at)
            return at - now

    def _shared_limit(self, call: Call) -> tuple[str, int] | None:
        """The budget of `call` counted across hosts, with its limit: ticket updates, or an endpoint's own."""
        if call.ticket_update:
            return TICKET_UPDATES, self.updates_per_minute
        if call.endpoint_limit is not None:
            return call.endpoint_budget, call.endpoint_limit
        return None

    def observe(self, call: Call, status: int, headers: Mapping[str, str]) -> None:
        """Take in what an answer says about the budgets; a 429 holds back the calls of its budget only."""
        account, endpoint = read_account_budget(headers), read_endpoint_budget(headers)
        with self._lock:
            now = self.clock()
            if account is not None:
                self._read(described_by_account_headers(call), account, now)
            if endpoint is not None:
                self._read(call.endpoint_budget, endpoint, now)
            wait = retry_after(headers) if status == 429 else None
            if wait is not None:
                name = budget_of_429(call, headers)
                self._blocked_until[name] = max(self._blocked_until.get(name, -math.inf), now + wait)
                log.info("pacing: Zendesk's %s budget is spent; its calls wait %.0f s", name, wait)
                shared = self._shared_limit(call)
                if self.shared is not None and shared is not None and shared[0] == name:
                    self.shared.hold_back(name, wait)

    def _read(self, name: str, budget: Budget, now: float) -> None:
        slots = self._slots.get(name, [])
        ours = bisect.bisect_right(slots, now) - bisect.bisect_right(slots, now - self.window)
        self._readings[name] = _Reading(budget, now, max(0, budget.limit - budget.remaining - ours))

    def _budgets(self, call: Call, now: float) -> list[tuple[int, int, list[float]]]:
        """The budgets a call counts against: (limit, used by others, our slots against it)."""
        budgets = []
        for name in call.budgets:
            slots = self._slots[name]
            reading = self._readings.get(name)
            if reading is not None:
                resets_in = reading.budget.resets_in
                age_limit = self.window if resets_in is None else min(self.window, resets_in)
                if now - reading.read_at <= age_limit:  # a reading older than that describes a window gone by
                    budgets.append((reading.budget.limit, reading.others, slots))
            if name == TICKET_UPDATES:
                budgets.append((self.updates_per_minute, 0, slots))
            elif name == call.endpoint_budget and call.endpoint_limit is not None:
                budgets.append((call.endpoint_limit, 0, slots))
        return budgets

    def _allowance_frees_at(self, limit: int, others: int, slots: list[float], now: float) -> float:
        """When our use of a budget is back under our allowance: limit − reserve − others."""
        allowance = limit - math.ceil(self.reserve * limit) - others
        if allowance < 1:  # others use up everything but the reserve: only probe, slowly
            return now + self._spacing(limit, 0)
        if len(slots) < allowance:
            return -math.inf
        return slots[-allowance] + self.window * (1 + ARRIVAL_MARGIN)

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


# Put before each script below (as registered): `now` is ARGV[1] when the caller gives it (the tests' fake
# clock), else Redis's TIME.
_NOW = """
local now
if ARGV[1] == '' then
  local t = redis.call('time')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
"""

# Book a slot for one call against one budget with a documented limit, for every host: the same rules as
# `Pacer.book` for such a budget (the allowance, limit less the reserve, in any sliding window, and `spacing`
# as the window fills), over the slots every host has booked, kept in a sorted set by time. Times are Redis's
# own (TIME) unless the caller gives one (the tests' fake clock), so that the hosts' clocks do not matter.
# KEYS: the budget's slots, the time until which a 429 holds it back.
# ARGV: now or "", the caller's own earliest delay, limit, window, reserve, slow_below, max_wait, the margin past
# the window (ARRIVAL_MARGIN, in seconds), a unique member.
_BOOK = """
local delay, limit, window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local reserve, slow_below, max_wait = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local margin = tonumber(ARGV[8])
redis.call('zremrangebyscore', KEYS[1], '-inf', tostring(now - window - margin))
local booked = redis.call('zrange', KEYS[1], 0, -1, 'WITHSCORES')
local slots = {}
for i = 2, #booked, 2 do slots[#slots + 1] = tonumber(booked[i]) end
local function spacing(remaining)
  if limit <= 1 then return window end
  if remaining >= slow_below * limit then return 0 end
  local kept = math.min(math.max(1.0, reserve * limit), limit - 1.0)
  return window * kept / ((limit - kept) * math.max(remaining, 1))
end
local at = now + delay
local held = tonumber(redis.call('get', KEYS[2]) or '-1')
if held > at then at = held end
local allowance = limit - math.ceil(reserve * limit)
if allowance < 1 then
  at = math.max(at, now + spacing(0))
elseif #slots >= allowance then
  at = math.max(at, slots[#slots - allowance + 1] + window + margin)
end
local gap = spacing(limit - #slots)
if gap > 0 then
  local from = at - gap
  for i = 1, #slots do
    if slots[i] > from then
      if slots[i] >= at + gap then break end
      at = slots[i] + gap
    end
  end
end
if at > now + max_wait then at = now + max_wait end
redis.call('zadd', KEYS[1], at, ARGV[9])
redis.call('pexpire', KEYS[1], math.ceil((at - now + window + margin) * 1000))
return string.format('%.17g', at - now)
"""
# A 429's Retry-After, for every host: KEYS: the time until which the budget is held back; ARGV: now or "", seconds.
_HOLD_BACK = """
local until_ = now + tonumber(ARGV[2])
if until_ > tonumber(redis.call('get', KEYS[1]) or '-1') then
  redis.call('set', KEYS[1], tostring(until_), 'px', math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
end
return 0
"""


class SharedBudgets:
    """The budgets with a documented limit, counted in Redis across every host that shares it.

    Ticket updates (ZENDESK_TICKET_UPDATES_PER_MINUTE), the incremental
    exports and the search export are the account's, whichever host calls:
    each booking goes through one Lua script (atomic) that applies the
    pacer's rules over the slots every host has booked, as a sliding window
    (a sorted set of booked times): N hosts together stay within the limit
    less the reserve in any 60 s, as one process does. A 429 on one of them
    holds the others back as well. When Redis cannot be reached, a booking is
    the process's own, as without Redis.
    """

    def __init__(self, url: str, prefix: str = "escalations.pacing", clock: Callable[[], float] | None = None) -> None:
        import redis  # only where the budgets are shared

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self.clock = clock  # None: Redis's own time
        self._book = self.client.register_script(_NOW + _BOOK)
        self._hold_back = self.client.register_script(_NOW + _HOLD_BACK)
        self._errors = redis.exceptions.RedisError

    def book(self, budget: str, limit: int, delay: float, pacer: Pacer) -> float:
        """The seconds to wait from now, no fewer than `delay` (the process's own pacing), for a call against
        `budget` with all hosts' calls counted."""
        now = "" if self.clock is None else repr(self.clock())
        margin = pacer.window * ARRIVAL_MARGIN
        numbers = (delay, limit, pacer.window, pacer.reserve, pacer.slow_below, pacer.max_wait, margin)
        try:
            booked = self._book(keys=self._keys(budget), args=[now, *map(repr, numbers), uuid.uuid4().hex])
        except self._errors as error:
            log.warning("pacing: the shared budget %s cannot be read (%s); pacing this process alone", budget, error)
            return delay
        return max(delay, float(booked))

    def hold_back(self, budget: str, seconds: float) -> None:
        now = "" if self.clock is None else repr(self.clock())
        try:
            self._hold_back(keys=self._keys(budget)[1:], args=[now, repr(seconds)])
        except self._errors as error:
            log.warning("pacing: the shared budget %s cannot be held back (%s)", budget, error)

    def _keys(self, budget: str) -> list[str]:
        name = re.sub(r"[^a-z0-9]+", "-", budget.lower()).strip("-")
        return [f"{self.prefix}.{name}.slots", f"{self.prefix}.{name}.held"]


_shared: dict[tuple[int, str | None], Pacer] = {}
_shared_lock = threading.Lock()
_stopping = threading.Event()


def shared_pacer(updates_per_minute: int = UPDATES_PER_MINUTE, redis_url: str | None = None) -> Pacer:
    """The process's pacer for the account's Update Ticket limit (`Settings.ticket_updates_per_minute`),
    created on first use; every session and thread of the process shares it. With a Redis URL, the budgets
    with a documented limit are counted for every host sharing that Redis."""
    with _shared_lock:
        key = (updates_per_minute, redis_url)
        if key not in _shared:
            shared = SharedBudgets(redis_url) if redis_url else None
            _shared[key] = Pacer(updates_per_minute=updates_per_minute, shared=shared)
        return _shared[key]


class PacingInterrupted(requests.ConnectionError):
    """The process is stopping: a call that was waiting for its turn is not made (its job is retried later)."""


def stop_waiting() -> None:
    """End every wait for a turn, now and from now on: the worker is stopping and must not sit out a minute."""
    _stopping.set()


def interruptible_sleep(stopping: threading.Event) -> Callable[[float], None]:
    """A sleep that raises PacingInterrupted as soon as `stopping` is set."""

    def sleep(seconds: float) -> None:
        if stopping.wait(seconds):
            raise PacingInterrupted("the worker is stopping")

    return sleep


class PacedSession(requests.Session):
    """A plain requests session (no retries) that waits its turn with the process's pacer before each call."""

    def __init__(self, pacer: Pacer | None = None, sleep: Callable[[float], None] | None = None) -> None:
        super().__init__()
        self.pacer = pacer if pacer is not None else shared_pacer()
        self._sleep = sleep if sleep is not None else interruptible_sleep(_stopping)

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        address = url.decode() if isinstance(url, bytes) else url
        call = classify(method, address)
        wait = self.pacer.book(call)
        if wait > 0:
            log.debug("pacing: %s %s waits %.2f s for its turn", method, urlsplit(address).path, wait)
            self._sleep(wait)
        response = super().request(method, url, *args, **kwargs)
        self.pacer.observe(call, response.status_code, response.headers)
        return response
