"""Ticket jobs: one ticket brought in line with the policy, retried, parked or dropped.

What becomes of a ticket job (`TicketJobs.run`, every outcome returned as data):

- handled: the ticket is in line with the policy (and released if it was parked);
- locked: another worker is on the same ticket: the job runs again a second later;
- retried: a passing Zendesk fault (5xx, timeout, 429 beyond the wait budget,
  the ticket changing under us again and again) reschedules it with capped
  exponential backoff and jitter, never sooner than Zendesk's Retry-After;
- parked: after RETRY_FOR of failing, or at once for a failure that a retry
  cannot fix (a 422: the ticket cannot be written; a bug), the ticket is
  parked: `escalations doctor` lists it and every sweep tries it again;
- dropped: a 404 (the ticket was deleted) ends the job with a log line.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

from huey import Huey
from huey.exceptions import TaskLockedException

from escalations.config import BACKOFF_SECONDS
from escalations.service.handling import is_passing
from escalations.service.leases import exclusive
from escalations.service.logs import about_ticket
from escalations.service.records import ParkedTickets
from escalations.service.runtime import (
    LOCKED_RETRY_SECONDS,
    RETRY_FOR,
    Runtime,
    backoff,
    runtime,
    service_queues,
    service_settings,
)
from escalations.zendesk.gateway import (
    TicketGone,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TicketJob:
    """One ticket to handle, as it travels through the queue (its retries included)."""

    ticket_id: int
    invocation_id: str | None = None  # the webhook invocation that asked, for the log
    first_failure: float | None = None  # wall-clock time of the first failure, while retrying
    failures: int = 0


@dataclass(frozen=True)
class JobResult:
    """What became of one run of a ticket job; `delay`: when a rescheduled job runs again."""

    outcome: str  # handled, locked, retried, parked or dropped
    delay: float | None = None
    detail: str = ""


Schedule = Callable[[TicketJob, float], None]


def schedule_in_queue(job: TicketJob, delay: float) -> None:
    service_queues().process_ticket(job.ticket_id, job.invocation_id, job.first_failure, job.failures, delay=delay)


@dataclass
class TicketJobs:
    """Runs ticket jobs: handles the ticket under its lock, and decides what a failure means.

    Every way out is a `JobResult`; a job to run again is handed to `schedule`
    with its delay (the queue's in production, a list in the tests), and the
    failures are timed by `clock` (wall-clock seconds: a retry may run in
    another process, after a restart).
    """

    runtime: Callable[[], Runtime]
    queue: Huey
    schedule: Schedule = schedule_in_queue
    clock: Callable[[], float] = time.time
    jitter: Callable[[float, float], float] = random.uniform
    lock: Callable[[str], AbstractContextManager[None]] | None = None  # by default the queue's leases
    first_backoff: float = BACKOFF_SECONDS

    def run(self, job: TicketJob) -> JobResult:
        with about_ticket(job.ticket_id, job.invocation_id):
            result = self._run(job)
            if result.delay is not None:
                self.schedule(self._next(job, result), result.delay)
            return result

    def _next(self, job: TicketJob, result: JobResult) -> TicketJob:
        if result.outcome == "locked":
            return job
        first = job.first_failure if job.first_failure is not None else self.clock()
        return replace(job, first_failure=first, failures=job.failures + 1)

    def _run(self, job: TicketJob) -> JobResult:
        parked = ParkedTickets(self.queue)
        ticket_id = job.ticket_id
        lock = self.lock if self.lock is not None else lambda name: exclusive(name, self.queue)
        try:
            context = self.runtime()
            with lock(f"ticket-{ticket_id}"):
                context.handle(ticket_id, context.gateway())
        except TaskLockedException:
            return JobResult("locked", LOCKED_RETRY_SECONDS)
        except TicketGone as gone:
            log.warning("ticket %s dropped: %s", ticket_id, gone)
            return JobResult("dropped", detail=str(gone))
        except Exception as error:
            if not is_passing(error):  # a job that cannot succeed is parked, never lost or retried blindly
                log.exception("ticket %s parked", ticket_id)
                reason = f"{error.__class__.__name__}: {error}"
                parked.park(ticket_id, reason)
                return JobResult("parked", detail=reason)
            started = job.first_failure if job.first_failure is not None else self.clock()
            if self.clock() - started >= RETRY_FOR:
                log.error("ticket %s parked after %d failures: %s", ticket_id, job.failures + 1, error)
                parked.park(ticket_id, str(error))
                return JobResult("parked", detail=str(error))
            delay = max(
                backoff(job.failures + 1, self.jitter, self.first_backoff), getattr(error, "retry_after", None) or 0.0
            )
            log.warning("ticket %s: %s; retrying in %.0f s", ticket_id, error, delay)
            return JobResult("retried", delay, str(error))
        parked.release(ticket_id)
        return JobResult("handled")


def process_ticket_job(
    ticket_id: int, first_failure: float | None = None, failures: int = 0, invocation_id: str | None = None
) -> None:
    """Handle one ticket, serialised per ticket; retry passing faults, park persistent ones."""
    jobs = TicketJobs(runtime, service_queues().tickets, first_backoff=service_settings().backoff_seconds)
    jobs.run(TicketJob(ticket_id, invocation_id, first_failure, failures))
