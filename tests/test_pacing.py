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

from plugin import pacing
from plugin.config import load_settings
from plugin.pacing import (
    Budget,
    PacedSession,
    Pacer,
    is_ticket_update,
    read_budget,
    retry_after,
    shared_pacer,
    spacing,
)
from plugin.sandbox import SandboxServer, SandboxZendesk
from plugin.sandbox import traffic as sandbox_traffic
from plugin.sandbox.traffic import RateLimiter
from plugin.zendesk import make_client

UPDATE = "https://acme.zendesk.com/api/v2/tickets/42.json"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


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
    assert read_budget(headers(X_Rate_Limit="700", X_Rate_Limit_Remaining="699")) == Budget(700, 699)
    assert read_budget(headers(ratelimit_limit="400", ratelimit_remaining="10", ratelimit_reset="41")) == Budget(
        400, 10, 41.0
    )
    assert read_budget(headers()) is None
    assert read_budget(headers(X_Rate_Limit="many", X_Rate_Limit_Remaining="1")) is None
    assert read_budget(headers(X_Rate_Limit="100", X_Rate_Limit_Remaining="-5")) == Budget(100, 0)


def test_the_tightest_budget_an_answer_describes_wins() -> None:
    answer = headers(
        X_Rate_Limit="700",
        X_Rate_Limit_Remaining="690",
        zendesk_ratelimit_tickets_index="total=100; remaining=12; resets=30",
    )
    assert read_budget(answer) == Budget(100, 12, 30.0)


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
    assert [pacer.book(ticket_update=False) for _ in range(500)] == [0.0] * 500


def test_ticket_updates_stay_under_the_limit_with_a_reserve_and_are_spread_out() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=10_000)
    slots = [clock.now + pacer.book(ticket_update=True) for _ in range(300)]
    assert slots[:50] == [clock.now] * 50  # half the budget goes at once
    assert max_in_window(slots, 60.0) == 80  # 100 a minute, less the 20 % reserve
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert all(gap > 0 for gap in gaps[50:])


def test_a_low_remaining_budget_spreads_calls_and_a_fresh_one_lets_them_go() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(200, headers(X_Rate_Limit="700", X_Rate_Limit_Remaining="300"), ticket_update=False)
    first, second = pacer.book(ticket_update=False), pacer.book(ticket_update=False)
    assert first == 0.0 and second > 0.0
    clock.now += second
    pacer.observe(200, headers(X_Rate_Limit="700", X_Rate_Limit_Remaining="600"), ticket_update=False)
    assert pacer.book(ticket_update=False) == 0.0


def test_what_others_use_comes_off_our_allowance() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=10_000)
    # Agents made 40 of the 100 updates of the last minute: 40 are ours to make, 20 stay free.
    pacer.observe(200, headers(X_Rate_Limit="100", X_Rate_Limit_Remaining="60"), ticket_update=True)
    slots = [clock.now + pacer.book(ticket_update=True) for _ in range(100)]
    assert max_in_window(slots, 60.0) == 40


def test_when_others_use_all_but_the_reserve_we_only_probe() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(200, headers(X_Rate_Limit="700", X_Rate_Limit_Remaining="100"), ticket_update=False)
    assert pacer.book(ticket_update=False) == spacing(700, 0) == 15.0


def test_a_reading_expires_after_the_window_or_when_zendesk_says_it_resets() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(200, headers(X_Rate_Limit="100", X_Rate_Limit_Remaining="0"), ticket_update=False)
    clock.now += 61
    assert pacer.book(ticket_update=False) == 0.0
    pacer.observe(200, headers(ratelimit_limit="100", ratelimit_remaining="0", ratelimit_reset="5"), False)
    clock.now += 6
    assert pacer.book(ticket_update=False) == 0.0


def test_a_429_holds_back_every_call_of_the_process_for_its_retry_after() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(429, headers(Retry_After="7"), ticket_update=True)
    assert pacer.book(ticket_update=False) == 7.0
    assert pacer.book(ticket_update=True) >= 7.0
    pacer = Pacer(clock=clock)
    pacer.observe(429, headers(), ticket_update=False)  # no Retry-After: nothing to go by
    assert pacer.book(ticket_update=False) == 0.0


def test_the_update_budget_is_read_from_answers_to_updates_and_slows_only_updates() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(200, headers(X_Rate_Limit="100", X_Rate_Limit_Remaining="5"), ticket_update=True)
    assert pacer.book(ticket_update=True) > 0.0
    assert pacer.book(ticket_update=False) == 0.0


def test_reads_are_not_queued_behind_updates_waiting_for_their_turn() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=10_000)
    for _ in range(120):
        pacer.book(ticket_update=True)
    assert pacer.book(ticket_update=False) == 0.0


def test_no_single_wait_exceeds_the_cap() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=5.0)
    pacer.observe(429, headers(Retry_After="3600"), ticket_update=False)
    assert pacer.book(ticket_update=False) == 5.0


def test_threads_sharing_a_pacer_never_overbook_the_update_window() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_wait=10_000)
    slots: list[float] = []
    lock = threading.Lock()

    def book_many() -> None:
        for _ in range(40):
            at = clock.now + pacer.book(ticket_update=True)
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
    clock: FakeClock = field(default_factory=FakeClock)
    ours_429: int = 0
    agents_429: int = 0
    updates_at: list[float] = field(default_factory=list)

    def run(self) -> float:
        """Handle every escalation; return how long it took."""
        limiter = RateLimiter(clock=self.clock)
        limiter.configure(requests_per_minute=700, updates_per_minute=100)
        pacer = Pacer(clock=self.clock)
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
            if kind == "book":
                schedule(moment + pacer.book(update), "send", thread)
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
                pacer.observe(status, CaseInsensitiveDict(answer), update)
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


@pytest.mark.parametrize(("value", "expected"), [(None, 100), ("", 100), ("300", 300), ("0", 100), ("lots", 100)])
def test_the_update_limit_can_be_raised_for_the_high_volume_add_on(value: str | None, expected: int) -> None:
    assert pacing._updates_per_minute(value) == expected


# -- the real sandbox over HTTP ----------------------------------------------------------


@pytest.fixture
def tight_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SandboxZendesk, str]]:
    """The sandbox with a three-second rate window and 10 ticket updates per window."""
    monkeypatch.setattr(sandbox_traffic, "RATE_WINDOW_SECONDS", 3.0)
    account = SandboxZendesk()
    account.set_rate_limit(requests_per_minute=None, updates_per_minute=10)
    server = SandboxServer(account).start()
    try:
        yield account, server.url
    finally:
        server.stop()


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
