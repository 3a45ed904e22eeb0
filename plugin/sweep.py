"""The catch-up sweep: escalations whose webhook never arrived are found in Zendesk's event log.

It also follows up open escalations that time or a solve has moved on (past
due and not yet marked overdue; ticket solved), found with Zendesk's search.

Zendesk gives up on a webhook after a few tries, pauses a failing one, and
our service can be down. The sweep reads the incremental ticket-event export
from its cursor, picks the tickets with a public comment that asks for an
escalation (or with a confirmation still owed), and handles each of them
to completion before it moves the cursor. Handling is idempotent, so a ticket
the webhook already handled costs two reads and nothing else; a sweep killed
half way starts again from the old cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from plugin import escalation_fields as fields
from plugin.policy import iso, parse_iso
from plugin.state import AccountState
from plugin.text import DEFAULT_PHRASES, Phrases, asks_for_escalation
from plugin.zendesk import TicketGone, ZendeskGateway, ZendeskUnavailable, all_items, paged

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/v2/incremental/ticket_events.json"
EXPORT_SETTLE_SECONDS = 61


class KeyValueStore(Protocol):
    def get(self, key: str, peek: bool = False) -> Any: ...
    def put(self, key: str, data: Any) -> Any: ...


class SweepStore:
    """The sweep's cursor, kept in the queue's storage (SQLite or Redis) beside the jobs."""

    KEY = "sweep"

    def __init__(self, store: KeyValueStore, state: AccountState) -> None:
        self.store = store
        self.state = state

    def cursor(self) -> int:
        saved = self.store.get(self.KEY, peek=True) or {}
        return int(saved.get("cursor") or self.state.active_since_time.timestamp())

    def save(self, cursor: int, ran_at: datetime, tickets: int, overdue: int) -> None:
        self.store.put(self.KEY, {"cursor": cursor, "last_run": iso(ran_at), "tickets": tickets, "overdue": overdue})


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
            if isinstance(added, list) and fields.TAG_CONFIRMATION_PENDING in added:
                tickets.add(int(event["ticket_id"]))
    return tickets


FOLLOW_UP_SEARCHES = (
    f"type:ticket tags:{fields.status_tag(fields.STATUS_REQUESTED)}",
    f"type:ticket tags:{fields.status_tag(fields.STATUS_ACKNOWLEDGED)} status:solved",
)


def needs_follow_up(ticket: Mapping[str, Any], field_ids: Mapping[str, int], now: datetime) -> bool:
    """An open escalation that is past due and not yet marked overdue, or whose ticket was solved."""
    if ticket.get("status") == "solved":
        return True
    tags = ticket.get("tags") or []
    if fields.TAG_OVERDUE in tags or fields.status_tag(fields.STATUS_REQUESTED) not in tags:
        return False
    due_field = field_ids.get(fields.RESPONSE_DUE)
    due = next((item.get("value") for item in ticket.get("custom_fields") or [] if item.get("id") == due_field), None)
    return isinstance(due, str) and bool(due) and parse_iso(due) <= now


def follow_up_candidates(gateway: ZendeskGateway, field_ids: Mapping[str, int], now: datetime) -> tuple[set[int], int]:
    """Escalations the clock or a solve has moved on since a webhook last touched them,
    and how many open escalations are overdue (already marked or about to be)."""
    tickets: set[int] = set()
    overdue = 0
    for query in FOLLOW_UP_SEARCHES:
        for result in all_items(gateway, "/api/v2/search.json", "results", {"query": query}):
            if result.get("result_type", "ticket") != "ticket":
                continue
            if needs_follow_up(result, field_ids, now):
                tickets.add(int(result["id"]))
            tags = result.get("tags") or []
            still_requested = fields.status_tag(fields.STATUS_REQUESTED) in tags and result.get("status") != "solved"
            if still_requested and (fields.TAG_OVERDUE in tags or needs_follow_up(result, field_ids, now)):
                overdue += 1
    return tickets, overdue


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
) -> list[int]:
    """Handle every ticket that needs it since the cursor; return the tickets handled.

    One ticket that cannot be handled (a 4xx, a bug) is parked and the sweep
    goes on; Zendesk being unavailable stops the sweep before its cursor moves.
    """
    started = clock()
    # Zendesk's export wants a start at least a minute old; re-reading a minute is harmless.
    cursor = min(store.cursor(), int(started.timestamp()) - EXPORT_SETTLE_SECONDS)
    followed_up, overdue = follow_up_candidates(gateway, store.state.field_ids, started)
    tickets = set(parking.ticket_ids()) | followed_up
    end_time = cursor
    for page in paged(gateway, EVENTS_PATH, {"start_time": cursor, "include": "comment_events"}, "ticket_events"):
        tickets |= tickets_needing_attention(page.get("ticket_events") or [], phrases)
        end_time = max(end_time, int(page.get("end_time") or end_time))
    handled: list[int] = []
    for ticket_id in sorted(tickets):
        try:
            handle(ticket_id, gateway)
        except TicketGone as gone:
            log.warning("sweep: ticket %s dropped: %s", ticket_id, gone)
            parking.release(ticket_id)
            continue
        except ZendeskUnavailable:
            raise
        except Exception as error:  # one bad ticket must not stop the others
            log.exception("sweep: ticket %s parked", ticket_id)
            parking.park(ticket_id, f"{error.__class__.__name__}: {error}")
            continue
        parking.release(ticket_id)
        handled.append(ticket_id)
    store.save(end_time, started, len(handled), overdue)
    return handled
