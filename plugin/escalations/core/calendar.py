"""Working time for the escalation response target.

The policy promises a first response within 24 hours counted on working time.
A `WorkingCalendar` says when that clock runs: weekly working hours in the
wall-clock time of one timezone (by default Monday to Friday, all day), less
holidays, which are local dates. The hours counted are real elapsed hours: a
DST switch inside working time makes that stretch an hour shorter or longer,
so the due time keeps its wall-clock time only where the switch falls outside
working time (on a weekend, say).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

RESPONSE_TARGET: Final = timedelta(hours=24)
MINUTES_PER_DAY: Final = 24 * 60
MINUTES_PER_WEEK: Final = 7 * MINUTES_PER_DAY
# Years whose public holidays a calendar knows unless told otherwise.
PUBLIC_HOLIDAY_YEARS: Final = range(2000, 2100)
# Longer than this without any working time means the calendar is wrong, not that the answer is far away.
SEARCH_LIMIT: Final = timedelta(days=3 * 366)

Interval = tuple[int, int]  # working time in minutes after local midnight, [start, end), 0 to 1440
DayHours = tuple[Interval, ...]
ALL_DAY: Final[DayHours] = ((0, MINUTES_PER_DAY),)
WEEKDAYS: Final[tuple[DayHours, ...]] = (ALL_DAY,) * 5 + ((), ())  # Monday first, like date.weekday()

UTC_ZONE: Final = ZoneInfo("UTC")

# No timezone changes its UTC offset twice within a day, so one look a day ahead finds every DST switch.
_SEGMENT: Final = timedelta(days=1)

# Zendesk names time zones the way Rails does (ActiveSupport::TimeZone::MAPPING); renamed IANA zones in their
# current spelling.
RAILS_TIME_ZONES: Final[Mapping[str, str]] = {
    "International Date Line West": "Etc/GMT+12",
    "Midway Island": "Pacific/Midway",
    "American Samoa": "Pacific/Pago_Pago",
    "Hawaii": "Pacific/Honolulu",
    "Alaska": "America/Juneau",
    "Pacific Time (US & Canada)": "America/Los_Angeles",
    "Tijuana": "America/Tijuana",
    "Mountain Time (US & Canada)": "America/Denver",
    "Arizona": "America/Phoenix",
    "Chihuahua": "America/Chihuahua",
    "Mazatlan": "America/Mazatlan",
    "Central Time (US & Canada)": "America/Chicago",
    "Saskatchewan": "America/Regina",
    "Guadalajara": "America/Mexico_City",
    "Mexico City": "America/Mexico_City",
    "Monterrey": "America/Monterrey",
    "Central America": "America/Guatemala",
    "Eastern Time (US & Canada)": "America/New_York",
    "Indiana (East)": "America/Indiana/Indianapolis",
    "Bogota": "America/Bogota",
    "Lima": "America/Lima",
    "Quito": "America/Lima",
    "Atlantic Time (Canada)": "America/Halifax",
    "Caracas": "America/Caracas",
    "La Paz": "America/La_Paz",
    "Santiago": "America/Santiago",
    "Newfoundland": "America/St_Johns",
    "Brasilia": "America/Sao_Paulo",
    "Buenos Aires": "America/Argentina/Buenos_Aires",
    "Montevideo": "America/Montevideo",
    "Georgetown": "America/Guyana",
    "Puerto Rico": "America/Puerto_Rico",
    "Greenland": "America/Nuuk",
    "Mid-Atlantic": "Atlantic/South_Georgia",
    "Azores": "Atlantic/Azores",
    "Cape Verde Is.": "Atlantic/Cape_Verde",
    "Dublin": "Europe/Dublin",
    "Edinburgh": "Europe/London",
    "Lisbon": "Europe/Lisbon",
    "London": "Europe/London",
    "Casablanca": "Africa/Casablanca",
    "Monrovia": "Africa/Monrovia",
    "UTC": "UTC",
    "Belgrade": "Europe/Belgrade",
    "Bratislava": "Europe/Bratislava",
    "Budapest": "Europe/Budapest",
    "Ljubljana": "Europe/Ljubljana",
    "Prague": "Europe/Prague",
    "Sarajevo": "Europe/Sarajevo",
    "Skopje": "Europe/Skopje",
    "Warsaw": "Europe/Warsaw",
    "Zagreb": "Europe/Zagreb",
    "Brussels": "Europe/Brussels",
    "Copenhagen": "Europe/Copenhagen",
    "Madrid": "Europe/Madrid",
    "Paris": "Europe/Paris",
    "Amsterdam": "Europe/Amsterdam",
    "Berlin": "Europe/Berlin",
    "Bern": "Europe/Zurich",
    "Zurich": "Europe/Zurich",
    "Rome": "Europe/Rome",
    "Stockholm": "Europe/Stockholm",
    "Vienna": "Europe/Vienna",
    "West Central Africa": "Africa/Algiers",
    "Bucharest": "Europe/Bucharest",
    "Cairo": "Africa/Cairo",
    "Helsinki": "Europe/Helsinki",
    "Kyiv": "Europe/Kyiv",
    "Riga": "Europe/Riga",
    "Sofia": "Europe/Sofia",
    "Tallinn": "Europe/Tallinn",
    "Vilnius": "Europe/Vilnius",
    "Athens": "Europe/Athens",
    "Istanbul": "Europe/Istanbul",
    "Minsk": "Europe/Minsk",
    "Jerusalem": "Asia/Jerusalem",
    "Harare": "Africa/Harare",
    "Pretoria": "Africa/Johannesburg",
    "Kaliningrad": "Europe/Kaliningrad",
    "Moscow": "Europe/Moscow",
    "St. Petersburg": "Europe/Moscow",
    "Volgograd": "Europe/Volgograd",
    "Samara": "Europe/Samara",
    "Kuwait": "Asia/Kuwait",
    "Riyadh": "Asia/Riyadh",
    "Nairobi": "Africa/Nairobi",
    "Baghdad": "Asia/Baghdad",
    "Tehran": "Asia/Tehran",
    "Abu Dhabi": "Asia/Muscat",
    "Muscat": "Asia/Muscat",
    "Baku": "Asia/Baku",
    "Tbilisi": "Asia/Tbilisi",
    "Yerevan": "Asia/Yerevan",
    "Kabul": "Asia/Kabul",
    "Ekaterinburg": "Asia/Yekaterinburg",
    "Islamabad": "Asia/Karachi",
    "Karachi": "Asia/Karachi",
    "Tashkent": "Asia/Tashkent",
    "Chennai": "Asia/Kolkata",
    "Kolkata": "Asia/Kolkata",
    "Mumbai": "Asia/Kolkata",
    "New Delhi": "Asia/Kolkata",
    "Kathmandu": "Asia/Kathmandu",
    "Astana": "Asia/Dhaka",
    "Dhaka": "Asia/Dhaka",
    "Sri Jayawardenepura": "Asia/Colombo",
    "Almaty": "Asia/Almaty",
    "Novosibirsk": "Asia/Novosibirsk",
    "Rangoon": "Asia/Yangon",
    "Bangkok": "Asia/Bangkok",
    "Hanoi": "Asia/Bangkok",
    "Jakarta": "Asia/Jakarta",
    "Krasnoyarsk": "Asia/Krasnoyarsk",
    "Beijing": "Asia/Shanghai",
    "Chongqing": "Asia/Shanghai",
    "Hong Kong": "Asia/Hong_Kong",
    "Urumqi": "Asia/Urumqi",
    "Kuala Lumpur": "Asia/Kuala_Lumpur",
    "Singapore": "Asia/Singapore",
    "Taipei": "Asia/Taipei",
    "Perth": "Australia/Perth",
    "Irkutsk": "Asia/Irkutsk",
    "Ulaanbaatar": "Asia/Ulaanbaatar",
    "Seoul": "Asia/Seoul",
    "Osaka": "Asia/Tokyo",
    "Sapporo": "Asia/Tokyo",
    "Tokyo": "Asia/Tokyo",
    "Yakutsk": "Asia/Yakutsk",
    "Darwin": "Australia/Darwin",
    "Adelaide": "Australia/Adelaide",
    "Canberra": "Australia/Melbourne",
    "Melbourne": "Australia/Melbourne",
    "Sydney": "Australia/Sydney",
    "Brisbane": "Australia/Brisbane",
    "Hobart": "Australia/Hobart",
    "Vladivostok": "Asia/Vladivostok",
    "Guam": "Pacific/Guam",
    "Port Moresby": "Pacific/Port_Moresby",
    "Magadan": "Asia/Magadan",
    "Srednekolymsk": "Asia/Srednekolymsk",
    "Solomon Is.": "Pacific/Guadalcanal",
    "New Caledonia": "Pacific/Noumea",
    "Fiji": "Pacific/Fiji",
    "Kamchatka": "Asia/Kamchatka",
    "Marshall Is.": "Pacific/Majuro",
    "Auckland": "Pacific/Auckland",
    "Wellington": "Pacific/Auckland",
    "Nuku'alofa": "Pacific/Tongatapu",
    "Tokelau Is.": "Pacific/Fakaofo",
    "Chatham Is.": "Pacific/Chatham",
    "Samoa": "Pacific/Apia",
}


@dataclass(frozen=True)
class WorkingCalendar:
    """When the response clock runs: weekly working hours in local time, less holidays.

    `weekly_hours` has one entry per weekday, Monday first, each a tuple of
    (start, end) minutes after local midnight; `holidays` are local dates
    without working time.
    """

    timezone: ZoneInfo = UTC_ZONE
    weekly_hours: tuple[DayHours, ...] = WEEKDAYS
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if len(self.weekly_hours) != 7:
            raise ValueError(f"weekly working hours need 7 days, Monday first, not {len(self.weekly_hours)}")
        weekly_hours = tuple(_merged(day) for day in self.weekly_hours)
        if not any(weekly_hours):
            raise ValueError("a working calendar needs working hours on at least one day of the week")
        object.__setattr__(self, "weekly_hours", weekly_hours)
        object.__setattr__(self, "holidays", frozenset(self.holidays))

    @classmethod
    def weekdays(cls, timezone: ZoneInfo) -> WorkingCalendar:
        """Monday to Friday, all day, in `timezone`."""
        return cls(timezone)

    @classmethod
    def with_public_holidays(cls, timezone: ZoneInfo, code: str, years: range | None = None) -> WorkingCalendar:
        """Monday to Friday in `timezone`, less the public holidays of `code` ("US", "DE", "DE-BY")."""
        return cls(timezone, holidays=public_holiday_dates(code, PUBLIC_HOLIDAY_YEARS if years is None else years))

    @classmethod
    def from_zendesk_schedule(
        cls, schedule_json: Mapping[str, Any], holidays_json: Sequence[Mapping[str, Any]] = ()
    ) -> WorkingCalendar:
        """The business hours and holidays of a Zendesk schedule, as the Schedules API returns them.

        `schedule_json` is the schedule object (or the `{"schedule": …}`
        response); `holidays_json` the list under `holidays` of its holidays.
        """
        schedule = schedule_json.get("schedule", schedule_json)
        name = schedule.get("name") or schedule.get("id")
        timezone = zendesk_time_zone(str(schedule.get("time_zone") or ""))
        weekly: list[list[Interval]] = [[] for _ in range(7)]
        for interval in schedule.get("intervals") or ():
            start, end = interval.get("start_time"), interval.get("end_time")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= MINUTES_PER_WEEK):
                raise ValueError(f"Zendesk schedule {name!r} has an invalid interval {dict(interval)!r}")
            # Minutes count from Sunday midnight. Zendesk never lets an interval span days; split one that does.
            for midnight in range(start - start % MINUTES_PER_DAY, end, MINUTES_PER_DAY):
                monday_first = (midnight // MINUTES_PER_DAY - 1) % 7
                weekly[monday_first].append(
                    (max(start, midnight) - midnight, min(end, midnight + MINUTES_PER_DAY) - midnight)
                )
        if not any(weekly):
            raise ValueError(f"Zendesk schedule {name!r} has no business hours")
        closed = frozenset(day for holiday in holidays_json for day in _holiday_dates(holiday, name))
        return cls(timezone, tuple(tuple(day) for day in weekly), closed)

    def hours_on(self, day: date) -> DayHours:
        """The working intervals of a local date: none on a holiday."""
        return () if day in self.holidays else self.weekly_hours[day.weekday()]


def zendesk_time_zone(name: str) -> ZoneInfo:
    """The zone of a Zendesk time zone name such as "Berlin"; an IANA name such as "Europe/Berlin" passes through."""
    key = RAILS_TIME_ZONES.get(name.strip(), name.strip())
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}: use a Zendesk time zone name or an IANA one") from None


def public_holiday_dates(code: str, years: range) -> frozenset[date]:
    """The public holidays of a country ("US") or a country's region ("DE-BY") in `years`."""
    import holidays as public_holidays  # large; loaded only where holidays are configured

    country, _, region = (part.strip().upper() for part in code.strip().partition("-"))
    supported = public_holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(
            f"unknown public holiday code {code!r}: use a country code such as US or DE, "
            "or a country and region such as DE-BY"
        )
    subdivision = None
    if region:
        subdivision = next((known for known in supported[country] if known.upper() == region), None)
        if subdivision is None:
            regions = ", ".join(supported[country]) or "none"
            raise ValueError(f"unknown public holiday code {code!r}: the regions of {country} are {regions}")
    return frozenset(public_holidays.country_holidays(country, subdiv=subdivision, years=years))


def is_working_instant(moment: datetime, calendar: WorkingCalendar | ZoneInfo) -> bool:
    """Whether the response clock runs at `moment` (timezone-aware)."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    working = _as_calendar(calendar)
    local = moment.astimezone(working.timezone).replace(tzinfo=None)
    since_midnight = local - datetime.combine(local.date(), time(0))
    return any(
        timedelta(minutes=start) <= since_midnight < timedelta(minutes=end)
        for start, end in working.hours_on(local.date())
    )


def add_working_time(start: datetime, amount: timedelta, calendar: WorkingCalendar | ZoneInfo) -> datetime:
    """The first instant by which `amount` of working time has passed since `start`, in UTC.

    `start` must be timezone-aware. A start outside working time counts from
    the next working instant. A calendar with no working time for
    `SEARCH_LIMIT` raises ValueError.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if amount < timedelta(0):
        raise ValueError("amount must not be negative")
    cursor = start.astimezone(UTC)
    if not amount:
        return cursor
    remaining = amount
    windows = _working_windows(cursor, _as_calendar(calendar))
    while True:
        window_start, window_end = next(windows)
        if remaining <= window_end - window_start:
            return window_start + remaining
        remaining -= window_end - window_start


def response_due(requested_at: datetime, calendar: WorkingCalendar | ZoneInfo) -> datetime:
    """When the first response to an escalation is due: 24 working hours later, in UTC."""
    return add_working_time(requested_at, RESPONSE_TARGET, calendar)


def _as_calendar(calendar: WorkingCalendar | ZoneInfo) -> WorkingCalendar:
    # A bare timezone means the weekday rule in that timezone.
    return calendar if isinstance(calendar, WorkingCalendar) else WorkingCalendar.weekdays(calendar)


def _merged(day: DayHours) -> DayHours:
    """A day's intervals checked, sorted, and joined where they touch or overlap."""
    merged: list[Interval] = []
    for start, end in sorted(day):
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= MINUTES_PER_DAY):
            raise ValueError(f"a working interval is whole minutes within one day, not {(start, end)!r}")
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _holiday_dates(holiday: Mapping[str, Any], schedule: object) -> Iterator[date]:
    """The dates of a Zendesk schedule holiday; `start_date` and `end_date` are both included."""
    try:
        first = date.fromisoformat(str(holiday["start_date"]))
        last = date.fromisoformat(str(holiday.get("end_date") or holiday["start_date"]))
    except (KeyError, ValueError):
        raise ValueError(f"Zendesk schedule {schedule!r} has an invalid holiday {dict(holiday)!r}") from None
    if last < first:
        raise ValueError(f"Zendesk schedule {schedule!r} has a holiday that ends before it starts: {dict(holiday)!r}")
    return (first + timedelta(days=offset) for offset in range((last - first).days + 1))


def _utc_offset(moment: datetime, timezone: ZoneInfo) -> timedelta:
    return moment.astimezone(timezone).utcoffset() or timedelta(0)


def _next_offset_change(moment: datetime, timezone: ZoneInfo) -> datetime:
    """The first instant after `moment` with another UTC offset, or `moment` + `_SEGMENT` if none comes first."""
    offset = _utc_offset(moment, timezone)
    before, after = moment, moment + _SEGMENT
    if _utc_offset(after, timezone) == offset:
        return after
    # Bisect down to the microsecond: the switch is the first instant with the new offset.
    while after - before > timedelta(microseconds=1):
        middle = before + (after - before) // 2
        before, after = (middle, after) if _utc_offset(middle, timezone) == offset else (before, middle)
    return after


def _working_windows(start: datetime, calendar: WorkingCalendar) -> Iterator[tuple[datetime, datetime]]:
    """The stretches of working time from `start` (UTC) on, in order, as UTC (start, end) pairs.

    Time is walked in segments with one UTC offset each, so that local time
    within a segment is UTC plus a constant; the local working intervals of
    each day the segment touches are cut to it and shifted back to UTC.
    """
    segment_start = last_working = start
    while True:
        segment_end = _next_offset_change(segment_start, calendar.timezone)
        offset = _utc_offset(segment_start, calendar.timezone)
        local_start = (segment_start + offset).replace(tzinfo=None)
        local_end = (segment_end + offset).replace(tzinfo=None)
        day = local_start.date()
        while (midnight := datetime.combine(day, time(0))) < local_end:
            for start_minute, end_minute in calendar.hours_on(day):
                window_start = max(local_start, midnight + timedelta(minutes=start_minute))
                window_end = min(local_end, midnight + timedelta(minutes=end_minute))
                if window_start < window_end:
                    last_working = (window_end - offset).replace(tzinfo=UTC)
                    yield (window_start - offset).replace(tzinfo=UTC), last_working
            day += timedelta(days=1)
        if segment_end - last_working > SEARCH_LIMIT:
            raise ValueError(
                f"the working calendar has no working time for {SEARCH_LIMIT.days} days after "
                f"{last_working:%Y-%m-%d %H:%M} UTC"
            )
        segment_start = segment_end
