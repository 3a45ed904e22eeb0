"""The customer's replies the policy decides: the confirmation, the refusal of a repeat, the request for a reason.

Each a ticket update in the reader's language and time zone (`_reader`), claiming the notifications it owes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from escalations.core import fields
from escalations.core.locales import language, normalise
from escalations.core.text import (
    contact_details,
    form_locale,
)
from escalations.core.tickets import (
    Comment,
    Message,
    PolicySettings,
    TicketSnapshot,
    TicketUpdate,
    digits,
    optional_time,
    owing,
    with_tags,
    without_tags,
)


def new_contact_details(ticket: TicketSnapshot, comment: Comment) -> tuple[str, ...]:
    """Email addresses and phone numbers in the comment that nobody on the ticket has in their profile."""
    known = frozenset(
        value.lower() for person in ticket.people.values() for value in (person.email, digits(person.phone)) if value
    )
    return contact_details(comment.body, known)


def confirmation_update(
    ticket: TicketSnapshot,
    recorded: Mapping[str, Any],
    tags_after_record: tuple[str, ...],
    settings: PolicySettings,
    escalating: Comment | None,
) -> TicketUpdate:
    """The customer's confirmation; it clears the mark that it is still owed, and claims the owed notifications.

    It names the new contact details of the comment that escalated (`escalating`), when it has any."""
    cleared = (fields.TAG_CONFIRMATION_PENDING, *(fields.NOTIFICATION_TAGS if settings.notify_events else ()))
    due = recorded.get(fields.RESPONSE_DUE)
    customer = recorded.get(fields.REQUESTED_BY)
    locale, timezone = _reader(ticket, int(customer) if customer else ticket.requester_id, settings, escalating)
    return TicketUpdate(
        "confirmation",
        Message(
            "confirmation",
            public=True,
            context={
                "ticket_id": ticket.id,
                "response_due": optional_time(due),
                "contact_details": new_contact_details(ticket, escalating) if escalating else (),
                "brand": settings.brand_name(ticket),
            },
            locale=locale,
            timezone=timezone,
        ),
        tags=without_tags(tags_after_record, cleared),
    )


def refusal_update(
    ticket: TicketSnapshot,
    attempts: tuple[Comment, ...],
    handled_through: str,
    tags: tuple[str, ...],
    settings: PolicySettings,
    now: datetime,
) -> TicketUpdate:
    """The polite refusal of a repeat, saying where the escalation stands; `tags` are the ticket's once the
    updates before it are written."""
    refused = int(ticket.escalation.get(fields.REFUSED_REPEATS) or 0) + len(attempts)
    tags = without_tags(tags, (fields.TAG_CONFIRMATION_PENDING,))
    locale, timezone = _reader(ticket, attempts[-1].author_id, settings, attempts[-1])
    due = optional_time(ticket.escalation.get(fields.RESPONSE_DUE))
    return TicketUpdate(
        "refusal",
        Message(
            "refusal",
            public=True,
            context={
                "ticket_id": ticket.id,
                "requested_at": optional_time(ticket.escalation.get(fields.REQUESTED_AT)),
                "status": ticket.escalation.get(fields.STATUS),
                "response_due": due,
                "overdue": due is not None and now >= due,
                "acknowledged_at": optional_time(ticket.escalation.get(fields.ACKNOWLEDGED_AT)),
                "resolved_at": optional_time(ticket.escalation.get(fields.RESOLVED_AT)),
                "brand": settings.brand_name(ticket),
            },
            locale=locale,
            timezone=timezone,
        ),
        tags=owing(with_tags(tags, (fields.TAG_BLOCKED,)), ("refused",), settings),
        fields={fields.REFUSED_REPEATS: refused, fields.HANDLED_THROUGH: handled_through},
    )


def reason_request_update(
    ticket: TicketSnapshot, attempt: Comment, handled_through: str, settings: PolicySettings
) -> TicketUpdate:
    """Ask for the reason; the ticket waits for it (the tag makes the trigger call the service on the answer)."""
    locale, timezone = _reader(ticket, attempt.author_id, settings, attempt)
    base = settings.help_center_url.rstrip("/")
    return TicketUpdate(
        "reason_request",
        Message(
            "reason_request",
            public=True,
            context={
                "ticket_id": ticket.id,
                "answer_by": attempt.created_at + settings.reason_window,
                "help_center_link": f"{base}/requests/{ticket.id}" if base else "",
                "brand": settings.brand_name(ticket),
            },
            locale=locale,
            timezone=timezone,
        ),
        tags=with_tags(ticket.tags, (fields.TAG_REASON_REQUESTED,)),
        fields={fields.HANDLED_THROUGH: handled_through},
    )


def _reader(
    ticket: TicketSnapshot, user_id: int, settings: PolicySettings, comment: Comment | None
) -> tuple[str | None, str]:
    """The language and time zone a customer reads a reply in.

    The language of the Help Center page when the comment came from the form there (their profile's own
    variant of it, en-GB say, when it is the same language), else their profile's; the time zone of their
    profile, else the working calendar's."""
    profile = _locale_of(ticket, user_id)
    page = form_locale(comment.body) if comment is not None else None
    locale = profile if page is None or (profile and _language(profile) == _language(page)) else page
    person = ticket.people.get(user_id) or ticket.people.get(ticket.requester_id)
    timezone = person.time_zone if person is not None and person.time_zone else settings.calendar.timezone.key
    return locale, timezone


def _language(tag: str) -> str:
    try:
        return language(normalise(tag))
    except ValueError:
        return ""


def _locale_of(ticket: TicketSnapshot, user_id: int) -> str | None:
    """The reader's locale: the commenting customer's, else the requester's."""
    for person_id in (user_id, ticket.requester_id):
        person = ticket.people.get(person_id)
        if person is not None and person.locale:
            return person.locale
    return None
