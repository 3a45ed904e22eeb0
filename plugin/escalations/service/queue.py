"""The service's queues: the jobs it enqueues, and what doctor and /metrics read of them.

SQLite in the data directory by default (embedded, nothing to install), Redis
when REDIS_URL is set so that several machines share the work (`storage`).
`Queues` is built from the settings where it is first needed; the jobs' work is
given to it by the worker process (`escalations.service.worker`), the only one
that runs jobs: the web processes enqueue without loading Zenpy, the templates
or the policy.

Notifications for managers have a queue of their own (`notifications`, in the
same SQLite file or Redis), worked by a few threads of their own, so that a
slow or failing target never holds up ticket work. Sending is not idempotent:
`records.NotificationDeliveries` records each attempt before it is made, so a job
that runs again after a crash never sends twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huey import Huey
from huey.api import TaskWrapper

from escalations.config import Settings
from escalations.service.huey_adapter import named_task
from escalations.service.records import NotificationDeliveries, ParkedTickets
from escalations.service.storage import make_huey, storage_of

log = logging.getLogger(__name__)


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
        notification_status: dict[str, Any] = {
            "pending": pending,
            "in_progress": sending,
            "scheduled": scheduled,
            "waiting": pending + sending + scheduled,
        }
        if details:
            notification_status["failed"] = NotificationDeliveries(notifications).failed()
        return {
            "pending": self.tickets.pending_count(),
            "in_progress": storage_of(self.tickets).in_progress(),
            "scheduled": self.tickets.scheduled_count(),
            "parked": list(ParkedTickets(self.tickets).items()),
            "sweep": store,
            "notifications": notification_status,
        }
