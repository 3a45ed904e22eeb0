"""Escalated tickets as Zendesk's search export returns them, generated for the dashboard's tests.

Deterministic for a seed: requests spread over the last 16 weeks, most
acknowledged within hours and resolved within days, some still waiting (the
newest, and a few forgotten ones now overdue), refused repeats here and there,
user ids beyond 2^31 held as text (and some still as numbers, as older
escalations were recorded). The expected lists are computed here, apart from
the app's own code, so the tests compare two independent readings.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from escalations.core.fields import ESCALATION_FIELDS

FIRST_NAMES = ("Ana", "Ben", "Chiara", "Dmitri", "Emeka", "Fatima", "Gus", "Hana", "Ivo", "Jun", "Kofi", "Lena")
LAST_NAMES = ("Souza", "Okafor", "Rossi", "Ivanov", "Nakamura", "Haddad", "Berg", "Novak", "Silva", "Kim")
MANAGERS = {"370000000001": "Maria Manager", "370000000002": "Sam Supervisor", "370000000003": "Priya Lead"}
SUBJECTS = (
    "Checkout fails with error 500",
    "Invoices not generated since Monday",
    "Nightly export stuck",
    "Cannot log in after password reset",
    "Refund still missing",
    "API returns 429 all day",
)
REASONS = (
    "Our shop has been down for two days and we are losing orders.",
    "Nobody has answered for a week.",
    "The workaround you gave us does not work and month-end closing is tomorrow.",
    "Third time we report this; each time the ticket is closed without a fix.",
    "",
)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def response_due(requested: datetime) -> datetime:
    """24 hours later on weekdays (UTC): a Friday request is due on Monday, a weekend one on Tuesday 00:00."""
    due = requested
    left = timedelta(hours=24)
    while left > timedelta(0):
        if due.weekday() >= 5:
            due = datetime.combine((due + timedelta(days=7 - due.weekday())).date(), datetime.min.time(), UTC)
            continue
        day_end = datetime.combine(due.date() + timedelta(days=1), datetime.min.time(), UTC)
        step = min(left, day_end - due)
        due += step
        left -= step
    return due


def minutes_left(due: datetime, now: datetime) -> int:
    """Whole minutes until due, rounded down (negative once overdue), as the app counts them."""
    return math.floor((due - now).total_seconds() / 60)


@dataclass(frozen=True)
class Escalation:
    ticket_id: int
    status: str
    requested_at: datetime
    requested_by: str
    due: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str
    resolved_at: datetime | None
    refused: int
    overdue_tag: bool

    def overdue(self, now: datetime) -> bool:
        return self.status == "requested" and (self.overdue_tag or self.due < now)


@dataclass
class Account:
    tickets: list[dict[str, Any]]
    users: dict[str, dict[str, Any]]
    escalations: list[Escalation]

    def waiting(self, now: datetime) -> list[Escalation]:
        """Requested, overdue first, then by whole minutes left, then by ticket."""
        waiting = [e for e in self.escalations if e.status == "requested"]
        return sorted(waiting, key=lambda e: (not e.overdue(now), minutes_left(e.due, now), e.ticket_id))

    def replied(self) -> list[Escalation]:
        """Acknowledged (a manager replied) and not resolved: the oldest request first."""
        replied = [e for e in self.escalations if e.status == "acknowledged"]
        return sorted(replied, key=lambda e: (e.requested_at, e.ticket_id))

    def resolved(self, now: datetime, days: int = 30) -> list[Escalation]:
        """Resolved in the last `days` days, the latest first."""
        since = now - timedelta(days=days)
        resolved = [e for e in self.escalations if e.status == "resolved" and e.resolved_at and e.resolved_at >= since]
        return sorted(resolved, key=lambda e: (-e.resolved_at.timestamp() if e.resolved_at else 0, e.ticket_id))

    def requested_per_week(self, now: datetime, weeks: int = 12) -> list[int]:
        monday = datetime.combine((now - timedelta(days=now.weekday())).date(), datetime.min.time(), UTC)
        starts = [monday - timedelta(weeks=weeks - 1 - index) for index in range(weeks)]
        counts = [0] * weeks
        for escalation in self.escalations:
            for index, start in enumerate(starts):
                if start <= escalation.requested_at < start + timedelta(weeks=1):
                    counts[index] += 1
        return counts

    def week_starts(self, now: datetime, weeks: int = 12) -> list[datetime]:
        """The Mondays (00:00 UTC) of the last `weeks` weeks, oldest first; the last is the current week."""
        monday = datetime.combine((now - timedelta(days=now.weekday())).date(), datetime.min.time(), UTC)
        return [monday - timedelta(weeks=weeks - 1 - index) for index in range(weeks)]

    def figures(self, since: datetime, until: datetime) -> Figures:
        """The figures of the escalations requested from `since` until before `until`."""
        chosen = [e for e in self.escalations if since <= e.requested_at < until]
        acknowledged = [e for e in chosen if e.acknowledged_at is not None]
        return Figures(
            acknowledge_hours=[hours(e.requested_at, e.acknowledged_at) for e in acknowledged if e.acknowledged_at],
            allowed_hours=[hours(e.requested_at, e.due) for e in chosen],
            decided=len(acknowledged),
            before_due=sum(1 for e in acknowledged if e.acknowledged_at and e.acknowledged_at <= e.due),
        )

    def weekly(self, now: datetime, weeks: int = 12) -> list[Figures]:
        """Each of the last `weeks` weeks' figures, by the week of the request."""
        return [self.figures(start, start + timedelta(weeks=1)) for start in self.week_starts(now, weeks)]


def hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def nearest_rank(values: list[float], share: float) -> float | None:
    """The value at rank ceil(n × share) of the sorted values (at least the first); None for none."""
    if not values:
        return None
    return sorted(values)[max(1, math.ceil(len(values) * share)) - 1]


@dataclass(frozen=True)
class Figures:
    """What a set of escalations adds up to: times to acknowledge and allowed, and how many met the due time."""

    acknowledge_hours: list[float]
    allowed_hours: list[float]
    decided: int  # acknowledged, so either before the due time or late
    before_due: int

    @property
    def before_due_share(self) -> float | None:
        return self.before_due / self.decided if self.decided else None


def generate(count: int, now: datetime, field_ids: dict[str, int], seed: int = 7) -> Account:
    """`count` escalated tickets requested over the last 16 weeks, and the people they name."""
    rng = random.Random(seed)
    people = max(1, count // 2)
    users: dict[str, dict[str, Any]] = {
        user_id: {"id": int(user_id), "name": name} for user_id, name in MANAGERS.items()
    }
    for index in range(people):
        user_id = str(360_000_000_000 + index)
        name = f"{FIRST_NAMES[index % len(FIRST_NAMES)]} {LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]}"
        users[user_id] = {"id": int(user_id), "name": f"{name} {index}"}
    tickets = []
    escalations = []
    for index in range(count):
        ticket_id = 20_000 + index
        requested = now - timedelta(minutes=rng.randrange(1, 16 * 7 * 24 * 60))
        due = response_due(requested)
        requester = str(360_000_000_000 + rng.randrange(people))
        acknowledged_at: datetime | None = None
        resolved_at: datetime | None = None
        if now - requested < timedelta(hours=24):
            status = "requested" if rng.random() < 0.7 else "acknowledged"
        else:
            status = "requested" if rng.random() < 0.03 else "acknowledged"
        if status == "acknowledged":
            acknowledged_at = requested + timedelta(minutes=rng.randrange(15, 40 * 60))
            if acknowledged_at > now:
                status, acknowledged_at = "requested", None
        if status == "acknowledged" and acknowledged_at is not None and rng.random() < 0.8:
            resolved_at = acknowledged_at + timedelta(minutes=rng.randrange(60, 14 * 24 * 60))
            if resolved_at > now:
                resolved_at = None
            else:
                status = "resolved"
        overdue_tag = (status == "requested" and due + timedelta(minutes=10) < now) or (
            acknowledged_at is not None and acknowledged_at > due + timedelta(minutes=10)
        )
        refused = rng.choice((0, 0, 0, 0, 0, 0, 0, 0, 1, 2))
        manager = rng.choice(sorted(MANAGERS)) if acknowledged_at else ""
        escalation = Escalation(
            ticket_id, status, requested, requester, due, acknowledged_at, manager, resolved_at, refused, overdue_tag
        )
        escalations.append(escalation)
        # Older escalations were recorded in number fields; the app reads either.
        requested_by: str | int = requester if rng.random() < 0.8 else int(requester)
        values: dict[str, Any] = {
            "status": f"escalation_status_{status}",
            "reason": rng.choice(REASONS),
            "requested_at": iso(requested),
            "requested_by": requested_by,
            "response_due": iso(due),
            "refused_repeats": refused,
            "handled_through": str(900_000 + index),
            "acknowledged_at": iso(acknowledged_at) if acknowledged_at else None,
            "acknowledged_by": manager or None,
            "resolved_at": iso(resolved_at) if resolved_at else None,
        }
        tags = ["escalated", f"escalation_status_{status}"]
        if overdue_tag:
            tags.append("escalation_overdue")
        if refused:
            tags.append("escalation_blocked")
        updated = max(moment for moment in (requested, acknowledged_at, resolved_at) if moment is not None)
        tickets.append(
            {
                "id": ticket_id,
                "subject": f"{rng.choice(SUBJECTS)} (order {ticket_id})",
                "status": "solved" if status == "resolved" else "open",
                "requester_id": int(requester),
                "tags": tags,
                "custom_fields": [
                    {"id": field_ids[field.key], "value": values[field.key]} for field in ESCALATION_FIELDS
                ],
                "created_at": iso(requested - timedelta(days=2)),
                "updated_at": iso(updated),
            }
        )
    return Account(tickets, users, escalations)
