"""Notification jobs: one event for the managers sent to one target, once.

What becomes of a notification job (`NotificationJobs.run`), one event to one
target, run by threads of their own so that a slow target never holds up a
ticket: sent; retried with the same capped backoff while the target fails;
gave_up after RETRY_FOR (logged, counted, listed by `escalations doctor`);
interrupted when an earlier run of the same attempt died while sending (the
target may have it: never sent twice); dropped when the target is no longer
configured; skipped when the delivery is already done.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

from huey import Huey
from huey.exceptions import TaskLockedException

from escalations.config import BACKOFF_SECONDS
from escalations.service import notify
from escalations.service.leases import exclusive
from escalations.service.logs import about_ticket
from escalations.service.metrics import NOTIFICATIONS
from escalations.service.records import NotificationDeliveries
from escalations.service.runtime import (
    LOCKED_RETRY_SECONDS,
    RETRY_FOR,
    NotificationDelivery,
    backoff,
    notification_targets,
    service_queues,
    service_settings,
)
from escalations.service.ticket_jobs import JobResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotificationJob:
    """One attempt at a notification delivery; `failures` counts the attempts before it."""

    delivery: NotificationDelivery
    first_failure: float | None = None
    failures: int = 0


# How each outcome of a notification job is counted in escalations_notifications_total.
COUNTED_OUTCOMES = {
    "sent": "sent",
    "retried": "failed",
    "gave_up": "gave_up",
    "interrupted": "interrupted",
    "dropped": "dropped",
}


def schedule_notification(job: NotificationJob, delay: float) -> None:
    d = job.delivery
    service_queues().send_notification(
        d.delivery_id, d.target, d.event, d.ticket_id, d.title, d.body, job.first_failure, job.failures, delay=delay
    )


@dataclass
class NotificationJobs:
    """Runs notification jobs: at most one send per attempt, retries while the target fails, then gives up.

    Before a target is called, the attempt is recorded as `sending` in the
    queue's storage; a run that finds its own attempt still `sending` follows
    a worker that died mid-send, and sends nothing (the target may have the
    message). Zendesk is never called here: the ticket's work is done.
    """

    targets: Callable[[], Mapping[str, str]]  # fingerprint -> URL
    queue: Huey
    send: Callable[[str, str, str, str], bool] = notify.deliver
    schedule: Callable[[NotificationJob, float], None] = schedule_notification
    clock: Callable[[], float] = time.time
    jitter: Callable[[float, float], float] = random.uniform
    lock: Callable[[str], AbstractContextManager[None]] | None = None  # by default the queue's leases
    first_backoff: float = BACKOFF_SECONDS

    def run(self, job: NotificationJob) -> JobResult:
        delivery = job.delivery
        with about_ticket(delivery.ticket_id):
            lock = self.lock if self.lock is not None else lambda name: exclusive(name, self.queue)
            try:
                with lock(f"notification-{delivery.delivery_id}"):
                    result = self._run(job)
            except TaskLockedException:
                result = JobResult("locked", LOCKED_RETRY_SECONDS)
            counted = COUNTED_OUTCOMES.get(result.outcome)
            if counted is not None:
                NOTIFICATIONS.labels(event=delivery.event, outcome=counted).inc()
            if result.delay is not None:
                again = job if result.outcome == "locked" else self._next(job)
                self.schedule(again, result.delay)
            return result

    def _next(self, job: NotificationJob) -> NotificationJob:
        first = job.first_failure if job.first_failure is not None else self.clock()
        return replace(job, first_failure=first, failures=job.failures + 1)

    def _run(self, job: NotificationJob) -> JobResult:
        delivery, attempt = job.delivery, job.failures
        deliveries = NotificationDeliveries(self.queue, self.clock)
        what = f"notification {delivery.event} of ticket {delivery.ticket_id}"
        record = deliveries.get(delivery.delivery_id)
        if record is not None:
            recorded, state = int(record.get("attempt", 0)), record.get("state")
            if recorded == attempt and state == "sending":
                log.error("%s: the worker died while sending it; not sent again (the target may have it)", what)
                self._record_final(deliveries, job, "interrupted")
                return JobResult("interrupted")
            if recorded == attempt and state == "failed":  # the retry may not have been scheduled before a crash
                return JobResult("rescheduled", self._delay(job))
            if recorded >= attempt or state != "failed":
                return JobResult("skipped", detail=f"already {state}")
        url = self.targets().get(delivery.target)
        if url is None:
            log.warning("%s dropped: its target is no longer in ESCALATION_NOTIFY", what)
            return JobResult("dropped")
        target = notify.describe(url)
        deliveries.record(delivery.delivery_id, attempt, "sending")
        if self.send(url, delivery.title, delivery.body, delivery.event):
            deliveries.record(delivery.delivery_id, attempt, "sent")
            log.info("%s sent to %s", what, target)
            return JobResult("sent")
        started = job.first_failure if job.first_failure is not None else self.clock()
        if self.clock() - started >= RETRY_FOR:
            log.error("%s: %s kept failing for %.0f minutes; given up", what, target, RETRY_FOR / 60)
            self._record_final(deliveries, job, "gave_up")
            return JobResult("gave_up", detail=f"{target} kept failing")
        deliveries.record(delivery.delivery_id, attempt, "failed")
        delay = self._delay(job)
        log.warning("%s: %s failed; retrying in %.0f s", what, target, delay)
        return JobResult("retried", delay, f"{target} failed")

    @staticmethod
    def _record_final(deliveries: NotificationDeliveries, job: NotificationJob, state: str) -> None:
        """Record a delivery that ends without being sent, with what `doctor` shows about it."""
        delivery = job.delivery
        deliveries.record(
            delivery.delivery_id,
            job.failures,
            state,
            event=delivery.event,
            ticket_id=delivery.ticket_id,
            target=delivery.target,
        )

    def _delay(self, job: NotificationJob) -> float:
        return backoff(job.failures + 1, self.jitter, self.first_backoff)


def send_notification_job(
    delivery_id: str,
    target: str,
    event: str,
    ticket_id: int,
    title: str,
    body: str,
    first_failure: float | None = None,
    failures: int = 0,
) -> None:
    """Send one notification to one target; retry while it fails, give up after RETRY_FOR."""
    delivery = NotificationDelivery(delivery_id, target, event, ticket_id, title, body)
    # The settings alone: a notification waits for nothing else, not even Zendesk being reachable.
    settings = service_settings()
    jobs = NotificationJobs(
        lambda: notification_targets(settings), service_queues().notifications, first_backoff=settings.backoff_seconds
    )
    jobs.run(NotificationJob(delivery, first_failure, failures))
