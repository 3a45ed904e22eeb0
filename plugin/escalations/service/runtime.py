"""What every job needs, built once per worker process: the settings, the account state, the Zendesk gateway,
the managers' roster and brands, the queues to enqueue on, and the retries' backoff.

Rebuilt when the account state changes (`Runtimes`), so that a new setup or a rotated secret needs no restart.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from escalations.config import BACKOFF_SECONDS, Settings, load_settings
from escalations.core.calendar import WorkingCalendar
from escalations.core.messages import MessageRenderer
from escalations.core.policy import staff_replies
from escalations.core.tickets import Comment, Notification, PolicySettings, TicketSnapshot
from escalations.service import notify
from escalations.service.handling import Handled, handle_ticket
from escalations.service.logs import about_ticket
from escalations.service.metrics import DECISIONS, NOTIFICATIONS, PROCESSING
from escalations.service.queue import Queues
from escalations.service.records import now
from escalations.zendesk.gateway import (
    ZendeskError,
    ZendeskGateway,
    make_client,
)
from escalations.zendesk.state import AccountState
from escalations.zendesk.state_store import CurrentState, open_state_store, read_state

log = logging.getLogger(__name__)

RETRY_FOR = 3600.0  # keep retrying a failing ticket for an hour before parking it
BACKOFF_CAP = 300.0
LOCKED_RETRY_SECONDS = 1.0  # another worker has the ticket: look again this soon
ROSTER_SECONDS = 300.0


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
    """The queues this process enqueues on; in the worker process, `main` gives them the work that runs the jobs."""
    return Queues.from_settings(service_settings())


def backoff(
    failures: int, jitter: Callable[[float, float], float] = random.uniform, first: float = BACKOFF_SECONDS
) -> float:
    """Capped exponential backoff with jitter, in seconds: `first` for the first retry, doubling after that."""
    return jitter(0.5, 1.0) * min(BACKOFF_CAP, first * 2.0 ** (min(failures, 16) - 1))
