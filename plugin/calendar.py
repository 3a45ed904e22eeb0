"""Working-time arithmetic for the escalation response target.

The policy promises a first response within 24 hours counted on weekdays:
time that falls on a Saturday or a Sunday (in the account's timezone) does
not count. Hours are real elapsed hours, so a DST switch on a weekday makes
that day 23 or 25 hours long and the target moves with the wall clock only
where the weekend swallows the switch.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

RESPONSE_TARGET = timedelta(hours=24)


def is_working_day(day: date) -> bool:
    """Weekdays count; Saturdays and Sundays do not."""
    return day.weekday() < 5


def _start_of_day(day: date, timezone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone).astimezone(UTC)


def add_working_time(start: datetime, amount: timedelta, timezone: ZoneInfo) -> datetime:
    """Return the instant `amount` of weekday time after `start`, in UTC.

    `start` must be timezone-aware. A start on a weekend counts from the
    beginning of the next weekday.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    remaining = amount
    cursor = start.astimezone(UTC)
    while True:
        local_day = cursor.astimezone(timezone).date()
        day_end = _start_of_day(local_day + timedelta(days=1), timezone)
        if is_working_day(local_day):
            available = day_end - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
        cursor = day_end


def response_due(requested_at: datetime, timezone: ZoneInfo) -> datetime:
    """When the first response to an escalation is due: 24 weekday hours later."""
    return add_working_time(requested_at, RESPONSE_TARGET, timezone)
