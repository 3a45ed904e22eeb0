"""The background work: a durable queue of tickets to handle, retries, parking, and the catch-up sweep.

The queue itself is `escalations.service.queue` (light enough for the web processes to
import); the jobs' work is here, imported only by the worker process that
`escalations serve` starts (`escalations worker`).

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

What becomes of a notification job (`NotificationJobs.run`), one event to one
target, run by threads of their own so that a slow target never holds up a
ticket: sent; retried with the same capped backoff while the target fails;
gave_up after RETRY_FOR (logged, counted, listed by `escalations doctor`);
interrupted when an earlier run of the same attempt died while sending (the
target may have it: never sent twice); dropped when the target is no longer
configured; skipped when the delivery is already done.

Clocks come in as arguments: the tests play an hour of failures without waiting.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime

from huey import Huey
from huey.consumer import Consumer
from huey.exceptions import TaskLockedException

from escalations.config import BACKOFF_SECONDS, Settings, load_settings
from escalations.core.calendar import WorkingCalendar
from escalations.core.messages import MessageRenderer
from escalations.core.policy import PolicySettings, staff_replies
from escalations.core.tickets import Comment, Notification, TicketSnapshot
from escalations.service import notify
from escalations.service.handling import Handled, handle_ticket, is_passing
from escalations.service.huey_adapter import FinishingConsumer
from escalations.service.logs import about_ticket
from escalations.service.metrics import DECISIONS, NOTIFICATIONS, PROCESSING
from escalations.service.queue import (
    ConsumerPresence,
    NotificationDeliveries,
    ParkedTickets,
    Queues,
    Work,
    exclusive,
    now,
    storage_of,
)
from escalations.service.sweep import SweepStore, TicketBusy, run_sweep
from escalations.zendesk import pacing
from escalations.zendesk.gateway import (
    TicketGone,
    ZendeskError,
    ZendeskGateway,
    ZendeskUnavailable,
    make_client,
)
from escalations.zendesk.state import AccountState
from escalations.zendesk.state_store import CurrentState, open_state_store, read_state

log = logging.getLogger(__name__)

RETRY_FOR = 3600.0  # keep retrying a failing ticket for an hour before parking it
BACKOFF_CAP = 300.0
LOCKED_RETRY_SECONDS = 1.0  # another worker has the ticket: look again this soon
ROSTER_SECONDS = 300.0
THREADS = 4
NOTIFICATION_THREADS = 2  # apart from the ticket threads: a target that hangs holds only these


class ManagerRoster:
    """Who is in each managers' group: each read at most every ROSTER_SECONDS (not once per job), and read again
    at once for a staff reply by someone not in it that no read of it has seen yet (a manager just added)."""

    def __init__(self, group_id: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.group_id = group_id  # the default group, for a ticket whose brand has none of its own
        self.clock = clock
        self._members: dict[int, tuple[frozenset[int], float]] = {}
        self._seen: dict[int, set[int]] = {}  # by group: the replies that were there when it was read
        self._lock = threading.Lock()

    def members(
        self, gateway: ZendeskGateway, group_id: int | None = None, replies: Iterable[Comment] = ()
    ) -> frozenset[int]:
        group = self.group_id if group_id is None else group_id
        replies = tuple(replies)
        with self._lock:
            known = self._members.get(group)
            seen = self._seen.setdefault(group, set())
            stale = known is None or self.clock() - known[1] >= ROSTER_SECONDS
            unknown = known is not None and any(r.author_id not in known[0] and r.id not in seen for r in replies)
            if known is None or stale or unknown:
                known = (gateway.group_member_ids(group), self.clock())
                self._members[group] = known
                if stale:
                    seen.clear()
            seen.update(reply.id for reply in replies)
            return known[0]


class BrandNames:
    """The account's brands by id, read once (`GET /api/v2/brands`); read again at most every
    ROSTER_SECONDS when a ticket's brand is not among them (a brand added since)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._names: dict[int, str] = {}
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def names(self, gateway: ZendeskGateway, brand_id: int | None) -> Mapping[int, str]:
        with self._lock:
            stale = self._read_at is None or self.clock() - self._read_at >= ROSTER_SECONDS
            if self._read_at is None or (brand_id is not None and brand_id not in self._names and stale):
                self._read_at = self.clock()
                try:
                    self._names = gateway.brand_names()
                except ZendeskError as error:  # the messages then leave the brand out; nothing else needs it
                    log.warning("the account's brands could not be read: %s", error)
            return dict(self._names)


@dataclass(frozen=True)
class NotificationDelivery:
    """One notification to one target, as it travels through the notifications' queue."""

    delivery_id: str
    target: str  # the target URL's fingerprint: the queue never holds the URL and its secrets
    event: str
    ticket_id: int
    title: str
    body: str


Enqueue = Callable[[NotificationDelivery], None]


def enqueue_notification(delivery: NotificationDelivery) -> None:
    service_queues().send_notification(
        delivery.delivery_id, delivery.target, delivery.event, delivery.ticket_id, delivery.title, delivery.body
    )


def notification_targets(settings: Settings) -> dict[str, str]:
    """The configured targets by fingerprint."""
    return {notify.fingerprint(url): url for url in settings.notify_urls}


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    state: AccountState
    renderer: MessageRenderer
    managers: ManagerRoster
    calendar: WorkingCalendar
    clock: Callable[[], datetime] = now
    enqueue: Enqueue = enqueue_notification
    brands: BrandNames = field(default_factory=BrandNames)

    def policy(self, gateway: ZendeskGateway, ticket: TicketSnapshot) -> PolicySettings:
        """The policy settings for one ticket; the roster of the ticket's managers' group is read only when
        it matters."""
        settings = PolicySettings(
            manager_group_id=self.state.manager_group_id,
            calendar=self.calendar,
            allow_copied_end_users=self.settings.allow_copied_end_users,
            service_user_id=self.state.service_user_id,
            active_since=self.state.active_since_time,
            phrases=self.settings.phrases,
            notify_events=self.settings.notify_events if self.settings.notify_urls else frozenset(),
            brand_group_ids=self.state.brand_group_ids,
            brand_names=self.brands.names(gateway, ticket.brand_id),
            excluded_tags=frozenset(self.settings.exclude_tags),
            excluded_brand_ids=frozenset(self.state.excluded_brand_ids),
            help_center_url=self.settings.help_center_url or "",
        )
        replies = self.staff_replies(ticket)
        if not replies:
            return settings
        group = settings.managers_group_id(ticket)
        return replace(settings, manager_ids=self.managers.members(gateway, group, replies))

    def staff_replies(self, ticket: TicketSnapshot) -> tuple[Comment, ...]:
        """The replies that may be the managers': the service's own confirmation or refusal is none of them."""
        return staff_replies(ticket, self.state.service_user_id)

    def handle(self, ticket_id: int, gateway: ZendeskGateway) -> Handled:
        with about_ticket(ticket_id), PROCESSING.time():
            handled = handle_ticket(
                ticket_id,
                gateway,
                lambda ticket: self.policy(gateway, ticket),
                self.renderer,
                self.clock,
                self.announce,
            )
        DECISIONS.labels(outcome=handled.decision.outcome).inc()
        return handled

    def announce(self, notification: Notification) -> None:
        """Queue a claimed notification for every target; called once its claim is written to the ticket.

        The ticket's work goes on whatever happens here: a notification that
        cannot be queued is logged and counted as lost, never retried through
        the ticket (its claim is already written).
        """
        title, body = notify.compose(notification, self.settings.zendesk_base_url, self.settings.timezone)
        for target in notification_targets(self.settings):
            delivery = NotificationDelivery(
                uuid.uuid4().hex, target, notification.event, notification.ticket_id, title, body
            )
            try:
                self.enqueue(delivery)
            except Exception:
                log.exception(
                    "notification %s of ticket %s could not be queued: lost", notification.event, notification.ticket_id
                )
                NOTIFICATIONS.labels(event=notification.event, outcome="lost").inc()
                continue
            log.info("ticket %s: notification %s queued", notification.ticket_id, notification.event)

    def gateway(self) -> ZendeskGateway:
        return ZendeskGateway(self.settings, self.state.field_ids, make_client(self.settings))


def build_runtime(settings: Settings, state: AccountState | None = None) -> Runtime:
    """Everything a job needs, from the settings and the state `setup` stored (or `state`)."""
    state = state if state is not None else read_state(open_state_store(settings))
    calendar = settings.calendar
    if settings.schedule:
        schedule = ZendeskGateway(settings, state.field_ids, make_client(settings)).business_calendar(settings.schedule)
        # Public holidays configured as well are added to the schedule's own.
        calendar = replace(schedule, holidays=schedule.holidays | settings.calendar.holidays)
    return Runtime(
        settings,
        state,
        MessageRenderer(settings.timezone, settings.templates_dir, settings.phrases),
        ManagerRoster(state.manager_group_id),
        calendar,
    )


@functools.cache
def service_settings() -> Settings:
    return notify.check_notify_urls(load_settings())


class Runtimes:
    """The runtime for the account state as stored now: once `setup` or `rotate-secret` has changed it, the next
    job gets a runtime with the new state (keeping the calendar, and the managers' roster of the same group)."""

    def __init__(self, settings: Settings, states: Callable[[], AccountState]) -> None:
        self.settings = settings
        self.states = states
        self._current: Runtime | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Runtime:
        state = self.states()
        with self._lock:
            current = self._current
            if current is None:
                current = build_runtime(self.settings, state)
            elif current.state is not state:
                same_group = current.managers.group_id == state.manager_group_id
                managers = current.managers if same_group else ManagerRoster(state.manager_group_id)
                current = replace(current, state=state, managers=managers)
            self._current = current
            return current


@functools.cache
def runtimes() -> Runtimes:
    settings = service_settings()
    return Runtimes(settings, CurrentState(open_state_store(settings)))


def runtime() -> Runtime:
    return runtimes()()


@functools.cache
def service_queues() -> Queues:
    """The queues, with the work this process runs for their jobs."""
    return Queues.from_settings(service_settings(), Work(process_ticket_job, sweep_job, send_notification_job))


def backoff(
    failures: int, jitter: Callable[[float, float], float] = random.uniform, first: float = BACKOFF_SECONDS
) -> float:
    """Capped exponential backoff with jitter, in seconds: `first` for the first retry, doubling after that."""
    return jitter(0.5, 1.0) * min(BACKOFF_CAP, first * 2.0 ** (min(failures, 16) - 1))


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
