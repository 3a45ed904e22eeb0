"""The catch-up sweep over Zendesk's event log, in this process, against the sandbox over real HTTP.

The sandbox keeps Zendesk's budget for incremental exports (10 requests a
minute, its own 429) and the service's pacer keeps under it; both run on one
fake clock, so a backlog that takes minutes of Zendesk's time passes at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from huey import Huey

from escalations.sandbox import SandboxZendesk
from escalations.sandbox.traffic import RateLimiter
from escalations.service.records import ParkedTickets
from escalations.service.runtime import Runtime, build_runtime
from escalations.service.storage import make_huey
from escalations.service.sweep import SweepStore, run_sweep
from escalations.zendesk.gateway import ZendeskGateway, ZendeskUnavailable, make_client
from escalations.zendesk.pacing import PacedSession, Pacer
from tests.conftest import FakeClock, provisioned_in_process
from tests.test_end_to_end import ALICE, BOB, CARMEN, PRIYA, emails_for

QUIET_TICKET = 4  # the backlog's filler notes go here, away from the escalated tickets
EVENTS_PAGE = 1000  # Zendesk's time-based export pages hold up to 1,000 events


class EventClock:
    """The sandbox's wall clock: one second passes with each event, as on a busy account."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> None:
        self.now += timedelta(seconds=1)


@dataclass
class Sweeper:
    zendesk: SandboxZendesk
    runtime: Runtime
    queue: Huey
    clock: FakeClock
    gateway: ZendeskGateway
    events: EventClock
    exports_at: list[float] = field(default_factory=list)  # fake times of the incremental export calls
    cursors_when_handled: dict[int, int] = field(default_factory=dict)
    after_handling: Callable[[int], None] = lambda _ticket_id: None
    retried: list[int] = field(default_factory=list)  # tickets handed back to the queue for a retry

    @property
    def store(self) -> SweepStore:
        return SweepStore(self.queue, self.runtime.state)

    def sweep(self) -> list[int]:
        def handle(ticket_id: int, gateway: ZendeskGateway) -> object:
            self.cursors_when_handled.setdefault(ticket_id, self.store.cursor())
            handled = self.runtime.handle(ticket_id, gateway)
            self.after_handling(ticket_id)
            return handled

        # The sweep's "now" is the account's: the backlog's last event a little while ago.
        now = self.events.now + timedelta(minutes=2)
        return run_sweep(
            self.gateway, self.store, ParkedTickets(self.queue), handle, lambda: now, retry_later=self.retried.append
        )

    def exports(self) -> list[dict[str, Any]]:
        return [e for e in self.zendesk.requests_log() if "/incremental/" in e["path"]]


@pytest.fixture
def sweeper(tmp_path: Path) -> Iterator[Sweeper]:
    clock = FakeClock()
    events = EventClock()
    account = SandboxZendesk(clock=events)
    account.webhook_delivery_enabled = False  # only the sweep finds these escalations
    account.rate_limiter = RateLimiter(clock=clock)  # Zendesk's endpoint budgets, on the fake clock
    with provisioned_in_process(account, tmp_path) as settings:
        runtime = build_runtime(settings)
        session = PacedSession(Pacer(clock=clock), sleep=clock.sleep)
        sweeper = Sweeper(
            account,
            runtime,
            make_huey(None, tmp_path / "queue"),
            clock,
            ZendeskGateway(settings, runtime.state.field_ids, make_client(settings, session=session)),
            events,
        )

        def note_export(response: requests.Response, *_args: object, **_kwargs: object) -> None:
            if "/incremental/" in (response.request.url or ""):
                sweeper.exports_at.append(clock.now)

        session.hooks["response"].append(note_export)
        yield sweeper


def backlog(sweeper: Sweeper, events: int, escalations: dict[int, tuple[int, int]]) -> None:
    """`events` quiet notes, with an escalation comment at each given position: position -> (ticket, customer)."""
    zendesk = sweeper.zendesk
    for position in range(events):
        sweeper.events.tick()
        if position in escalations:
            ticket_id, customer = escalations[position]
            body = f"Escalation request: still broken after {position} events."
            zendesk.add_comment(ticket_id, author_id=customer, body=body, deliver_webhooks=False)
        else:
            body = f"Internal note {position}"
            zendesk.add_comment(QUIET_TICKET, author_id=PRIYA, body=body, public=False, deliver_webhooks=False)


def test_comment_bodies_are_read_on_every_page_of_the_event_log(sweeper: Sweeper) -> None:
    backlog(sweeper, EVENTS_PAGE + 200, {EVENTS_PAGE + 100: (1, ALICE)})
    assert sweeper.sweep() == [1]
    assert len(sweeper.exports()) >= 2
    assert all("include=comment_events" in e["query"] for e in sweeper.exports())
    assert len(emails_for(sweeper.zendesk, 1)) == 1


def test_a_backlog_of_many_pages_is_worked_through_at_the_exports_pace_page_by_page(sweeper: Sweeper) -> None:
    pages = 6
    escalations = {500: (1, ALICE), 2500: (2, BOB), 5500: (3, CARMEN)}  # on pages 1, 3 and 6
    backlog(sweeper, pages * EVENTS_PAGE - 100, escalations)

    assert sorted(sweeper.sweep()) == [1, 2, 3]
    assert all(len(emails_for(sweeper.zendesk, ticket_id)) == 1 for ticket_id in (1, 2, 3))
    # Never over Zendesk's budget: no 429, and at most 8 (80 % of 10) exports in any minute of its time.
    assert [e["status"] for e in sweeper.exports()] == [200] * len(sweeper.exports())
    assert len(sweeper.exports_at) >= pages
    assert max(sum(1 for t in sweeper.exports_at if start <= t < start + 60) for start in sweeper.exports_at) <= 8
    # Each escalation was handled as its page was read, with the cursor of the pages before it saved.
    cursors = [sweeper.cursors_when_handled[ticket_id] for ticket_id in (1, 2, 3)]
    assert cursors == sorted(cursors) and len(set(cursors)) == 3
    assert sweeper.store.cursor() >= cursors[-1]


def test_a_sweep_stopped_half_way_resumes_from_its_last_saved_page(sweeper: Sweeper) -> None:
    backlog(sweeper, 3 * EVENTS_PAGE, {500: (1, ALICE), 2500: (2, BOB)})

    def zendesk_goes_down_after_page_one(ticket_id: int) -> None:
        if ticket_id == 1:
            sweeper.zendesk.inject_fault(status=503, path_regex="/incremental/", retry_after=None)

    sweeper.after_handling = zendesk_goes_down_after_page_one
    with pytest.raises(ZendeskUnavailable):
        sweeper.sweep()
    saved = sweeper.store.cursor()
    assert len(emails_for(sweeper.zendesk, 1)) == 1 and emails_for(sweeper.zendesk, 2) == []

    sweeper.after_handling = lambda _ticket_id: None
    sweeper.zendesk.clear_faults()
    sweeper.zendesk.reset_requests_log()
    assert 2 in sweeper.sweep()
    assert f"start_time={saved}" in sweeper.exports()[0]["query"]  # not from the start of the backlog
    # Ticket 1 was done before the outage: at most read again (its own writes are in the log), never written.
    writes = [e for e in sweeper.zendesk.requests_log() if e["method"] == "PUT"]
    assert {e["path"] for e in writes} == {"/api/v2/tickets/2.json"}
    assert len(emails_for(sweeper.zendesk, 1)) == 1 and len(emails_for(sweeper.zendesk, 2)) == 1


def test_sweeps_every_second_never_get_a_429_from_zendesk(sweeper: Sweeper) -> None:
    """At ESCALATIONS_RECONCILE_SECONDS=1 each sweep waits for the export's turn instead of being refused."""
    sweeper.zendesk.add_comment(1, author_id=ALICE, body="Escalation request: two weeks without an answer.")
    started = sweeper.clock.now
    for _ in range(30):
        sweeper.sweep()
        sweeper.clock.sleep(1.0)  # the next sweep is due a second later
        sweeper.events.tick()
    statuses = [e["status"] for e in sweeper.zendesk.requests_log()]
    assert 429 not in statuses and len(sweeper.exports()) >= 30
    # Under the budget by pacing, not by luck: 30 export calls took minutes of Zendesk's time, 8 a minute.
    assert sweeper.clock.now - started >= 60 * (30 - 8) / 8
    assert len(emails_for(sweeper.zendesk, 1)) == 1


def test_a_ticket_that_keeps_changing_under_the_sweep_is_retried_as_the_worker_retries_it_not_parked(
    sweeper: Sweeper,
) -> None:
    sweeper.zendesk.add_comment(1, author_id=ALICE, body="Escalation request: two weeks without an answer.")
    sweeper.zendesk.inject_fault(status=409, method="PUT", path_regex=r"/tickets/1\.json")  # changing all along
    assert sweeper.sweep() == []
    assert ParkedTickets(sweeper.queue).ticket_ids() == []
    assert sweeper.retried == [1]  # a ticket job retries it, with backoff, and parks it only after an hour


def test_a_customers_answer_to_the_request_for_a_reason_is_found_when_its_webhook_never_came(
    sweeper: Sweeper,
) -> None:
    """The answer holds no phrase, so the event log alone would pass it by: tickets waiting for a reason are
    followed up with the search export."""
    sweeper.zendesk.add_comment(1, author_id=ALICE, body="Escalation request", deliver_webhooks=False)
    assert sweeper.sweep() == [1]
    assert "escalation_reason_requested" in sweeper.zendesk.ticket(1)["tags"]
    for _ in range(600):  # ten minutes of the account's time: the phrase is behind the sweep's cursor
        sweeper.events.tick()
    sweeper.sweep()
    sweeper.zendesk.add_comment(1, author_id=ALICE, body="We were charged twice in March.", deliver_webhooks=False)

    assert sweeper.sweep() == [1]
    assert "escalated" in sweeper.zendesk.ticket(1)["tags"]
    assert len(emails_for(sweeper.zendesk, 1)) == 2  # the request for the reason, then the confirmation
