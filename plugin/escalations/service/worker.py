"""The worker process (`escalations worker`, started by `escalations serve`): it alone runs the jobs.

The queue itself is `escalations.service.queue` (light enough for the web processes to
import); the jobs' work is in `ticket_jobs`, `notification_jobs` and the catch-up sweep
here, with what they share in `runtime`. `main` gives the queues that work, takes jobs
until SIGTERM or SIGINT, and enqueues a sweep on schedule.

Clocks come in as arguments: the tests play an hour of failures without waiting.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from huey import Huey
from huey.consumer import Consumer
from huey.exceptions import TaskLockedException

from escalations.service.handling import Handled
from escalations.service.huey_adapter import FinishingConsumer
from escalations.service.leases import ConsumerPresence, exclusive
from escalations.service.notification_jobs import send_notification_job
from escalations.service.queue import Queues, Work
from escalations.service.records import NotificationDeliveries, ParkedTickets
from escalations.service.runtime import Runtime, backoff, runtime, service_queues, service_settings
from escalations.service.storage import storage_of
from escalations.service.sweep import SweepStore, TicketBusy, run_sweep
from escalations.service.ticket_jobs import TicketJob, process_ticket_job, schedule_in_queue
from escalations.zendesk import pacing
from escalations.zendesk.gateway import (
    ZendeskError,
    ZendeskGateway,
    ZendeskUnavailable,
)

log = logging.getLogger(__name__)

THREADS = 4
NOTIFICATION_THREADS = 2  # apart from the ticket threads: a target that hangs holds only these


def this_host() -> str:
    """This process as doctor and /metrics name it: its host and process id."""
    return f"{socket.gethostname()} (pid {os.getpid()})"


def retry_sweep(delay: float) -> None:
    service_queues().sweep(False, delay=delay)


def retry_ticket_later(ticket_id: int) -> None:
    """A ticket the sweep met a passing fault on: a ticket job retries it, by the rules the worker's jobs follow."""
    first = service_settings().backoff_seconds
    schedule_in_queue(TicketJob(ticket_id, first_failure=time.time(), failures=1), backoff(1, first=first))


@dataclass
class Sweeps:
    """Runs the catch-up sweep: once per interval for every worker sharing the queue, one at a time.

    Every worker schedules sweeps; under the sweep's lock, a scheduled one
    has nothing to do when a sweep (on this host or another) started less
    than nine tenths of ESCALATIONS_RECONCILE_SECONDS ago and finished. The
    sweep at start (the service may have been down) is `forced` past that
    check. A sweep that finds another one running is retried once, when the
    lock's lease can have expired: the holder may be a worker that died
    mid-sweep, and then its sweep did not finish.
    """

    runtime: Callable[[], Runtime]
    queue: Huey
    retry: Callable[[float], None] = retry_sweep
    retry_ticket: Callable[[int], None] = retry_ticket_later
    notifications: Huey | None = None  # whose delivery records a sweep prunes, when notifying
    host: str = field(default_factory=this_host)

    def run(self, retry_if_locked: bool = True, forced: bool = False) -> str:
        storage = storage_of(self.queue)
        try:
            context = self.runtime()
            with exclusive("sweep", self.queue):
                store = SweepStore(self.queue, context.state, self.host)
                if not forced and store.finished_within(0.9 * context.settings.reconcile_seconds, context.clock()):
                    log.info("the sweep of this interval has run already")
                    return "skipped"
                handled = run_sweep(
                    context.gateway(),
                    store,
                    ParkedTickets(self.queue),
                    lambda ticket_id, gateway: self._handle(context, ticket_id, gateway),
                    context.clock,
                    context.settings.phrases,
                    notifying=bool(context.settings.notify_urls),
                    retry_later=self.retry_ticket,
                )
        except TaskLockedException:
            if retry_if_locked:
                delay = storage.lease_seconds + 1  # once the lease of a holder that died can have run out
                log.info("a sweep is already running; trying again in %.0f s", delay)
                self.retry(delay)
                return "retried"
            log.info("a sweep is already running")
            return "locked"
        except ZendeskError as fault:
            log.warning("sweep stopped early, will resume from its cursor: %s", fault)
            return "stopped"
        log.info("sweep done: %d ticket(s) handled", len(handled))
        if context.settings.notify_urls and self.notifications is not None:
            NotificationDeliveries(self.notifications).prune()  # what each delivery became, kept for a week
        return "done"

    def _handle(self, context: Runtime, ticket_id: int, gateway: ZendeskGateway) -> Handled:
        """Handle a ticket under its lock, as a job does; one a job holds is that job's (TicketBusy)."""
        try:
            with exclusive(f"ticket-{ticket_id}", self.queue):
                return context.handle(ticket_id, gateway)
        except TaskLockedException:
            raise TicketBusy(ticket_id) from None


def sweep_job(retry_if_locked: bool = True, forced: bool = False) -> None:
    """Catch up on escalation comments whose webhook never arrived."""
    queues = service_queues()
    Sweeps(runtime, queues.tickets, notifications=queues.notifications).run(retry_if_locked, forced)


def schedule_sweeps(queues: Queues, interval: float, stop: threading.Event) -> None:
    """Enqueue a sweep every `interval` seconds until `stop` is set.

    A sweep that finds the lock held is retried when the lock's lease can have
    expired, unless the next sweep comes sooner anyway.
    """
    retry_if_locked = interval > storage_of(queues.tickets).lease_seconds + 1
    while not stop.wait(interval):
        queues.sweep(retry_if_locked)


def main() -> None:
    """Run the consumer (and the sweep schedule) until SIGTERM or SIGINT; both finish in-flight work."""
    settings = service_settings()
    queues = service_queues()
    queues.work = Work(process_ticket_job, sweep_job, send_notification_job)
    try:
        runtime()  # a configuration problem stops the worker now, with its message
    except ZendeskUnavailable as fault:
        log.warning("Zendesk is not reachable yet (%s); jobs will wait and retry", fault)
    presence = ConsumerPresence(queues.tickets)
    presence.start()  # also puts back on the queue what a worker that died had taken
    log.info("taking jobs as consumer %s on %s", presence.storage.consumer_id, this_host())
    notifying = start_notification_consumer(queues.notifications) if settings.notify_urls else None
    stop = threading.Event()
    scheduler = threading.Thread(
        target=schedule_sweeps, args=(queues, settings.reconcile_seconds, stop), name="sweep schedule", daemon=True
    )
    scheduler.start()
    # Catch up at start: the service may have been down.
    queues.sweep(settings.reconcile_seconds > settings.lease_seconds + 1, forced=True)
    # SIGTERM and SIGINT both mean: finish the jobs in flight, then stop. A call waiting for its
    # turn gives up: its job is retried after the restart.
    consumer = FinishingConsumer(
        queues.tickets,
        on_signal=pacing.stop_waiting,
        workers=THREADS,
        worker_type="thread",
        periodic=False,
        graceful_signal="TERM",
        initial_delay=0.05,
        max_delay=0.5,  # an idle consumer still picks up new work within half a second
    )
    try:
        consumer.run()  # its signal handlers, set last, are the process's
    finally:
        stop.set()
        if notifying is not None:
            notifying[0].stop(graceful=True)
            notifying[1].stop()
        presence.stop()


def start_notification_consumer(notifications: Huey) -> tuple[Consumer, ConsumerPresence]:
    """The notifications' own queue worker: NOTIFICATION_THREADS threads beside the ticket threads."""
    presence = ConsumerPresence(notifications)
    presence.start()
    consumer = notifications.create_consumer(
        workers=NOTIFICATION_THREADS,
        worker_type="thread",
        periodic=False,
        initial_delay=0.05,
        max_delay=0.5,
    )
    consumer.start()
    return consumer, presence
