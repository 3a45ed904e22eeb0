"""A ticket as the policy reads it, and what the policy decides for it: updates, messages, notifications.

Plain frozen data, filled by the Zendesk gateway and written back by it; `policy` is the rules between the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from escalations.core import fields


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
