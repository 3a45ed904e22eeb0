"""The service's queues: the jobs it enqueues, and the records of parked tickets and notification deliveries.

SQLite in the data directory by default (embedded, nothing to install), Redis
when REDIS_URL is set so that several machines share the work (`storage`).
`Queues` is built from the settings where it is first needed; the jobs' work is
given to it by the worker process (`escalations.service.worker`), the only one
that runs jobs: the web processes enqueue without loading Zenpy, the templates
or the policy.

Notifications for managers have a queue of their own (`notifications`, in the
same SQLite file or Redis), worked by a few threads of their own, so that a
slow or failing target never holds up ticket work. Sending is not idempotent:
`NotificationDeliveries` records each attempt before it is made, so a job
that runs again after a crash never sends twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from huey import Huey
from huey.api import TaskWrapper

from escalations.config import Settings
from escalations.service.huey_adapter import named_task
from escalations.service.storage import make_huey, storage_of

log = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Work:
    """What runs each kind of job: given by the worker process, which alone runs them."""

    process_ticket: Callable[..., None]
    sweep: Callable[..., None]
    send_notification: Callable[..., None]


class Queues:
    """The service's queues: the tickets' work, and the managers' notifications apart.

    Built from the settings where they are first needed (no queue exists
    before: importing this module touches nothing). The web front and the
    admin commands only enqueue and read counts; the worker gives the `Work`
    that runs the jobs. The jobs keep the names earlier versions queued them
    under (see `huey_adapter`).
    """

    def __init__(self, tickets: Huey, notifications: Huey, work: Work | None = None) -> None:
        self.tickets = tickets
        self.notifications = notifications
        self.work = work
        self._process_ticket = named_task(tickets, self.process_ticket_task, "process_ticket")
        self._sweep = named_task(tickets, self.sweep_task, "sweep")
        self._send_notification = named_task(notifications, self.send_notification_task, "send_notification")

    @classmethod
    def from_settings(cls, settings: Settings, work: Work | None = None) -> Queues:
        def queue(name: str) -> Huey:
            return make_huey(settings.redis_url, settings.data_dir, name, lease_seconds=settings.lease_seconds)

        return cls(queue("escalations"), queue("escalations-notifications"), work)

    # -- enqueueing ------------------------------------------------------------------------------

    def process_ticket(
        self,
        ticket_id: int,
        invocation_id: str | None = None,
        first_failure: float | None = None,
        failures: int = 0,
        delay: float | None = None,
    ) -> None:
        """Queue a ticket's job (after `delay` seconds, for a retry)."""
        self._queue(self._process_ticket, (ticket_id, first_failure, failures, invocation_id), delay)

    def sweep(self, retry_if_locked: bool = True, forced: bool = False, delay: float | None = None) -> None:
        """Queue a catch-up sweep; `forced`: whenever the last one ran (at start, or the retry of one)."""
        self._queue(self._sweep, (retry_if_locked, forced), delay)

    def send_notification(
        self,
        delivery_id: str,
        target: str,
        event: str,
        ticket_id: int,
        title: str,
        body: str,
        first_failure: float | None = None,
        failures: int = 0,
        delay: float | None = None,
    ) -> None:
        """Queue one notification to one target."""
        arguments = (delivery_id, target, event, ticket_id, title, body, first_failure, failures)
        self._queue(self._send_notification, arguments, delay)

    @staticmethod
    def _queue(task: TaskWrapper, arguments: tuple[Any, ...], delay: float | None) -> None:
        if delay is None:
            task(*arguments)
        else:
            task.schedule(args=arguments, delay=delay)

    # -- the jobs, as huey runs them ------------------------------------------------------------

    def process_ticket_task(
        self, ticket_id: int, first_failure: float | None = None, failures: int = 0, invocation_id: str | None = None
    ) -> None:
        self._work().process_ticket(ticket_id, first_failure, failures, invocation_id)

    def sweep_task(self, retry_if_locked: bool = True, forced: bool = False) -> None:
        self._work().sweep(retry_if_locked, forced)

    def send_notification_task(
        self,
        delivery_id: str,
        target: str,
        event: str,
        ticket_id: int,
        title: str,
        body: str,
        first_failure: float | None = None,
        failures: int = 0,
    ) -> None:
        self._work().send_notification(delivery_id, target, event, ticket_id, title, body, first_failure, failures)

    def _work(self) -> Work:
        if self.work is None:
            raise RuntimeError("jobs run in the worker (escalations worker), which gives the queues their work")
        return self.work

    # -- what doctor and /metrics show ---------------------------------------------------------

    def status(self, details: bool = True) -> dict[str, Any]:
        """What `doctor` shows about the background work; without `details`, no list of failed notifications
        (which reads every delivery record), for `/metrics`, which is scraped often and shows only counts."""
        store = json.loads(json.dumps(self.tickets.get("sweep", peek=True) or {}, default=str))
        notifications = self.notifications
        pending, scheduled = notifications.pending_count(), notifications.scheduled_count()
        sending = storage_of(notifications).in_progress()
        return {
            "pending": self.tickets.pending_count(),
            "in_progress": storage_of(self.tickets).in_progress(),
            "scheduled": self.tickets.scheduled_count(),
            "parked": list(ParkedTickets(self.tickets).items()),
            "sweep": store,
            "notifications": {
                "pending": pending,
                "in_progress": sending,
                "scheduled": scheduled,
                "waiting": pending + sending + scheduled,
                "failed": NotificationDeliveries(notifications).failed() if details else [],
            },
        }


def _records(queue: Huey, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records kept in the queue's result store under `prefix`, by the rest of their key."""
    for key, raw in queue.storage.result_items().items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name.startswith(prefix):
            yield name[len(prefix) :], queue.serializer.deserialize(raw)


class ParkedTickets:
    """Tickets that kept failing; kept in the queue's own storage so every instance sees them."""

    PREFIX = "parked:"

    def __init__(self, queue: Huey, clock: Callable[[], datetime] = now) -> None:
        self.queue = queue
        self.clock = clock

    def park(self, ticket_id: int, reason: str) -> None:
        """Park the ticket with the reason it failed this time; parked again, it keeps the time it was first."""
        key = f"{self.PREFIX}{ticket_id}"
        since = (self.queue.get(key, peek=True) or {}).get("since") or self.clock().isoformat()
        self.queue.put(key, {"since": since, "reason": reason})

    def release(self, ticket_id: int) -> None:
        self.queue.delete(f"{self.PREFIX}{ticket_id}")

    def items(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for name, record in _records(self.queue, self.PREFIX):
            yield int(name), record

    def ticket_ids(self) -> list[int]:
        return [ticket_id for ticket_id, _ in self.items()]


class NotificationDeliveries:
    """What became of each notification delivery (one event to one target), beside its jobs.

    A delivery's record says which attempt was made last and how it ended:
    `sending` is written before the target is called, then `sent`, `failed`
    (a retry is scheduled), `gave_up` or `interrupted`. A job finding its own
    attempt still `sending` belongs to a worker that died while sending: the
    target may have the message, so it is not sent again. Records are kept
    for KEEP_SECONDS; `doctor` lists the deliveries that gave up or were
    interrupted.
    """

    PREFIX = "notification:"
    KEEP_SECONDS = 7 * 86400.0
    FAILED = ("gave_up", "interrupted")

    def __init__(self, queue: Huey, clock: Callable[[], float] = time.time) -> None:
        self.queue = queue
        self.clock = clock

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        record = self.queue.get(f"{self.PREFIX}{delivery_id}", peek=True)
        return dict(record) if record else None

    def record(self, delivery_id: str, attempt: int, state: str, **details: Any) -> None:
        self.queue.put(
            f"{self.PREFIX}{delivery_id}", {"attempt": attempt, "state": state, "at": self.clock(), **details}
        )

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return _records(self.queue, self.PREFIX)

    def failed(self) -> list[tuple[str, dict[str, Any]]]:
        """The deliveries that gave up or were interrupted, newest first."""
        found = [(delivery, record) for delivery, record in self.items() if record.get("state") in self.FAILED]
        return sorted(found, key=lambda item: -float(item[1].get("at") or 0))

    def forget_failures(self) -> int:
        """Forget the deliveries that gave up or were interrupted (once the targets work again)."""
        failed = self.failed()
        for delivery, _ in failed:
            self.queue.delete(f"{self.PREFIX}{delivery}")
        return len(failed)

    def prune(self) -> int:
        """Forget the records older than KEEP_SECONDS."""
        oldest = self.clock() - self.KEEP_SECONDS
        old = [delivery for delivery, record in self.items() if float(record.get("at") or 0) < oldest]
        for delivery in old:
            self.queue.delete(f"{self.PREFIX}{delivery}")
        return len(old)
