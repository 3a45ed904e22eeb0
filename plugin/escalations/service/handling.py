"""Handling one ticket: read it, let the policy decide, write the decision safely.

This is what happens when a customer writes the phrase, after the webhook has
been acknowledged: a worker calls `handle_ticket`. The ticket is read fresh,
the pure policy decides, and each update is written with `safe_update` and the
stamp of the ticket it was decided on. If anyone changed the ticket in
between (an agent, another worker handling a duplicate delivery), Zendesk
answers 409 and the whole decision is made again from a fresh read. The
ticket's own fields say what has been handled, so a decision made again never
repeats an effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from escalations.core.messages import MessageRenderer
from escalations.core.policy import decide
from escalations.core.tickets import Decision, Notification, PolicySettings, TicketSnapshot
from escalations.zendesk.gateway import UpdateConflict, ZendeskGateway, ZendeskUnavailable

log = logging.getLogger(__name__)

MAX_DECISIONS = 5


class TooManyConflicts(Exception):
    """The ticket kept changing under us; the job is retried later."""


def is_passing(error: BaseException) -> bool:
    """Whether handling the ticket again later can succeed: Zendesk unavailable (5xx, a timeout, a 429 beyond
    the wait), or the ticket changing under us again and again. Every other failure parks the ticket.

    The one rule for the worker's jobs and the sweep alike.
    """
    return isinstance(error, (ZendeskUnavailable, TooManyConflicts))


@dataclass(frozen=True)
class Handled:
    decision: Decision
    writes: int
    decisions: int


def handle_ticket(
    ticket_id: int,
    gateway: ZendeskGateway,
    policy: PolicySettings | Callable[[TicketSnapshot], PolicySettings],
    renderer: MessageRenderer,
    clock: Callable[[], datetime],
    announce: Callable[[Notification], None] = lambda notification: None,
) -> Handled:
    """Bring one ticket in line with the policy; safe to call any number of times.

    `policy` may be a function of the snapshot, for settings that cost an API
    call and matter only for some tickets (who the managers are). The
    notifications a write claims are handed to `announce` as soon as that
    write has succeeded, and never otherwise: a write that fails or conflicts
    claims nothing, and the next decision finds them still owed.
    """
    writes = 0
    for attempt in range(1, MAX_DECISIONS + 1):
        ticket = gateway.read_snapshot(ticket_id)
        settings = policy(ticket) if callable(policy) else policy
        decision = decide(ticket, settings, clock())
        stamp = ticket.updated_at
        try:
            for update in decision.updates:
                body = renderer.render(update.message) if update.message else None
                stamp = gateway.apply(ticket_id, update, body, stamp)
                writes += 1
                log.info("ticket %s: wrote %s", ticket_id, update.purpose)
                for notification in update.claims:
                    announce(notification)
        except UpdateConflict:
            log.info("ticket %s changed while being handled; deciding again", ticket_id)
            continue
        log.info("ticket %s: %s (%d writes)", ticket_id, decision.outcome, writes)
        return Handled(decision, writes, attempt)
    raise TooManyConflicts(f"ticket {ticket_id} changed {MAX_DECISIONS} times while being handled")
