"""The worker's shell, in this process, against the sandbox Zendesk over real HTTP, on a fake clock.

Each job runs once and says what became of it; a job to run again is
recorded with its delay instead of being scheduled, and an hour of failures
passes by moving the clock. The ticket work itself is the real thing: the
real gateway and Zenpy against the sandbox, writing with `safe_update`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from huey import Huey

from escalations.config import LEASE_SECONDS
from escalations.core.fields import NOTIFY_EVENTS
from escalations.sandbox import SandboxZendesk
from escalations.service.leases import exclusive
from escalations.service.logs import TicketContext
from escalations.service.records import ParkedTickets
from escalations.service.runtime import (
    BACKOFF_CAP,
    RETRY_FOR,
    ROSTER_SECONDS,
    ManagerRoster,
    NotificationDelivery,
    Runtime,
    build_runtime,
)
from escalations.service.storage import make_huey
from escalations.service.sweep import SweepStore
from escalations.service.ticket_jobs import JobResult, TicketJob, TicketJobs
from escalations.service.worker import Sweeps
from tests.conftest import FakeClock, provisioned_in_process
from tests.test_end_to_end import ALICE, MANAGERS, PRIYA, emails_for, internal_notes

STARTED = 1_800_000_000.0


@dataclass
class Worker:
    """One worker's shell around the sandbox account: the jobs it ran and the ones it scheduled."""

    zendesk: SandboxZendesk
    runtime: Runtime
    queue: Huey
    clock: FakeClock = field(default_factory=lambda: FakeClock(STARTED))
    scheduled: list[tuple[TicketJob, float]] = field(default_factory=list)

    @property
    def jobs(self) -> TicketJobs:
        return TicketJobs(
            lambda: self.runtime,
            self.queue,
            schedule=lambda job, delay: self.scheduled.append((job, delay)),
            clock=self.clock,
            jitter=lambda low, high: high,  # the longest backoff, so that delays can be compared
        )

    def run(self, job: TicketJob) -> JobResult:
        return self.jobs.run(job)

    def run_next(self) -> JobResult:
        """Run the job scheduled last, once its delay has passed."""
        job, delay = self.scheduled.pop()
        self.clock.now += delay
        return self.run(job)

    def calls(self, ticket_id: int) -> list[str]:
        return [
            f"{e['method']} {e['path']}" for e in self.zendesk.requests_log() if f"/tickets/{ticket_id}" in e["path"]
        ]


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    account = SandboxZendesk()
    account.webhook_delivery_enabled = False  # the shell is driven here, not by webhooks
    with provisioned_in_process(account, tmp_path) as settings:
        yield Worker(account, build_runtime(settings), make_huey(None, tmp_path / "queue"))


def escalate(worker: Worker, ticket_id: int = 1) -> TicketJob:
    worker.zendesk.add_comment(ticket_id, author_id=ALICE, body="Escalation request: charged twice for March.")
    return TicketJob(ticket_id, invocation_id="01JDQ8ZK6W0V3M2N7P5R4S1T9X")


def test_an_escalation_job_reads_twice_writes_twice_and_is_done(worker: Worker) -> None:
    assert worker.run(escalate(worker)) == JobResult("handled")
    assert sorted(worker.calls(1)) == [
        "GET /api/v2/tickets/1.json",
        "GET /api/v2/tickets/1/comments.json",
        "PUT /api/v2/tickets/1.json",
        "PUT /api/v2/tickets/1.json",
    ]
    assert len(emails_for(worker.zendesk, 1)) == 1 and len(internal_notes(worker.zendesk, 1)) == 1
    assert worker.scheduled == []


def test_a_409_makes_the_worker_read_and_decide_again_and_confirm_once(worker: Worker) -> None:
    worker.zendesk.inject_fault(status=409, count=1, method="PUT")
    assert worker.run(escalate(worker)).outcome == "handled"
    assert worker.calls(1).count("GET /api/v2/tickets/1.json") == 2
    assert len(emails_for(worker.zendesk, 1)) == 1 and len(internal_notes(worker.zendesk, 1)) == 1
    assert worker.zendesk.ticket(1)["group_id"] == MANAGERS


def test_a_ticket_that_changes_under_every_decision_is_retried_later_not_given_up(worker: Worker) -> None:
    worker.zendesk.inject_fault(status=409, count=5, method="PUT")
    result = worker.run(escalate(worker))
    assert result.outcome == "retried" and "changed 5 times" in result.detail
    ((again, delay),) = worker.scheduled
    assert again.failures == 1 and again.first_failure == STARTED and delay == 2.0
    assert worker.run_next().outcome == "handled"  # the ticket settled down meanwhile
    assert len(emails_for(worker.zendesk, 1)) == 1


def test_zendesk_5xx_is_retried_with_capped_exponential_backoff_then_parked_after_an_hour(worker: Worker) -> None:
    worker.zendesk.inject_fault(status=503, retry_after=1)  # down until further notice
    job = escalate(worker)
    assert worker.run(job).outcome == "retried"
    delays = [worker.scheduled[-1][1]]
    while worker.clock.now - STARTED < RETRY_FOR - BACKOFF_CAP:
        assert worker.run_next().outcome == "retried"
        delays.append(worker.scheduled[-1][1])
    assert delays[:5] == [2.0, 4.0, 8.0, 16.0, 32.0] and max(delays) == BACKOFF_CAP
    parked = worker.run_next()
    assert parked.outcome == "parked" and "503" in parked.detail
    assert worker.scheduled == []
    assert ParkedTickets(worker.queue).ticket_ids() == [1]

    worker.zendesk.clear_faults()  # Zendesk is back; the next sweep retries the parked ticket
    assert worker.run(job).outcome == "handled"
    assert ParkedTickets(worker.queue).ticket_ids() == []
    assert len(emails_for(worker.zendesk, 1)) == 1


def test_a_retry_is_never_sooner_than_zendesks_retry_after(worker: Worker) -> None:
    worker.zendesk.inject_fault(status=503, count=1, retry_after=45)
    assert worker.run(escalate(worker)) == JobResult("retried", 45.0, "Zendesk answered 503")


def test_a_deleted_ticket_is_dropped_without_retry_or_parking(worker: Worker) -> None:
    result = worker.run(TicketJob(999))
    assert result.outcome == "dropped" and "404" in result.detail
    assert worker.scheduled == [] and ParkedTickets(worker.queue).ticket_ids() == []


def test_a_ticket_that_cannot_be_written_is_parked_at_once(worker: Worker) -> None:
    worker.zendesk.inject_fault(status=422, method="PUT", path_regex=r"/tickets/1\.json")
    result = worker.run(escalate(worker))
    assert result.outcome == "parked" and "422" in result.detail
    assert worker.scheduled == [] and ParkedTickets(worker.queue).ticket_ids() == [1]
    assert emails_for(worker.zendesk, 1) == []


def test_a_ticket_another_worker_holds_is_looked_at_again_a_second_later(worker: Worker) -> None:
    job = escalate(worker)
    with exclusive("ticket-1", worker.queue):
        assert worker.run(job) == JobResult("locked", 1.0)
    assert worker.scheduled == [(job, 1.0)]  # the same job: a lock is not a failure
    assert worker.calls(1) == []
    assert worker.run_next().outcome == "handled"


def test_every_log_line_of_a_job_names_its_ticket_and_webhook_invocation(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(TicketContext())
    with caplog.at_level(logging.INFO):
        worker.run(escalate(worker))
    about_the_job = [r for r in caplog.records if r.name.startswith("escalations.")]
    assert about_the_job and all(
        (r.__dict__["ticket_id"], r.__dict__["invocation_id"]) == (1, "01JDQ8ZK6W0V3M2N7P5R4S1T9X")
        for r in about_the_job
    )


def test_the_managers_roster_is_read_at_most_every_five_minutes(worker: Worker) -> None:
    clock = FakeClock(STARTED)
    roster = ManagerRoster(worker.runtime.state.manager_group_id, clock=clock)
    gateway = worker.runtime.gateway()

    def reads() -> int:
        return sum(1 for e in worker.zendesk.requests_log() if e["path"].endswith("/memberships.json"))

    members = roster.members(gateway)
    clock.now += ROSTER_SECONDS - 1
    assert roster.members(gateway) == members and reads() == 1
    clock.now += 1
    roster.members(gateway)
    assert reads() == 2


def test_a_sweep_that_finds_the_lock_held_is_retried_once_when_the_lease_can_have_expired(worker: Worker) -> None:
    retries: list[float] = []
    sweeps = Sweeps(lambda: worker.runtime, worker.queue, retry=retries.append)
    with exclusive("sweep", worker.queue):
        assert sweeps.run() == "retried"
        assert sweeps.run(retry_if_locked=False, forced=True) == "locked"  # the retry, forced past the interval
    assert retries == [LEASE_SECONDS + 1]
    assert sweeps.run(forced=True) == "done"


def test_the_sweep_of_an_interval_runs_once_for_every_worker_sharing_the_queue_and_names_its_host(
    worker: Worker,
) -> None:
    here = Sweeps(lambda: worker.runtime, worker.queue, host="host-a (pid 1)")
    there = Sweeps(lambda: worker.runtime, worker.queue, host="host-b (pid 2)")
    assert here.run() == "done"
    assert there.run() == "skipped"  # its schedule came round within the same interval
    assert worker.queue.get("sweep", peek=True)["host"] == "host-a (pid 1)"
    assert there.run(forced=True) == "done"  # at its start, a worker sweeps whatever the others did
    assert worker.queue.get("sweep", peek=True)["host"] == "host-b (pid 2)"
    SweepStore(worker.queue, worker.runtime.state).begin(worker.runtime.clock())  # a sweep that then died
    assert here.run() == "done"  # it did not finish: the interval's sweep is still to be done


def test_the_sweep_leaves_a_ticket_a_job_is_handling_to_that_job(worker: Worker) -> None:
    escalate(worker)
    retried: list[int] = []
    sweeps = Sweeps(lambda: worker.runtime, worker.queue, retry_ticket=retried.append)
    with exclusive("ticket-1", worker.queue):  # a job has the ticket
        assert sweeps.run(forced=True) == "done"
    assert worker.calls(1) == [] and emails_for(worker.zendesk, 1) == []
    assert retried == [] and ParkedTickets(worker.queue).ticket_ids() == []
    assert sweeps.run(forced=True) == "done"  # the job died after all: the next sweep finds the escalation again
    assert len(emails_for(worker.zendesk, 1)) == 1


# Notifications for managers: queued once their claim is written, never otherwise

MARKS = ["escalation_notify_refused", "escalation_notification_owed"]


def notifying(worker: Worker) -> list[NotificationDelivery]:
    """Switch notifications on for the worker's runtime; return the deliveries it queues."""
    queued: list[NotificationDelivery] = []
    settings = replace(
        worker.runtime.settings, notify_urls=("json://127.0.0.1:9/notify",), notify_events=frozenset(NOTIFY_EVENTS)
    )
    worker.runtime = replace(worker.runtime, settings=settings, enqueue=queued.append)
    return queued


def test_an_escalation_is_queued_for_the_managers_once_its_confirmation_claimed_it_with_no_extra_call(
    worker: Worker,
) -> None:
    queued = notifying(worker)
    assert worker.run(escalate(worker)).outcome == "handled"
    assert [(d.event, d.ticket_id) for d in queued] == [("escalated", 1)]
    assert len(worker.calls(1)) == 4  # two reads, the record and the confirmation


def test_a_409_on_the_claim_makes_the_worker_decide_again_and_queue_the_notification_once(worker: Worker) -> None:
    queued = notifying(worker)
    worker.zendesk.api_update_ticket(1, {"tags": [*worker.zendesk.ticket(1)["tags"], *MARKS]})
    worker.zendesk.inject_fault(status=409, count=1, method="PUT")
    assert worker.run(TicketJob(1)).outcome == "handled"
    assert worker.calls(1).count("GET /api/v2/tickets/1.json") == 2
    assert [d.event for d in queued] == ["refused"]
    assert not set(MARKS) & set(worker.zendesk.ticket(1)["tags"])


def test_a_claim_that_fails_queues_nothing_and_its_retry_queues_the_notification_once(worker: Worker) -> None:
    queued = notifying(worker)
    worker.zendesk.api_update_ticket(1, {"tags": [*worker.zendesk.ticket(1)["tags"], *MARKS]})
    worker.zendesk.inject_fault(status=503, count=1, method="PUT", retry_after=None)
    assert worker.run(TicketJob(1)).outcome == "retried" and queued == []
    assert worker.run_next().outcome == "handled"
    assert worker.run(TicketJob(1)).outcome == "handled"  # a later job finds nothing owed
    assert [d.event for d in queued] == ["refused"]


def test_a_reply_from_someone_just_added_to_the_managers_is_recognised_as_the_acknowledgement(worker: Worker) -> None:
    assert worker.run(escalate(worker)).outcome == "handled"
    worker.zendesk.add_comment(1, author_id=PRIYA, body="Looking into it with engineering.")
    assert worker.run(TicketJob(1)).outcome == "handled"  # an agent's reply: the roster is read, no acknowledgement
    assert "escalation_status_requested" in worker.zendesk.ticket(1)["tags"]
    worker.zendesk.create_group_membership({"user_id": PRIYA, "group_id": MANAGERS})
    worker.zendesk.add_comment(1, author_id=PRIYA, body="I am the Support Manager on your case now.")
    assert worker.run(TicketJob(1)).outcome == "handled"
    assert "escalation_status_acknowledged" in worker.zendesk.ticket(1)["tags"]
