"""Proactive pacing: what the headers say, how calls are spread, and that a burst never hammers Zendesk.

Everything runs on a fake clock except the last test, which drives the real
sandbox over HTTP with a three-second window and checks outcomes, not times.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from escalations.config import ConfigError, load_settings, ticket_updates_per_minute
from escalations.sandbox import SandboxServer, SandboxZendesk
from escalations.sandbox import traffic as sandbox_traffic
from escalations.sandbox.traffic import RateLimiter
from escalations.zendesk.gateway import make_client
from escalations.zendesk.pacing import (
    PacedSession,
    Pacer,
    PacingInterrupted,
    SharedBudgets,
    interruptible_sleep,
    shared_pacer,
    spacing,
)
from escalations.zendesk.rate_limits import (
    ACCOUNT,
    TICKET_UPDATES,
    Budget,
    Call,
    budget_of_429,
    classify,
    is_ticket_update,
    read_account_budget,
    read_endpoint_budget,
    retry_after,
)
from tests.conftest import FakeClock
from tests.contract.session import checked_sandbox

UPDATE = "https://acme.zendesk.com/api/v2/tickets/42.json"
EXPORTS = "https://acme.zendesk.com/api/v2/incremental/ticket_events.json"
READ_CALL = classify("GET", UPDATE)
UPDATE_CALL = classify("PUT", UPDATE)
EXPORT_CALL = classify("GET", EXPORTS)


def call(ticket_update: bool) -> Call:
    return UPDATE_CALL if ticket_update else READ_CALL


def headers(**values: str) -> CaseInsensitiveDict[str]:
    return CaseInsensitiveDict({name.replace("_", "-"): value for name, value in values.items()})


def max_in_window(moments: list[float], window: float) -> int:
    ordered, best, first = sorted(moments), 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


# -- what the answers say ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("PUT", UPDATE, True),
        ("put", "http://127.0.0.1:8089/api/v2/tickets/7?include=users", True),
        ("GET", UPDATE, False),
        ("PUT", "https://acme.zendesk.com/api/v2/tickets/42/tags.json", False),
        ("PUT", "https://acme.zendesk.com/api/v2/tickets/update_many.json", False),
        ("PUT", "https://acme.zendesk.com/api/v2/ticket_fields/42.json", False),
    ],
)
def test_only_a_single_ticket_update_counts_against_the_update_limit(method: str, url: str, expected: bool) -> None:
    assert is_ticket_update(method, url) is expected


def test_the_account_budget_is_read_from_either_spelling_of_the_headers() -> None:
    assert read_account_budget(headers(X_Rate_Limit="700", X_Rate_Limit_Remaining="699")) == Budget(700, 699)
    assert read_account_budget(
        headers(ratelimit_limit="400", ratelimit_remaining="10", ratelimit_reset="41")
    ) == Budget(400, 10, 41.0)
    assert read_account_budget(headers()) is None
    assert read_account_budget(headers(X_Rate_Limit="many", X_Rate_Limit_Remaining="1")) is None
    assert read_account_budget(headers(X_Rate_Limit="100", X_Rate_Limit_Remaining="-5")) == Budget(100, 0)


def test_an_endpoints_own_budget_is_read_from_its_zendesk_ratelimit_header_and_not_mixed_with_the_account() -> None:
    answer = headers(
        X_Rate_Limit="700",
        X_Rate_Limit_Remaining="690",
        zendesk_ratelimit_tickets_index="total=100; remaining=12; resets=30",
    )
    assert read_endpoint_budget(answer) == Budget(100, 12, 30.0)
    assert read_account_budget(answer) == Budget(700, 690)
    assert read_endpoint_budget(headers(X_Rate_Limit="700", X_Rate_Limit_Remaining="690")) is None
    assert read_endpoint_budget(headers(zendesk_ratelimit_x="total=ten; remaining=1")) is None


@pytest.mark.parametrize(
    ("method", "url", "endpoint", "limit"),
    [
        ("GET", EXPORTS + "?start_time=1&include=comment_events", "incremental exports", 10),
        ("GET", "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json", "incremental exports", 10),
        ("GET", "https://acme.zendesk.com/api/v2/search/export.json?query=x", "search export", 100),
        ("GET", "https://acme.zendesk.com/api/v2/search.json?query=x", "/api/v2/search.json", None),
        ("PUT", UPDATE, "/api/v2/tickets/{id}.json", None),
        ("GET", "https://acme.zendesk.com/api/v2/tickets/42/comments.json", "/api/v2/tickets/{id}/comments.json", None),
    ],
)
def test_each_call_counts_against_its_endpoints_own_budget(
    method: str, url: str, endpoint: str, limit: int | None
) -> None:
    call = classify(method, url)
    assert (call.endpoint, call.endpoint_limit) == (endpoint, limit)
    assert call.budgets[0] == ACCOUNT and call.budgets[-1] == f"endpoint {endpoint}"
    assert (TICKET_UPDATES in call.budgets) is (method == "PUT")


@pytest.mark.parametrize(
    ("call", "answer", "budget"),
    [
        (EXPORT_CALL, headers(Retry_After="30"), "endpoint incremental exports"),
        (
            EXPORT_CALL,
            headers(Retry_After="30", X_Rate_Limit="700", X_Rate_Limit_Remaining="300"),
            "endpoint incremental exports",
        ),
        (
            EXPORT_CALL,
            headers(Retry_After="30", X_Rate_Limit="10", X_Rate_Limit_Remaining="0"),
            "endpoint incremental exports",
        ),
        (READ_CALL, headers(Retry_After="9", X_Rate_Limit="700", X_Rate_Limit_Remaining="0"), ACCOUNT),
        (READ_CALL, headers(Retry_After="9"), ACCOUNT),
        (
            READ_CALL,
            headers(
                Retry_After="9",
                X_Rate_Limit="700",
                X_Rate_Limit_Remaining="500",
                zendesk_ratelimit_tickets_show="total=50; remaining=0; resets=9",
            ),
            "endpoint /api/v2/tickets/{id}.json",
        ),
        (UPDATE_CALL, headers(Retry_After="5", X_Rate_Limit="100", X_Rate_Limit_Remaining="0"), TICKET_UPDATES),
        (UPDATE_CALL, headers(Retry_After="5"), TICKET_UPDATES),
    ],
    ids=[
        "export, nothing said",
        "export, account not spent",
        "export, its window in the account's headers",
        "read, account spent",
        "read, nothing said",
        "read, its endpoint spent",
        "update, limit reached",
        "update, nothing said",
    ],
)
def test_a_429_belongs_to_the_budget_its_call_and_headers_name(
    call: Call, answer: CaseInsensitiveDict[str], budget: str
) -> None:
    assert budget_of_429(call, answer) == budget


def test_retry_after_is_a_number_of_seconds_or_nothing() -> None:
    assert retry_after(headers(Retry_After="7")) == 7.0
    assert retry_after(headers(Retry_After="soon")) is None
    assert retry_after(headers(Retry_After="-1")) is None
    assert retry_after(headers()) is None


# -- how far apart calls go --------------------------------------------------------------


def test_no_spacing_while_half_the_budget_is_left() -> None:
    assert spacing(100, 100) == 0.0
    assert spacing(100, 50) == 0.0
    assert spacing(700, 350) == 0.0


def test_spacing_grows_as_the_budget_shrinks() -> None:
    gaps = [spacing(100, remaining) for remaining in range(49, -1, -1)]
    assert all(earlier < later for earlier, later in itertools.pairwise(gaps[:-1]))
    assert gaps[-1] == gaps[-2]  # nothing left: probe as if one were left
    assert spacing(1, 0) == 60.0


@pytest.mark.parametrize("limit", [100, 200, 700, 2500])
def test_at_the_reserve_the_rate_holds_a_sliding_window_steady(limit: int) -> None:
    kept = int(limit * 0.2)
    calls_per_window = 60.0 / spacing(limit, kept)
    assert calls_per_window == pytest.approx(limit - kept)


# -- the pacer ---------------------------------------------------------------------------


def test_calls_go_at_once_when_zendesk_says_nothing() -> None:
    pacer = Pacer(clock=FakeClock())
    assert [pacer.book(READ_CALL) for _ in range(500)] == [0.0] * 500


def test_ticket_updates_stay_under_the_limit_with_a_reserve_and_are_spread_out() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=10_000)
    slots = [clock.now + pacer.book(UPDATE_CALL) for _ in range(300)]
    assert slots[:50] == [clock.now] * 50  # half the budget goes at once
    assert max_in_window(slots, 60.0) == 80  # 100 a minute, less the 20 % reserve
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert all(gap > 0 for gap in gaps[50:])


def test_a_low_remaining_budget_spreads_calls_and_a_fresh_one_lets_them_go() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(READ_CALL, 200, headers(X_Rate_Limit="700", X_Rate_Limit_Remaining="300"))
    first, second = pacer.book(READ_CALL), pacer.book(READ_CALL)
    assert first == 0.0 and second > 0.0
    clock.now += second
    pacer.observe(READ_CALL, 200, headers(X_Rate_Limit="700", X_Rate_Limit_Remaining="600"))
    assert pacer.book(READ_CALL) == 0.0


def test_what_others_use_comes_off_our_allowance() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=10_000)
    # Agents made 40 of the 100 updates of the last minute: 40 are ours to make, 20 stay free.
    pacer.observe(UPDATE_CALL, 200, headers(X_Rate_Limit="100", X_Rate_Limit_Remaining="60"))
    slots = [clock.now + pacer.book(UPDATE_CALL) for _ in range(100)]
    assert max_in_window(slots, 60.0) == 40


def test_when_others_use_all_but_the_reserve_we_only_probe() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(READ_CALL, 200, headers(X_Rate_Limit="700", X_Rate_Limit_Remaining="100"))
    assert pacer.book(READ_CALL) == spacing(700, 0) == 15.0


def test_a_reading_expires_after_the_window_or_when_zendesk_says_it_resets() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(READ_CALL, 200, headers(X_Rate_Limit="100", X_Rate_Limit_Remaining="0"))
    clock.now += 61
    assert pacer.book(READ_CALL) == 0.0
    pacer.observe(READ_CALL, 200, headers(ratelimit_limit="100", ratelimit_remaining="0", ratelimit_reset="5"))
    clock.now += 6
    assert pacer.book(READ_CALL) == 0.0


def test_a_429_from_the_incremental_exports_holds_back_the_exports_only() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(EXPORT_CALL, 429, headers(Retry_After="30"))
    assert pacer.book(READ_CALL) == 0.0 and pacer.book(UPDATE_CALL) == 0.0
    assert pacer.book(EXPORT_CALL) == 30.0


def test_a_429_on_a_ticket_update_holds_back_the_updates_only() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(UPDATE_CALL, 429, headers(Retry_After="7", X_Rate_Limit="100", X_Rate_Limit_Remaining="0"))
    assert pacer.book(READ_CALL) == 0.0 and pacer.book(EXPORT_CALL) == 0.0
    assert pacer.book(UPDATE_CALL) >= 7.0


def test_a_429_with_the_account_spent_holds_back_every_call() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(READ_CALL, 429, headers(Retry_After="7", X_Rate_Limit="700", X_Rate_Limit_Remaining="0"))
    assert pacer.book(READ_CALL) >= 7.0
    assert pacer.book(UPDATE_CALL) >= 7.0
    assert pacer.book(EXPORT_CALL) >= 7.0


def test_a_429_without_retry_after_holds_back_nothing() -> None:
    pacer = Pacer(clock=FakeClock())
    pacer.observe(READ_CALL, 429, headers())
    assert pacer.book(READ_CALL) == 0.0


def test_an_exports_answer_describing_its_own_window_in_the_account_headers_slows_only_the_exports() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(EXPORT_CALL, 200, headers(X_Rate_Limit="10", X_Rate_Limit_Remaining="1"))
    pacer.book(EXPORT_CALL)
    assert pacer.book(EXPORT_CALL) > 0.0
    assert [pacer.book(READ_CALL) for _ in range(50)] == [0.0] * 50


def test_an_endpoints_own_reading_slows_that_endpoint_only() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    listing = classify("GET", "https://acme.zendesk.com/api/v2/tickets.json")
    pacer.observe(listing, 200, headers(zendesk_ratelimit_tickets_index="total=100; remaining=2; resets=50"))
    pacer.book(listing)
    assert pacer.book(listing) > 0.0
    assert pacer.book(READ_CALL) == 0.0


def test_incremental_exports_go_at_once_while_half_their_budget_is_left_then_spread_under_80_percent() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=10_000)
    slots = [clock.now + pacer.book(EXPORT_CALL) for _ in range(40)]
    assert slots[:5] == [clock.now] * 5
    assert max_in_window(slots, 60.0) == 8  # 10 a minute, less the 20 % reserve
    assert pacer.book(READ_CALL) == 0.0 and pacer.book(UPDATE_CALL) == 0.0  # ticket work is never behind them


@pytest.mark.parametrize("interval", [0.1, 1.0, 5.0, 7.0, 30.0])
def test_a_sweep_at_any_interval_never_meets_the_incremental_exports_429(interval: float) -> None:
    """Sweeps one after the other (the sweep lock) for ten minutes against Zendesk's 10 exports a minute."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    exported: list[float] = []
    start, refused = clock.now, 0
    next_sweep = start
    while next_sweep < start + 600:
        clock.now = max(clock.now, next_sweep)
        clock.now += pacer.book(EXPORT_CALL)
        if max_in_window([*exported, clock.now], 60.0) > 10:
            refused += 1
        exported.append(clock.now)
        clock.now += 0.1  # the export's answer, then the handling
        pacer.observe(EXPORT_CALL, 200, headers())
        next_sweep += interval
    assert refused == 0
    assert max_in_window(exported, 60.0) <= 8


def test_the_update_budget_is_read_from_answers_to_updates_and_slows_only_updates() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(UPDATE_CALL, 200, headers(X_Rate_Limit="100", X_Rate_Limit_Remaining="5"))
    assert pacer.book(UPDATE_CALL) > 0.0
    assert pacer.book(READ_CALL) == 0.0


def test_reads_are_not_queued_behind_updates_waiting_for_their_turn() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=10_000)
    for _ in range(120):
        pacer.book(UPDATE_CALL)
    assert pacer.book(READ_CALL) == 0.0


def test_no_single_wait_exceeds_the_cap() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=5.0)
    pacer.observe(READ_CALL, 429, headers(Retry_After="3600"))
    assert pacer.book(READ_CALL) == 5.0


def first_past_the_allowance(pacer: Pacer, clock: FakeClock, call: Call) -> float:
    """When the call one past the allowance of a budget of 10 a minute (8: 10 less the reserve) is booked for."""
    slots = [clock.now + pacer.book(call) for _ in range(9)]
    return slots[-1] - slots[0]


def test_a_slot_holds_its_place_a_second_past_the_window_since_calls_reach_zendesk_after_their_turn() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, updates_per_minute=10, max_wait=10_000)
    assert first_past_the_allowance(pacer, clock, UPDATE_CALL) == pytest.approx(61.0)


def test_hosts_sharing_a_redis_hold_a_slot_a_second_past_the_window_too(redis_url: str) -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=10_000, shared=SharedBudgets(redis_url, clock=clock))
    assert first_past_the_allowance(pacer, clock, EXPORT_CALL) == pytest.approx(61.0)


def test_threads_sharing_a_pacer_never_overbook_the_update_window() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=10_000)
    slots: list[float] = []
    lock = threading.Lock()

    def book_many() -> None:
        for _ in range(40):
            at = clock.now + pacer.book(UPDATE_CALL)
            with lock:
                slots.append(at)

    threads = [threading.Thread(target=book_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(slots) == 320 and max_in_window(slots, 60.0) <= 80


# -- a burst against a sliding-window Zendesk, simulated ---------------------------------


@dataclass
class Simulation:
    """Worker threads handling escalations (two reads, two updates) against Zendesk's limits, on a fake clock.

    The account allows 700 requests and 100 ticket updates per sliding minute
    (the sandbox's own limiter); each call takes `latency`; a 429 is waited
    out as Zenpy does; agents may update tickets at a steady rate, starting a
    minute before the burst as they would on a working day.
    """

    escalations: int
    threads: int = 4
    latency: float = 0.1
    agent_updates_per_minute: float = 0.0
    hosts: int = 1  # the threads are spread over this many hosts, each with its own pacer
    redis_url: str | None = None  # where the hosts' pacers count the budgets with a documented limit together
    clock: FakeClock = field(default_factory=FakeClock)
    ours_429: int = 0
    agents_429: int = 0
    updates_at: list[float] = field(default_factory=list)

    def run(self) -> float:
        """Handle every escalation; return how long it took."""
        limiter = RateLimiter(clock=self.clock)
        limiter.configure(requests_per_minute=700, updates_per_minute=100)
        pacers = [
            Pacer(clock=self.clock, shared=SharedBudgets(self.redis_url, clock=self.clock) if self.redis_url else None)
            for _ in range(self.hosts)
        ]
        jobs = deque(range(self.escalations))
        plan = (False, False, True, True)  # is each call of a job a ticket update
        events: list[tuple[float, int, str, int]] = []
        order = itertools.count()
        answers: dict[int, tuple[int, dict[str, str]]] = {}
        position = dict.fromkeys(range(self.threads), 0)
        start = self.clock.now

        def schedule(moment: float, kind: str, thread: int) -> None:
            heapq.heappush(events, (moment, next(order), kind, thread))

        if self.agent_updates_per_minute:
            schedule(start, "agent", -1)
            start += 60.0
        finished = start
        for thread in range(self.threads):
            if jobs:
                jobs.popleft()
                schedule(start, "book", thread)
        while events:
            moment, _, kind, thread = heapq.heappop(events)
            self.clock.now = moment
            if kind == "agent":
                if any(other != "agent" for _, _, other, _ in events):  # while the service is busy
                    self.agents_429 += limiter.admit(ticket_update=True).retry_after is not None
                    schedule(moment + 60.0 / self.agent_updates_per_minute, "agent", -1)
                continue
            update = plan[position[thread]]
            pacer = pacers[thread % self.hosts]
            if kind == "book":
                schedule(moment + pacer.book(call(update)), "send", thread)
            elif kind == "send":
                verdict = limiter.admit(ticket_update=update)
                answer = dict(verdict.headers)
                if verdict.retry_after is not None:
                    answer["Retry-After"] = str(verdict.retry_after)
                elif update:
                    self.updates_at.append(moment)
                answers[thread] = (429 if verdict.retry_after is not None else 200, answer)
                schedule(moment + self.latency, "answer", thread)
            else:
                status, answer = answers.pop(thread)
                pacer.observe(call(update), status, CaseInsensitiveDict(answer))
                if status == 429:
                    self.ours_429 += 1
                    schedule(moment + float(answer["Retry-After"]), "book", thread)
                    continue
                position[thread] = (position[thread] + 1) % len(plan)
                finished = moment
                if position[thread]:
                    schedule(moment, "book", thread)
                elif jobs:
                    jobs.popleft()
                    schedule(moment, "book", thread)
        return finished - start


def test_a_burst_of_500_escalations_never_meets_a_429_and_finishes_at_80_updates_a_minute() -> None:
    simulation = Simulation(escalations=500)
    took = simulation.run()
    assert simulation.ours_429 == 0
    assert len(simulation.updates_at) == 1000
    assert max_in_window(simulation.updates_at, 60.0) <= 80
    assert took == pytest.approx(1000 / 80 * 60, rel=0.1)


def test_two_hosts_sharing_a_redis_keep_a_burst_to_the_accounts_80_updates_a_minute_together(redis_url: str) -> None:
    simulation = Simulation(escalations=150, threads=8, hosts=2, redis_url=redis_url)
    took = simulation.run()
    assert simulation.ours_429 == 0 and len(simulation.updates_at) == 300
    assert max_in_window(simulation.updates_at, 60.0) <= 80
    assert took == pytest.approx(300 / 80 * 60, rel=0.15)


def test_two_hosts_pacing_each_alone_would_pass_the_accounts_80_updates_a_minute() -> None:
    simulation = Simulation(escalations=150, threads=8, hosts=2)
    simulation.run()
    # Each learns of the other only from Zendesk's headers, a call late: which is why hosts sharing a Redis
    # count the budget there.
    assert max_in_window(simulation.updates_at, 60.0) > 80


def test_two_hosts_sharing_a_redis_make_at_most_8_incremental_exports_a_minute_together(redis_url: str) -> None:
    clock = FakeClock()
    hosts = [Pacer(clock=clock, max_wait=10_000, shared=SharedBudgets(redis_url, clock=clock)) for _ in range(2)]
    slots = [clock.now + hosts[n % 2].book(EXPORT_CALL) for n in range(40)]
    assert max_in_window(slots, 60.0) == 8  # 10 a minute, less the 20 % reserve, for the account
    assert hosts[0].book(READ_CALL) == 0.0  # the rest is never behind them


def test_a_429_on_one_host_holds_back_that_budget_on_every_host(redis_url: str) -> None:
    clock = FakeClock()
    first, second = (Pacer(clock=clock, shared=SharedBudgets(redis_url, clock=clock)) for _ in range(2))
    first.observe(EXPORT_CALL, 429, headers(Retry_After="30"))
    assert second.book(EXPORT_CALL) == pytest.approx(30.0)
    assert second.book(UPDATE_CALL) == 0.0


def test_a_host_that_cannot_reach_the_shared_budgets_paces_its_own_calls() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=10_000, shared=SharedBudgets("redis://127.0.0.1:9/0", clock=clock))
    slots = [clock.now + pacer.book(UPDATE_CALL) for _ in range(100)]
    assert max_in_window(slots, 60.0) == 80


@pytest.mark.parametrize("agents_per_minute", [15, 40])
def test_agents_updating_tickets_meanwhile_are_never_locked_out_and_the_service_yields(
    agents_per_minute: int,
) -> None:
    simulation = Simulation(escalations=150, agent_updates_per_minute=agents_per_minute)
    simulation.run()
    assert simulation.ours_429 == 0 and simulation.agents_429 == 0
    assert len(simulation.updates_at) == 300
    assert max_in_window(simulation.updates_at, 60.0) <= 100 - 20 - agents_per_minute


# -- the session -------------------------------------------------------------------------


class CannedAdapter(BaseAdapter):
    """Answers every request with the next canned (status, headers), recording what was asked."""

    def __init__(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__()
        self.answers = deque(answers)
        self.sent: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        status, answer_headers = self.answers.popleft()
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(answer_headers)
        response._content = b"{}"
        response.request = request
        response.url = str(request.url)
        self.sent.append(f"{request.method} {request.url}")
        return response

    def close(self) -> None:
        return None


def test_the_session_waits_its_turn_and_reports_every_answer() -> None:
    clock = FakeClock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    adapter = CannedAdapter([(200, {"X-Rate-Limit": "100", "X-Rate-Limit-Remaining": "3"})] * 3)
    session = PacedSession(Pacer(clock=clock), sleep=sleep)
    session.mount("https://", adapter)
    for _ in range(3):
        assert session.put(UPDATE, json={"ticket": {}}).status_code == 200
    assert len(adapter.sent) == 3
    assert slept and all(seconds > 0 for seconds in slept)


def test_every_zenpy_client_of_the_process_shares_one_pacer(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_EMAIL": "a@acme.test", "ZENDESK_API_TOKEN": "t"})
    sessions = [make_client(settings).tickets.session for _ in range(2)]
    assert all(isinstance(session, PacedSession) for session in sessions)
    assert sessions[0] is not sessions[1] and sessions[0].pacer is sessions[1].pacer is shared_pacer()


def test_the_clients_pace_ticket_updates_by_the_limit_in_the_settings() -> None:
    high_volume = load_settings(
        {
            "ZENDESK_SUBDOMAIN": "acme",
            "ZENDESK_EMAIL": "a@acme.test",
            "ZENDESK_API_TOKEN": "t",
            "ZENDESK_TICKET_UPDATES_PER_MINUTE": "300",
        }
    )
    session = make_client(high_volume).tickets.session
    assert isinstance(session, PacedSession) and session.pacer.updates_per_minute == 300


@pytest.mark.parametrize(("value", "expected"), [(None, 100), ("", 100), ("300", 300)])
def test_the_update_limit_can_be_raised_for_the_high_volume_add_on(value: str | None, expected: int) -> None:
    environ = {} if value is None else {"ZENDESK_TICKET_UPDATES_PER_MINUTE": value}
    assert ticket_updates_per_minute(environ) == expected


@pytest.mark.parametrize("value", ["0", "lots", "-5", "2.5"])
def test_a_bad_update_limit_is_a_one_line_configuration_error(value: str) -> None:
    with pytest.raises(ConfigError, match="ZENDESK_TICKET_UPDATES_PER_MINUTE") as error:
        ticket_updates_per_minute({"ZENDESK_TICKET_UPDATES_PER_MINUTE": value})
    assert "\n" not in str(error.value)


def test_a_wait_for_a_turn_ends_at_once_when_the_worker_stops() -> None:
    stopping = threading.Event()
    sleep = interruptible_sleep(stopping)
    sleep(0.0)
    stopping.set()
    with pytest.raises(PacingInterrupted):
        sleep(60.0)


# -- the real sandbox over HTTP ----------------------------------------------------------


@pytest.fixture
def tight_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SandboxZendesk, str]]:
    """The sandbox with a three-second rate window and 10 ticket updates per window."""
    monkeypatch.setattr(sandbox_traffic, "RATE_WINDOW_SECONDS", 3.0)
    account = SandboxZendesk()
    account.set_rate_limit(requests_per_minute=None, updates_per_minute=10)
    with checked_sandbox(account) as server:
        yield account, server.url


def _update_from_threads(url: str, account: SandboxZendesk, make_session: Callable[[], requests.Session]) -> None:
    def work(ticket_id: int) -> None:
        session = make_session()
        session.auth = (f"{account.email}/token", account.api_token)
        for n in range(5):
            session.put(f"{url}/api/v2/tickets/{ticket_id}.json", json={"ticket": {"tags": [f"pacing_{n}"]}})

    threads = [threading.Thread(target=work, args=(ticket_id,)) for ticket_id in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_paced_sessions_sharing_the_process_pacer_are_never_refused(
    tight_sandbox: tuple[SandboxZendesk, str],
) -> None:
    account, url = tight_sandbox
    pacer = Pacer(window=3.0, updates_per_minute=10)
    _update_from_threads(url, account, lambda: PacedSession(pacer))
    paced = [entry["status"] for entry in account.requests_log()]
    assert len(paced) == 20 and paced.count(429) == 0

    account.reset_requests_log()
    _update_from_threads(url, account, requests.Session)  # the same without pacing overflows the window
    assert [entry["status"] for entry in account.requests_log()].count(429) > 0


def test_against_the_sandbox_a_429_on_the_export_holds_back_only_the_sweeps_next_export(
    zendesk: tuple[SandboxZendesk, SandboxServer],
) -> None:
    account, server = zendesk
    clock = FakeClock()
    slept: list[tuple[str, float]] = []
    session = PacedSession(Pacer(clock=clock), sleep=lambda seconds: slept.append((asked[-1], seconds)))
    session.auth = (f"{account.email}/token", account.api_token)
    asked: list[str] = []

    def get(path: str) -> int:
        asked.append(path)
        return session.get(f"{server.url}{path}").status_code

    account.inject_fault(status=429, count=1, path_regex=r"/incremental/", retry_after=30)
    assert get("/api/v2/incremental/ticket_events.json?start_time=1") == 429
    assert get("/api/v2/tickets/1.json") == 200
    assert session.put(f"{server.url}/api/v2/tickets/1.json", json={"ticket": {"tags": ["x"]}}).status_code == 200
    assert slept == []  # the ticket's calls went at once
    assert get("/api/v2/incremental/ticket_events.json?start_time=1") == 200
    assert slept == [("/api/v2/incremental/ticket_events.json?start_time=1", 30.0)]


@pytest.mark.parametrize("described", [False, True], ids=["no export budget header", "export budget header"])
def test_against_the_sandbox_the_exports_keep_to_their_budget_whether_or_not_the_answers_describe_it(
    zendesk: tuple[SandboxZendesk, SandboxServer], described: bool
) -> None:
    """Zendesk documents no budget header on the exports: paced by the documented limit, the sweep's exports
    get through either way; when the answers do describe the budget, the service also yields to what others
    spent of it and meets no 429 at all."""
    account, server = zendesk
    clock = FakeClock()
    account.rate_limiter = RateLimiter(clock=clock)  # Zendesk's export budget, on the pacer's clock
    account.describe_endpoint_budgets(described)
    export = f"{server.url}/api/v2/incremental/ticket_events.json?start_time=1"
    others = requests.Session()  # another integration, unpaced, spends half of the budget first
    others.auth = (f"{account.email}/token", account.api_token)
    started = clock.now
    assert [others.get(export).status_code for _ in range(5)] == [200] * 5
    session = PacedSession(Pacer(clock=clock), sleep=clock.sleep)
    session.auth = others.auth
    ours: list[tuple[float, int]] = []

    while len([status for _, status in ours if status == 200]) < 10:
        assert len(ours) < 20, "the exports never got through"
        status = session.get(export).status_code  # a 429 is asked again, as Zenpy does
        ours.append((clock.now, status))  # the moment it was sent: the fake clock moves only while waiting
        if ours[-1][1] == 429:
            waited_from = clock.now
            assert session.get(f"{server.url}/api/v2/tickets/1.json").status_code == 200
            assert clock.now == waited_from  # the ticket's calls are never behind the exports

    exported = [started] * 5 + [moment for moment, status in ours if status == 200]
    if described:
        assert [status for _, status in ours] == [200] * 10
        assert max_in_window(exported, 60.0) == 8  # ours kept to 10 less the reserve less what others spent
    else:
        assert [status for _, status in ours] == [200] * 5 + [429] + [200] * 5
        assert ours[6][0] - ours[5][0] == 60.0  # the 429's Retry-After, then on
