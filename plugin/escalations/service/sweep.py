"""The catch-up sweep: escalations whose webhook never arrived are found in Zendesk's event log.

It also follows up open escalations that time or a solve has moved on (past
due and not yet marked overdue; ticket solved), and, with notifications for
managers switched on, tickets whose notification is still owed (the service
stopped after the write that made the event), found with Zendesk's search.

Zendesk gives up on a webhook after a few tries, pauses a failing one, and
our service can be down. The sweep reads the incremental ticket-event export
from its cursor one page (up to 1,000 events) at a time, handles the tickets
of that page with a public comment that asks for an escalation (or with a
confirmation still owed), and then saves the page's end as its cursor. After
days of downtime it works through the backlog page by page at the export's
pace, escalations are handled as they are found, and a sweep stopped half way
(Zendesk unavailable, the process killed) resumes from its last saved page.
Handling is idempotent, so a ticket the webhook already handled costs two
reads and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from escalations.core import fields
from escalations.core.text import DEFAULT_PHRASES, Phrases, asks_for_escalation
from escalations.core.tickets import iso, parse_iso
from escalations.service.handling import is_passing
from escalations.zendesk.gateway import TicketGone, ZendeskGateway, ZendeskUnavailable, paged, search_export
from escalations.zendesk.state import AccountState

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/v2/incremental/ticket_events.json"
EXPORT_SETTLE_SECONDS = 61


class KeyValueStore(Protocol):
    def get(self, key: str, peek: bool = False) -> Any: ...
    def put(self, key: str, data: Any) -> Any: ...


class SweepStore:
    """The sweep's cursor and last run, kept in the queue's storage (SQLite or Redis) beside the jobs."""

    KEY = "sweep"

    def __init__(self, store: KeyValueStore, state: AccountState, host: str = "") -> None:
        self.store = store
        self.state = state
        self.host = host  # who sweeps, as doctor and /metrics name it

    def _saved(self) -> dict[str, Any]:
        return dict(self.store.get(self.KEY, peek=True) or {})

    def cursor(self) -> int:
        return int(self._saved().get("cursor") or self.state.active_since_time.timestamp())

    def save_cursor(self, cursor: int) -> None:
        """Save how far the event log has been handled; a later sweep resumes from here."""
        self.store.put(self.KEY, {**self._saved(), "cursor": cursor})

    def begin(self, at: datetime) -> None:
        """Record that a sweep starts now."""
        self.store.put(self.KEY, {**self._saved(), "started": at.isoformat()})

    def finished_within(self, seconds: float, now: datetime) -> bool:
        """Whether the last sweep to start began less than `seconds` ago and finished (did not die half way)."""
        saved = self._saved()
        started = saved.get("started")
        if not isinstance(started, str) or saved.get("finished") != started:
            return False
        return (now - datetime.fromisoformat(started)).total_seconds() < seconds

    def finish(self, ran_at: datetime, tickets: int, overdue: int) -> None:
        saved = self._saved()
        finished = {"finished": saved.get("started"), "last_run": iso(ran_at), "host": self.host}
        self.store.put(self.KEY, {**saved, **finished, "tickets": tickets, "overdue": overdue})


def tickets_needing_attention(events: Iterable[Mapping[str, Any]], phrases: Phrases = DEFAULT_PHRASES) -> set[int]:
    """Tickets with a public comment asking for an escalation, or a confirmation still owed."""
    tickets: set[int] = set()
    for event in events:
        for child in event.get("child_events") or []:
            kind = child.get("event_type")
            if (
                kind == "Comment"
                and child.get("public")
                and asks_for_escalation(child.get("plain_body") or child.get("body") or "", phrases)
            ):
                tickets.add(int(event["ticket_id"]))
            added = child.get("added_tags") or (child.get("value") if child.get("field_name") == "tags" else None)
            if isinstance(added, list) and (
                fields.TAG_CONFIRMATION_PENDING in added or fields.TAG_NOTIFICATION_OWED in added
            ):
                tickets.add(int(event["ticket_id"]))
    return tickets


# Through the search export: the plain search stops at 1,000 results.
FOLLOW_UP_SEARCHES = (
    f"tags:{fields.status_tag(fields.STATUS_REQUESTED)}",
    f"tags:{fields.status_tag(fields.STATUS_ACKNOWLEDGED)} status:solved",
    f"tags:{fields.TAG_REASON_REQUESTED}",  # a customer's answer whose webhook never came, or a wait that ended
)
OWED_NOTIFICATIONS_SEARCH = f"tags:{fields.TAG_NOTIFICATION_OWED}"  # only with notifications switched on


def needs_follow_up(
    ticket: Mapping[str, Any], field_ids: Mapping[str, int], now: datetime, notifying: bool = False
) -> bool:
    """An open escalation that is past due and not yet marked overdue, or whose ticket was solved; a ticket
    waiting for the customer's reason; when `notifying`, also a ticket whose notification is still owed (not
    a closed one: it cannot be written)."""
    tags = ticket.get("tags") or []
    if ticket.get("status") != "closed" and (
        fields.TAG_REASON_REQUESTED in tags or (notifying and fields.TAG_NOTIFICATION_OWED in tags)
    ):
        return True
    return ticket.get("status") == "solved" or past_due(ticket, field_ids, now)


def past_due(ticket: Mapping[str, Any], field_ids: Mapping[str, int], now: datetime) -> bool:
    """A requested escalation past its response due time and not yet marked overdue."""
    tags = ticket.get("tags") or []
    if fields.TAG_OVERDUE in tags or fields.status_tag(fields.STATUS_REQUESTED) not in tags:
        return False
    due = fields.recorded_values(ticket.get("custom_fields") or [], field_ids).get(fields.RESPONSE_DUE)
    return isinstance(due, str) and bool(due) and parse_iso(due) <= now


def follow_up_candidates(
    gateway: ZendeskGateway, field_ids: Mapping[str, int], now: datetime, notifying: bool = False
) -> tuple[set[int], int]:
    """Escalations the clock or a solve has moved on since a webhook last touched them (and, when
    `notifying`, tickets whose notification is still owed), and how many open escalations are overdue
    (already marked or about to be)."""
    tickets: set[int] = set()
    overdue = 0
    for query in (*FOLLOW_UP_SEARCHES, *((OWED_NOTIFICATIONS_SEARCH,) if notifying else ())):
        for result in (result for page in search_export(gateway, query) for result in page):
            if needs_follow_up(result, field_ids, now, notifying):
                tickets.add(int(result["id"]))
            if query == OWED_NOTIFICATIONS_SEARCH:
                continue  # counted by the searches above
            tags = result.get("tags") or []
            still_requested = fields.status_tag(fields.STATUS_REQUESTED) in tags and result.get("status") != "solved"
            if still_requested and (fields.TAG_OVERDUE in tags or past_due(result, field_ids, now)):
                overdue += 1
    return tickets, overdue


class TicketBusy(Exception):
    """A job is handling the ticket right now: the sweep leaves it to that job."""


class Parking(Protocol):
    def park(self, ticket_id: int, reason: str) -> None: ...
    def release(self, ticket_id: int) -> None: ...
    def ticket_ids(self) -> list[int]: ...


def run_sweep(
    gateway: ZendeskGateway,
    store: SweepStore,
    parking: Parking,
    handle: Callable[[int, ZendeskGateway], object],
    clock: Callable[[], datetime],
    phrases: Phrases = DEFAULT_PHRASES,
    notifying: bool = False,
    *,
    retry_later: Callable[[int], None],
) -> list[int]:
    """Handle every ticket that needs it since the cursor; return the tickets handled.

    Parked tickets and escalations that time or a solve moved on come first,
    then the event log page by page, the cursor saved after each page. One
    ticket that cannot be handled (a 4xx, a bug) is parked and the sweep goes
    on; one that meets a passing fault (`is_passing`: it kept changing under
    us) goes to `retry_later`, which retries it as a ticket job; one a job is
    handling (`handle` raises TicketBusy) is left to that job; Zendesk being
    unavailable stops the sweep, keeping the pages done.
    """
    started = clock()
    store.begin(started)
    handled: list[int] = []

    def handle_all(tickets: Iterable[int]) -> None:
        for ticket_id in sorted(set(tickets) - set(handled)):
            if _handle_one(ticket_id, gateway, parking, handle, retry_later):
                handled.append(ticket_id)

    followed_up, overdue = follow_up_candidates(gateway, store.state.field_ids, started, notifying)
    handle_all(set(parking.ticket_ids()) | followed_up)
    # Zendesk's export wants a start at least a minute old; re-reading a minute is harmless.
    cursor = min(store.cursor(), int(started.timestamp()) - EXPORT_SETTLE_SECONDS)
    for page in paged(gateway, EVENTS_PATH, {"start_time": cursor, "include": "comment_events"}, "ticket_events"):
        handle_all(tickets_needing_attention(page.get("ticket_events") or [], phrases))
        end_time = int(page.get("end_time") or cursor)
        if end_time > cursor:
            cursor = end_time
            store.save_cursor(cursor)
    store.finish(started, len(handled), overdue)
    return handled


def _handle_one(
    ticket_id: int,
    gateway: ZendeskGateway,
    parking: Parking,
    handle: Callable[[int, ZendeskGateway], object],
    retry_later: Callable[[int], None],
) -> bool:
    """Handle one ticket for the sweep; True when it was handled. Zendesk being unavailable stops the sweep."""
    try:
        handle(ticket_id, gateway)
    except TicketBusy:
        log.info("sweep: ticket %s is being handled by a job; left to it", ticket_id)
        return False
    except TicketGone as gone:
        log.warning("sweep: ticket %s dropped: %s", ticket_id, gone)
        parking.release(ticket_id)
        return False
    except ZendeskUnavailable:
        raise
    except Exception as error:  # one bad ticket must not stop the others
        if is_passing(error):
            log.warning("sweep: ticket %s: %s; retried as a ticket job", ticket_id, error)
            retry_later(ticket_id)
            return False
        log.exception("sweep: ticket %s parked", ticket_id)
        parking.park(ticket_id, f"{error.__class__.__name__}: {error}")
        return False
    parking.release(ticket_id)
    return True
