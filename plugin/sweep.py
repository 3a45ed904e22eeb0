"""The catch-up sweep: escalations whose webhook never arrived are found in Zendesk's event log.

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
from plugin.policy import iso
from plugin.state import AccountState
from plugin.text import asks_for_escalation
from plugin.zendesk import TicketGone, ZendeskGateway, ZendeskRefused, paged

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

    def save(self, cursor: int, ran_at: datetime, tickets: int) -> None:
        self.store.put(self.KEY, {"cursor": cursor, "last_run": iso(ran_at), "tickets": tickets})


def tickets_needing_attention(events: Iterable[Mapping[str, Any]]) -> set[int]:
    """Tickets with a public comment asking for an escalation, or a confirmation still owed."""
    tickets: set[int] = set()
    for event in events:
        for child in event.get("child_events") or []:
            kind = child.get("event_type")
            if (
                kind == "Comment"
                and child.get("public")
                and asks_for_escalation(child.get("plain_body") or child.get("body") or "")
            ):
                tickets.add(int(event["ticket_id"]))
            added = child.get("added_tags") or (child.get("value") if child.get("field_name") == "tags" else None)
            if isinstance(added, list) and fields.TAG_CONFIRMATION_PENDING in added:
                tickets.add(int(event["ticket_id"]))
    return tickets


def run_sweep(
    gateway: ZendeskGateway,
    store: SweepStore,
    parked: Iterable[int],
    handle: Callable[[int, ZendeskGateway], object],
    clock: Callable[[], datetime],
) -> list[int]:
    """Handle every ticket that needs it since the cursor; return the tickets handled."""
    started = clock()
    # Zendesk's export wants a start at least a minute old; re-reading a minute is harmless.
    cursor = min(store.cursor(), int(started.timestamp()) - EXPORT_SETTLE_SECONDS)
    tickets = set(parked)
    end_time = cursor
    for page in paged(gateway, EVENTS_PATH, {"start_time": cursor, "include": "comment_events"}, "ticket_events"):
        tickets |= tickets_needing_attention(page.get("ticket_events") or [])
        end_time = max(end_time, int(page.get("end_time") or end_time))
    handled: list[int] = []
    for ticket_id in sorted(tickets):
        try:
            handle(ticket_id, gateway)
        except (TicketGone, ZendeskRefused) as error:
            log.warning("sweep: ticket %s left alone: %s", ticket_id, error)
            continue
        handled.append(ticket_id)
    store.save(end_time, started, len(handled))
    return handled
