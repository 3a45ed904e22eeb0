"""A ticket as the policy reads it, the settings it decides with, and what it decides: updates, messages, notifications.

Plain frozen data, filled by the Zendesk gateway and written back by it; `policy` is the rules between the two,
`replies` the customer's replies among them. Also the small readings both share: tags added or removed, the
notifications a ticket owes, a recorded time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from escalations.core import fields
from escalations.core.calendar import WorkingCalendar
from escalations.core.text import (
    DEFAULT_PHRASES,
    Phrases,
)


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str | None
    role: str  # "end-user", "agent" or "admin"
    phone: str | None = None
    locale: str | None = None
    time_zone: str | None = None  # IANA name, from the profile


@dataclass(frozen=True)
class Comment:
    id: int
    author_id: int
    body: str
    public: bool
    created_at: datetime


@dataclass(frozen=True)
class TicketSnapshot:
    """What the policy needs to know about a ticket, read in one go."""

    id: int
    status: str
    subject: str
    requester_id: int
    copied_ids: frozenset[int]
    group_id: int | None
    assignee_id: int | None
    tags: tuple[str, ...]
    escalation: Mapping[str, Any]  # field key -> value, as read from the ticket
    comments: tuple[Comment, ...]  # ascending by id; the newest page is enough
    people: Mapping[int, Person]
    updated_at: str
    first_comment_id: int | None = None
    group_names: Mapping[int, str] = field(default_factory=dict)  # the ticket's group, by id, when sideloaded
    brand_id: int | None = None

    @property
    def handled_through(self) -> int:
        value = self.escalation.get(fields.HANDLED_THROUGH)
        return int(value) if value not in (None, "") else 0

    @property
    def is_escalated(self) -> bool:
        return bool(self.escalation.get(fields.STATUS))


@dataclass(frozen=True)
class Message:
    """A comment to add, rendered from a template by the shell."""

    template: str
    public: bool
    context: Mapping[str, Any] = field(default_factory=dict)
    locale: str | None = None  # the reader's Zendesk locale; None for the account's default
    timezone: str | None = None  # the reader's IANA time zone; None for the renderer's


@dataclass(frozen=True)
class Notification:
    """What the managers are told about one event, sent by the shell once the write claiming it succeeded."""

    event: str  # escalated, overdue, acknowledged, resolved or refused
    ticket_id: int
    subject: str
    customer_name: str
    reason: str
    response_due: datetime | None
    overdue_by: timedelta | None = None  # for overdue: how long past due when claimed
    acknowledged_by: str = ""  # for acknowledged: the manager's name


@dataclass(frozen=True)
class TicketUpdate:
    """One collision-protected write: at most one comment, like Zendesk allows."""

    purpose: str
    message: Message | None  # None: fields and tags only, no comment
    tags: tuple[str, ...] | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    group_id: int | None = None
    clear_assignee: bool = False
    claims: tuple[Notification, ...] = ()  # owed notifications this write claims: sent once it succeeded


@dataclass(frozen=True)
class Decision:
    # escalated, refused, reason_requested, reason_wait_ended, confirmation_resent, acknowledged, overdue,
    # resolved, notification_claimed, excluded or ignored (excluded: attempts on a ticket kept out of the process)
    outcome: str
    updates: tuple[TicketUpdate, ...] = ()
    attempts: tuple[int, ...] = ()  # comment ids that asked for an escalation

    @property
    def writes(self) -> int:
        return len(self.updates)


IGNORED = Decision("ignored")


def iso(moment: datetime) -> str:
    """Field datetimes are ISO-8601 UTC text such as 2026-11-27T15:04:05Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# How long a customer asked for their reason has to give it: a week, so that a weekend or a short absence
# between the question and the answer loses nothing, and no ordinary comment weeks later escalates by surprise.
REASON_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class PolicySettings:
    manager_group_id: int
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)  # what counts as working time
    allow_copied_end_users: bool = True
    service_user_id: int | None = None
    active_since: datetime | None = None
    manager_ids: frozenset[int] = frozenset()  # members of the managers' group
    phrases: Phrases = DEFAULT_PHRASES  # the phrases that ask for an escalation
    notify_events: frozenset[str] = frozenset()  # events the managers are notified of; empty: no notifications
    reason_window: timedelta = REASON_WINDOW
    help_center_url: str = ""  # the Help Center with the escalation form, e.g. https://acme.zendesk.com/hc
    brand_group_ids: Mapping[int, int] = field(default_factory=dict)  # brand id -> its own managers' group
    brand_names: Mapping[int, str] = field(default_factory=dict)  # brand id -> name, for the messages
    excluded_tags: frozenset[str] = frozenset()  # a ticket with any of these tags is kept out of the process
    excluded_brand_ids: frozenset[int] = frozenset()  # so is a ticket of these brands

    def managers_group_id(self, ticket: TicketSnapshot) -> int:
        """The managers' group that takes the ticket's escalation: its brand's, else the default one."""
        if ticket.brand_id is None:
            return self.manager_group_id
        return self.brand_group_ids.get(ticket.brand_id, self.manager_group_id)

    def brand_name(self, ticket: TicketSnapshot) -> str:
        """The ticket's brand as the messages name it; '' when unknown."""
        return self.brand_names.get(ticket.brand_id, "") if ticket.brand_id is not None else ""


def owed_notifications(tags: tuple[str, ...]) -> tuple[str, ...]:
    """The events whose notification the tags mark as owed."""
    return tuple(event for event in fields.NOTIFY_EVENTS if fields.notification_tag(event) in tags)


def owing(tags: tuple[str, ...], events: tuple[str, ...], settings: PolicySettings) -> tuple[str, ...]:
    """The tags with the notifications of `events` marked as owed, for the events the managers want."""
    wanted = tuple(fields.notification_tag(event) for event in events if event in settings.notify_events)
    return with_tags(tags, (*wanted, fields.TAG_NOTIFICATION_OWED)) if wanted else tags


def optional_time(value: Any) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) and value else None


def digits(phone: str | None) -> str | None:
    return "".join(ch for ch in phone if ch.isdigit()) if phone else None


def with_tags(tags: tuple[str, ...], added: tuple[str, ...]) -> tuple[str, ...]:
    return tags + tuple(tag for tag in added if tag not in tags)


def without_tags(tags: tuple[str, ...], removed: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(tag for tag in tags if tag not in removed)
