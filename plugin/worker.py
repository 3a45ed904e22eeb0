"""The background work: a durable queue of tickets to handle, retries, parking, and the catch-up sweep.

The queue itself is `plugin.queue` (light enough for the web processes to
import); the jobs' work is here, imported only by the worker process that
`escalations serve` starts (`escalations worker`).

Retries: a passing Zendesk fault (5xx, timeout, 429 beyond the wait budget)
reschedules the job with capped exponential backoff and jitter. After
RETRY_FOR of failing, the ticket is parked: `escalations doctor` lists it and
every sweep tries it again. A 404/422 (deleted or closed ticket) is dropped
with a log line.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from dataclasses import dataclass, replace

from huey import RedisHuey
from huey.exceptions import TaskLockedException

from plugin.calendar import WorkingCalendar
from plugin.config import Settings, load_settings
from plugin.handling import Handled, TooManyConflicts, handle_ticket
from plugin.logs import about_ticket
from plugin.messages import MessageRenderer
from plugin.metrics import DECISIONS, PROCESSING
from plugin.policy import PolicySettings, TicketSnapshot, needs_manager_roster
from plugin.queue import ParkedTickets, exclusive, huey, now, process_ticket, sweep
from plugin.state import AccountState, load_state
from plugin.sweep import SweepStore, run_sweep
from plugin.zendesk import (
    TicketGone,
    ZendeskError,
    ZendeskGateway,
    ZendeskUnavailable,
    make_client,
)

log = logging.getLogger(__name__)

RETRY_FOR = 3600.0  # keep retrying a failing ticket for an hour before parking it
BACKOFF_CAP = 300.0
TICKET_LOCK_SECONDS = 120  # with Redis, a lock left by a killed worker expires
ROSTER_SECONDS = 300.0


class ManagerRoster:
    """Who is in the managers' group, read at most every ROSTER_SECONDS (not once per job)."""

    def __init__(self, group_id: int) -> None:
        self.group_id = group_id
        self._members: frozenset[int] = frozenset()
        self._read_at = -ROSTER_SECONDS
        self._lock = threading.Lock()

    def members(self, gateway: ZendeskGateway) -> frozenset[int]:
        with self._lock:
            if time.monotonic() - self._read_at >= ROSTER_SECONDS:
                self._members = gateway.group_member_ids(self.group_id)
                self._read_at = time.monotonic()
            return self._members


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    state: AccountState
    renderer: MessageRenderer
    managers: ManagerRoster
    calendar: WorkingCalendar

    def policy(self, gateway: ZendeskGateway, ticket: TicketSnapshot) -> PolicySettings:
        """The policy settings for one ticket; the managers' roster is read only when it matters."""
        return PolicySettings(
            manager_group_id=self.state.manager_group_id,
            calendar=self.calendar,
            allow_copied_end_users=self.settings.allow_copied_end_users,
            service_user_id=self.state.service_user_id,
            active_since=self.state.active_since_time,
            manager_ids=self.managers.members(gateway) if needs_manager_roster(ticket) else frozenset(),
            phrases=self.settings.phrases,
        )

    def handle(self, ticket_id: int, gateway: ZendeskGateway) -> Handled:
        with about_ticket(ticket_id), PROCESSING.time():
            handled = handle_ticket(ticket_id, gateway, lambda ticket: self.policy(gateway, ticket), self.renderer, now)
        DECISIONS.labels(outcome=handled.decision.outcome).inc()
        return handled

    def gateway(self) -> ZendeskGateway:
        return ZendeskGateway(self.settings, self.state.field_ids, make_client(self.settings))


@functools.cache
def runtime() -> Runtime:
    settings = load_settings()
    state = load_state(settings.state_file)
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


def backoff(failures: int) -> float:
    """Capped exponential backoff with full jitter, in seconds."""
    return random.uniform(0.5, 1.0) * min(BACKOFF_CAP, 2.0 ** min(failures, 16))


def process_ticket_job(
    ticket_id: int, first_failure: float | None = None, failures: int = 0, invocation_id: str | None = None
) -> None:
    """Handle one ticket, serialised per ticket; retry passing faults, park persistent ones."""
    with about_ticket(ticket_id, invocation_id):
        _process_ticket(ticket_id, first_failure, failures, invocation_id)


def _process_ticket(ticket_id: int, first_failure: float | None, failures: int, invocation_id: str | None) -> None:
    try:
        context = runtime()
        with exclusive(f"ticket-{ticket_id}", TICKET_LOCK_SECONDS):
            context.handle(ticket_id, context.gateway())
    except TaskLockedException:
        process_ticket.schedule(args=(ticket_id, first_failure, failures, invocation_id), delay=1)
        return
    except TicketGone as gone:
        log.warning("ticket %s dropped: %s", ticket_id, gone)
        return
    except (ZendeskUnavailable, TooManyConflicts) as fault:
        started = first_failure if first_failure is not None else time.time()
        if time.time() - started >= RETRY_FOR:
            log.error("ticket %s parked after %d failures: %s", ticket_id, failures + 1, fault)
            ParkedTickets(huey).park(ticket_id, str(fault))
            return
        delay = max(backoff(failures + 1), getattr(fault, "retry_after", None) or 0.0)
        log.warning("ticket %s: %s; retrying in %.0f s", ticket_id, fault, delay)
        process_ticket.schedule(args=(ticket_id, started, failures + 1, invocation_id), delay=delay)
        return
    except Exception as error:  # a job that cannot succeed is parked, never lost or retried blindly
        log.exception("ticket %s parked", ticket_id)
        ParkedTickets(huey).park(ticket_id, f"{error.__class__.__name__}: {error}")
        return
    ParkedTickets(huey).release(ticket_id)


def sweep_job() -> None:
    """Catch up on escalation comments whose webhook never arrived."""
    try:
        context = runtime()
        with exclusive("sweep", 600):
            run_sweep(
                context.gateway(),
                SweepStore(huey, context.state),
                ParkedTickets(huey),
                context.handle,
                now,
                context.settings.phrases,
            )
    except TaskLockedException:
        log.info("a sweep is already running")
    except ZendeskError as fault:
        log.warning("sweep stopped early, will resume from its cursor: %s", fault)


def schedule_sweeps(interval: float, stop: threading.Event) -> None:
    """Enqueue a sweep every `interval` seconds until `stop` is set."""
    while not stop.wait(interval):
        sweep()


def main() -> None:
    """Run the consumer (and the sweep schedule) until SIGTERM or SIGINT; both finish in-flight work."""
    settings = load_settings()  # the log is set up by the command line, with the same settings
    try:
        runtime()  # a configuration problem stops the worker now, with its message
    except ZendeskUnavailable as fault:
        log.warning("Zendesk is not reachable yet (%s); jobs will wait and retry", fault)
    stop = threading.Event()
    scheduler = threading.Thread(target=schedule_sweeps, args=(settings.reconcile_seconds, stop), daemon=True)
    scheduler.start()
    sweep()  # catch up at start: the service may have been down
    consumer = huey.create_consumer(
        workers=4,
        worker_type="thread",
        periodic=False,
        graceful_signal="TERM",
        initial_delay=0.05,
        max_delay=0.5,  # an idle consumer still picks up new work within half a second
        flush_locks=not isinstance(huey, RedisHuey),
    )

    def finish_then_stop(signum: int, _frame: object) -> None:
        # SIGTERM and SIGINT both mean: finish the jobs in flight, then stop. huey would
        # treat a second signal (Ctrl-C reaches the whole process group, and `serve`
        # forwards one more) as "stop now" and drop the job in flight.
        consumer._signum = signum
        consumer._restart, consumer._graceful = False, True

    consumer._handle_signal = finish_then_stop
    try:
        consumer.run()
    finally:
        stop.set()
