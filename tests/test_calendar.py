"""Response due = requested at + 24 hours counted on working time only."""

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalations.core.calendar import (
    RAILS_TIME_ZONES,
    WorkingCalendar,
    add_working_time,
    is_working_instant,
    response_due,
    zendesk_time_zone,
)

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
YEARS = range(2026, 2030)


def at(zone: tzinfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def zendesk_schedule(
    time_zone: str, hours: Mapping[int, Sequence[tuple[str, str]]], name: str = "Support"
) -> dict[str, Any]:
    """A schedule as the Schedules API returns it; `hours` by day, 0 = Sunday, in "HH:MM" local time."""

    def minutes(clock: str) -> int:
        hour, minute = clock.split(":")
        return int(hour) * 60 + int(minute)

    intervals = [
        {"start_time": day * 1440 + minutes(start), "end_time": day * 1440 + minutes(end)}
        for day, spans in hours.items()
        for start, end in spans
    ]
    return {"id": 360000001, "name": name, "time_zone": time_zone, "intervals": intervals}


SPLIT_DAY = (("09:00", "12:00"), ("13:00", "17:00"))
SPLIT_DAY_BERLIN = WorkingCalendar.from_zendesk_schedule(
    zendesk_schedule("Berlin", dict.fromkeys(range(1, 6), SPLIT_DAY)),
    [{"id": 1, "name": "Winter closing", "start_date": "2026-12-24", "end_date": "2026-12-31"}],
)
# Open the small hours of every Sunday, when the clocks change, and office hours on weekdays.
NIGHT_SHIFT_NEW_YORK = WorkingCalendar.from_zendesk_schedule(
    zendesk_schedule(
        "Eastern Time (US & Canada)", {0: (("01:00", "03:00"),)} | dict.fromkeys(range(1, 6), (("09:00", "17:00"),))
    )
)
AROUND_THE_CLOCK_NEW_YORK = WorkingCalendar.from_zendesk_schedule(
    zendesk_schedule("Eastern Time (US & Canada)", dict.fromkeys(range(7), (("00:00", "24:00"),)))
)
EARLY_HOURS_NEW_YORK = WorkingCalendar.from_zendesk_schedule(
    zendesk_schedule("America/New_York", dict.fromkeys(range(7), (("00:00", "06:00"),)))
)
US_HOLIDAYS_NEW_YORK = WorkingCalendar.with_public_holidays(NEW_YORK, "US", YEARS)
DE_HOLIDAYS_BERLIN = WorkingCalendar.with_public_holidays(BERLIN, "DE", YEARS)
DE_BY_HOLIDAYS_BERLIN = WorkingCalendar.with_public_holidays(BERLIN, "DE-BY", YEARS)


# ---- the weekday rule: a bare timezone means Monday to Friday, all day ----


def test_a_request_on_a_weekday_morning_is_due_the_next_weekday_at_the_same_time() -> None:
    assert response_due(at(UTC, 2026, 11, 24, 9, 30), UTC_ZONE) == at(UTC, 2026, 11, 25, 9, 30)


def test_a_request_on_friday_afternoon_is_due_monday_afternoon() -> None:
    assert response_due(at(UTC, 2026, 11, 27, 15, 0), UTC_ZONE) == at(UTC, 2026, 11, 30, 15, 0)


def test_a_request_on_saturday_is_due_at_the_end_of_monday() -> None:
    assert response_due(at(UTC, 2026, 11, 28, 11, 0), UTC_ZONE) == at(UTC, 2026, 12, 1, 0, 0)


def test_a_request_on_sunday_night_counts_from_monday_midnight() -> None:
    assert response_due(at(UTC, 2026, 11, 29, 23, 59), UTC_ZONE) == at(UTC, 2026, 12, 1, 0, 0)


def test_the_due_time_crosses_a_month_end_and_a_year_end() -> None:
    assert response_due(at(UTC, 2026, 12, 31, 10, 0), UTC_ZONE) == at(UTC, 2027, 1, 1, 10, 0)
    assert response_due(at(UTC, 2027, 4, 30, 18, 0), UTC_ZONE) == at(UTC, 2027, 5, 3, 18, 0)


def test_weekends_are_those_of_the_configured_timezone() -> None:
    # Friday 23:30 UTC is already Saturday 00:30 in Berlin: the clock starts on Monday there.
    friday_night = at(UTC, 2026, 11, 27, 23, 30)
    assert response_due(friday_night, UTC_ZONE) == at(UTC, 2026, 11, 30, 23, 30)
    assert response_due(friday_night, BERLIN) == at(BERLIN, 2026, 12, 1, 0, 0)


def test_a_dst_switch_on_the_weekend_keeps_the_local_time_of_day() -> None:
    # Europe switches to summer time on Sunday 29 March 2026.
    assert response_due(at(BERLIN, 2026, 3, 27, 15, 0), BERLIN) == at(BERLIN, 2026, 3, 30, 15, 0)
    # The United States fall back on Sunday 1 November 2026.
    assert response_due(at(NEW_YORK, 2026, 10, 30, 9, 0), NEW_YORK) == at(NEW_YORK, 2026, 11, 2, 9, 0)


def test_the_other_dst_switches_on_the_weekend_keep_the_local_time_of_day_too() -> None:
    # Europe falls back on Sunday 25 October 2026; the United States spring forward on Sunday 8 March 2026.
    assert response_due(at(BERLIN, 2026, 10, 23, 15, 0), BERLIN) == at(BERLIN, 2026, 10, 26, 15, 0)
    assert response_due(at(NEW_YORK, 2026, 3, 6, 9, 0), NEW_YORK) == at(NEW_YORK, 2026, 3, 9, 9, 0)


def test_the_result_is_in_utc() -> None:
    assert response_due(at(BERLIN, 2026, 11, 24, 9, 0), BERLIN).tzinfo == UTC
    assert response_due(at(BERLIN, 2026, 11, 24, 9, 0), SPLIT_DAY_BERLIN).tzinfo == UTC


def test_a_timezone_alone_means_weekdays_in_that_timezone() -> None:
    requested = at(UTC, 2026, 11, 27, 22, 0)
    assert response_due(requested, BERLIN) == response_due(requested, WorkingCalendar.weekdays(BERLIN))
    assert WorkingCalendar() == WorkingCalendar.weekdays(UTC_ZONE)


def test_a_request_without_a_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        response_due(datetime(2026, 11, 24, 9, 0), UTC_ZONE)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_working_instant(datetime(2026, 11, 24, 9, 0), UTC_ZONE)


# ---- public holidays ----


def test_thanksgiving_does_not_count_in_the_us() -> None:
    assert response_due(at(NEW_YORK, 2026, 11, 25, 15, 0), US_HOLIDAYS_NEW_YORK) == at(NEW_YORK, 2026, 11, 27, 15, 0)


def test_a_holiday_on_a_monday_makes_a_long_weekend() -> None:
    # Labor Day, Monday 7 September 2026.
    assert response_due(at(NEW_YORK, 2026, 9, 4, 15, 0), US_HOLIDAYS_NEW_YORK) == at(NEW_YORK, 2026, 9, 8, 15, 0)


def test_a_holiday_on_a_friday_makes_a_long_weekend() -> None:
    # Independence Day falls on a Saturday in 2026 and is observed on Friday 3 July.
    assert response_due(at(NEW_YORK, 2026, 7, 2, 15, 0), US_HOLIDAYS_NEW_YORK) == at(NEW_YORK, 2026, 7, 6, 15, 0)


def test_good_friday_and_easter_monday_do_not_count_in_germany() -> None:
    assert response_due(at(BERLIN, 2026, 4, 2, 15, 0), DE_HOLIDAYS_BERLIN) == at(BERLIN, 2026, 4, 7, 15, 0)


def test_a_bavarian_holiday_counts_only_in_bavaria() -> None:
    # Epiphany, Wednesday 6 January 2027, is a holiday in Bavaria but not across Germany.
    requested = at(BERLIN, 2027, 1, 5, 10, 0)
    assert response_due(requested, DE_HOLIDAYS_BERLIN) == at(BERLIN, 2027, 1, 6, 10, 0)
    assert response_due(requested, DE_BY_HOLIDAYS_BERLIN) == at(BERLIN, 2027, 1, 7, 10, 0)


def test_christmas_and_new_year_do_not_count() -> None:
    # Christmas Day 2026 is a Friday, New Year's Day 2027 too.
    assert response_due(at(BERLIN, 2026, 12, 24, 10, 0), DE_HOLIDAYS_BERLIN) == at(BERLIN, 2026, 12, 28, 10, 0)
    assert response_due(at(BERLIN, 2026, 12, 31, 12, 0), DE_HOLIDAYS_BERLIN) == at(BERLIN, 2027, 1, 4, 12, 0)


def test_a_new_year_on_a_saturday_is_observed_on_the_friday_before_in_the_us() -> None:
    assert response_due(at(NEW_YORK, 2027, 12, 30, 15, 0), US_HOLIDAYS_NEW_YORK) == at(NEW_YORK, 2028, 1, 3, 15, 0)


def test_holidays_are_dates_of_the_calendars_timezone() -> None:
    # Thanksgiving morning in New York is still Wednesday night in Hawaii.
    assert not is_working_instant(at(NEW_YORK, 2026, 11, 26, 0, 30), US_HOLIDAYS_NEW_YORK)
    assert is_working_instant(at(NEW_YORK, 2026, 11, 25, 23, 59), US_HOLIDAYS_NEW_YORK)
    hawaii = WorkingCalendar.with_public_holidays(ZoneInfo("Pacific/Honolulu"), "US", YEARS)
    assert is_working_instant(at(NEW_YORK, 2026, 11, 26, 0, 30), hawaii)


def test_holiday_codes_ignore_case_and_spaces() -> None:
    assert WorkingCalendar.with_public_holidays(BERLIN, " de-by ", YEARS) == DE_BY_HOLIDAYS_BERLIN


def test_holidays_default_to_a_century_of_years() -> None:
    calendar = WorkingCalendar.with_public_holidays(NEW_YORK, "US")
    assert {date(2000, 1, 1), date(2099, 12, 25)} <= calendar.holidays


@pytest.mark.parametrize("code", ["XX", "DE-ZZ", "", "Germany"])
def test_an_unknown_holiday_code_is_refused_naming_the_code(code: str) -> None:
    with pytest.raises(ValueError, match="unknown public holiday code") as refused:
        WorkingCalendar.with_public_holidays(BERLIN, code, YEARS)
    assert repr(code) in str(refused.value)
    assert "\n" not in str(refused.value)


# ---- Zendesk schedules ----


def test_a_split_day_schedule_counts_only_its_business_hours() -> None:
    # 7 hours a day: three days make 21, the fourth morning the last 3.
    assert response_due(at(BERLIN, 2026, 11, 23, 9, 0), SPLIT_DAY_BERLIN) == at(BERLIN, 2026, 11, 26, 12, 0)


def test_a_request_in_the_lunch_break_counts_from_the_afternoon() -> None:
    assert response_due(at(BERLIN, 2026, 11, 23, 12, 30), SPLIT_DAY_BERLIN) == at(BERLIN, 2026, 11, 26, 16, 0)


def test_a_request_after_hours_on_friday_counts_from_monday_morning() -> None:
    assert response_due(at(BERLIN, 2026, 11, 27, 18, 0), SPLIT_DAY_BERLIN) == at(BERLIN, 2026, 12, 3, 12, 0)


def test_business_hours_end_at_the_closing_minute() -> None:
    assert is_working_instant(at(BERLIN, 2026, 11, 23, 11, 59), SPLIT_DAY_BERLIN)
    assert not is_working_instant(at(BERLIN, 2026, 11, 23, 12, 0), SPLIT_DAY_BERLIN)
    assert is_working_instant(at(BERLIN, 2026, 11, 23, 13, 0), SPLIT_DAY_BERLIN)
    assert not is_working_instant(at(BERLIN, 2026, 11, 28, 10, 0), SPLIT_DAY_BERLIN)


def test_a_schedule_holiday_covers_its_first_and_last_dates() -> None:
    assert not is_working_instant(at(BERLIN, 2026, 12, 24, 10, 0), SPLIT_DAY_BERLIN)
    assert not is_working_instant(at(BERLIN, 2026, 12, 31, 10, 0), SPLIT_DAY_BERLIN)
    assert is_working_instant(at(BERLIN, 2027, 1, 1, 10, 0), SPLIT_DAY_BERLIN)
    # One hour on the 23rd, then 7 on each of 1, 4 and 5 January, the last 2 on the 6th.
    assert response_due(at(BERLIN, 2026, 12, 23, 16, 0), SPLIT_DAY_BERLIN) == at(BERLIN, 2027, 1, 6, 11, 0)


def test_a_schedule_reads_the_same_with_or_without_its_response_wrapper() -> None:
    schedule = zendesk_schedule("Berlin", dict.fromkeys(range(1, 6), SPLIT_DAY))
    assert WorkingCalendar.from_zendesk_schedule({"schedule": schedule}) == WorkingCalendar.from_zendesk_schedule(
        schedule
    )


def test_a_schedule_lists_its_hours_monday_first_in_its_timezone() -> None:
    calendar = WorkingCalendar.from_zendesk_schedule(
        zendesk_schedule(
            "Pacific Time (US & Canada)", {0: (("10:00", "14:00"),), 1: SPLIT_DAY, 6: (("08:00", "24:00"),)}
        )
    )
    assert calendar.timezone == ZoneInfo("America/Los_Angeles")
    assert calendar.weekly_hours == (((540, 720), (780, 1020)), (), (), (), (), ((480, 1440),), ((600, 840),))


def test_zendesk_time_zone_names_map_to_iana_zones() -> None:
    assert zendesk_time_zone("Pacific Time (US & Canada)") == ZoneInfo("America/Los_Angeles")
    assert zendesk_time_zone("Eastern Time (US & Canada)") == NEW_YORK
    assert zendesk_time_zone("Berlin") == BERLIN
    assert zendesk_time_zone("UTC") == UTC_ZONE
    assert zendesk_time_zone("Europe/Paris") == ZoneInfo("Europe/Paris")


def test_every_zendesk_time_zone_name_has_a_zone() -> None:
    assert len(RAILS_TIME_ZONES) >= 150
    assert all(zendesk_time_zone(name) for name in RAILS_TIME_ZONES)


@pytest.mark.parametrize("name", ["Atlantis", "", "America", "../etc/passwd"])
def test_an_unknown_time_zone_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        zendesk_time_zone(name)


def test_a_schedule_without_business_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="'Support' has no business hours"):
        WorkingCalendar.from_zendesk_schedule(zendesk_schedule("Berlin", {}))


@pytest.mark.parametrize(
    "interval",
    [{"start_time": 600, "end_time": 600}, {"start_time": -60, "end_time": 60}, {"start_time": 0, "end_time": 10081}],
)
def test_a_schedule_with_an_impossible_interval_is_refused(interval: dict[str, int]) -> None:
    schedule = {"name": "Support", "time_zone": "Berlin", "intervals": [interval]}
    with pytest.raises(ValueError, match="invalid interval"):
        WorkingCalendar.from_zendesk_schedule(schedule)


@pytest.mark.parametrize(
    "holiday",
    [
        {"name": "Undated"},
        {"start_date": "2026-12-24", "end_date": "soon"},
        {"start_date": "2026-12-24", "end_date": "2026-12-23"},
    ],
)
def test_a_schedule_with_an_impossible_holiday_is_refused(holiday: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="holiday"):
        WorkingCalendar.from_zendesk_schedule(zendesk_schedule("Berlin", {1: SPLIT_DAY}), [holiday])


# ---- DST switches inside working time: real hours count ----


def test_a_spring_forward_night_has_one_hour_less_to_count() -> None:
    # 8 March 2026 in New York: 00:00 to 06:00 on the clock is 5 real hours.
    sunday = at(NEW_YORK, 2026, 3, 8, 0, 0)
    assert add_working_time(sunday, timedelta(hours=5), EARLY_HOURS_NEW_YORK) == at(NEW_YORK, 2026, 3, 8, 6, 0)
    assert add_working_time(sunday, timedelta(hours=6), EARLY_HOURS_NEW_YORK) == at(NEW_YORK, 2026, 3, 9, 1, 0)


def test_a_fall_back_night_counts_the_repeated_hour() -> None:
    # 1 November 2026 in New York: 00:00 to 06:00 on the clock is 7 real hours.
    sunday = at(NEW_YORK, 2026, 11, 1, 0, 0)
    assert add_working_time(sunday, timedelta(hours=7), EARLY_HOURS_NEW_YORK) == at(NEW_YORK, 2026, 11, 1, 6, 0)
    assert add_working_time(sunday, timedelta(hours=6), EARLY_HOURS_NEW_YORK) == at(NEW_YORK, 2026, 11, 1, 5, 0)
    assert is_working_instant(datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK), EARLY_HOURS_NEW_YORK)


def test_a_night_shift_cut_short_by_the_spring_forward_switch_counts_one_hour() -> None:
    # Sunday 01:00 to 03:00 in New York; on 8 March 2026 the clocks jump from 02:00 to 03:00.
    sunday = at(NEW_YORK, 2026, 3, 8, 1, 0)
    assert add_working_time(sunday, timedelta(hours=1), NIGHT_SHIFT_NEW_YORK) == at(NEW_YORK, 2026, 3, 8, 3, 0)
    assert add_working_time(sunday, timedelta(minutes=61), NIGHT_SHIFT_NEW_YORK) == at(NEW_YORK, 2026, 3, 9, 9, 1)


def test_a_schedule_open_around_the_clock_is_due_24_real_hours_later_across_a_switch() -> None:
    requested = at(NEW_YORK, 2026, 10, 31, 12, 0)
    assert response_due(requested, AROUND_THE_CLOCK_NEW_YORK) == at(NEW_YORK, 2026, 11, 1, 11, 0)
    assert response_due(requested, AROUND_THE_CLOCK_NEW_YORK) == requested.astimezone(UTC) + timedelta(hours=24)


def test_a_day_that_starts_by_springing_forward_at_midnight_is_23_hours_long() -> None:
    # Chile moves its clocks from 00:00 to 01:00 on Sunday 6 September 2026: that Sunday starts at 01:00.
    santiago = WorkingCalendar(ZoneInfo("America/Santiago"), ((), (), (), (), (), (), ((0, 1440),)))
    sunday = datetime(2026, 9, 6, 1, 0, tzinfo=santiago.timezone)
    assert not is_working_instant(sunday.astimezone(UTC) - timedelta(microseconds=1), santiago)
    assert add_working_time(sunday, timedelta(hours=23), santiago) == datetime(2026, 9, 7, tzinfo=santiago.timezone)


# ---- calendars that cannot answer ----


def test_overlapping_and_touching_intervals_join() -> None:
    calendar = WorkingCalendar(UTC_ZONE, (((600, 720), (540, 1020), (1020, 1080), (1200, 1260)),) + ((),) * 6)
    assert calendar.weekly_hours[0] == ((540, 1080), (1200, 1260))


@pytest.mark.parametrize("interval", [(600, 600), (-60, 60), (0, 1441)])
def test_a_working_interval_outside_one_day_is_refused(interval: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="within one day"):
        WorkingCalendar(UTC_ZONE, ((interval,),) + ((),) * 6)


def test_a_calendar_without_working_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        WorkingCalendar(UTC_ZONE, ((),) * 7)


def test_a_calendar_closed_for_years_gives_up_instead_of_searching_forever() -> None:
    closed = frozenset(date(2026, 1, 1) + timedelta(days=n) for n in range(4 * 366))
    with pytest.raises(ValueError, match="no working time"):
        response_due(at(UTC, 2026, 1, 1, 0, 0), WorkingCalendar(UTC_ZONE, holidays=closed))


def test_the_search_limit_bounds_gaps_in_working_time_not_the_amount_added() -> None:
    # 800 weekdays are 160 weeks: longer than the three-year limit, with working time every week.
    monday = at(UTC, 2026, 11, 23, 0, 0)
    assert add_working_time(monday, timedelta(days=800), UTC_ZONE) == monday + timedelta(weeks=160, days=-2)


def test_adding_no_working_time_keeps_the_start_in_utc() -> None:
    saturday = at(BERLIN, 2026, 11, 28, 11, 0)
    assert add_working_time(saturday, timedelta(0), BERLIN) == saturday
    assert add_working_time(saturday, timedelta(0), BERLIN).tzinfo == UTC


def test_a_negative_amount_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_time(at(UTC, 2026, 11, 24, 9, 0), timedelta(minutes=-1), UTC_ZONE)


# ---- properties ----

PROPERTY_CALENDARS = [
    WorkingCalendar.weekdays(UTC_ZONE),
    WorkingCalendar.weekdays(BERLIN),
    US_HOLIDAYS_NEW_YORK,
    SPLIT_DAY_BERLIN,
    NIGHT_SHIFT_NEW_YORK,
]
# DST switches in Berlin and New York, and year ends: where the rules are easiest to get wrong.
NOTABLE = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2027, 1, 1, tzinfo=UTC),
    datetime(2027, 3, 14, 7, tzinfo=UTC),
    datetime(2027, 3, 28, 1, tzinfo=UTC),
    datetime(2027, 10, 31, 1, tzinfo=UTC),
    datetime(2027, 11, 7, 6, tzinfo=UTC),
    datetime(2028, 1, 1, tzinfo=UTC),
    datetime(2028, 3, 12, 7, tzinfo=UTC),
    datetime(2028, 3, 26, 1, tzinfo=UTC),
    datetime(2028, 10, 29, 1, tzinfo=UTC),
    datetime(2028, 11, 5, 6, tzinfo=UTC),
]
minute_starts = st.one_of(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31)).map(
        lambda moment: moment.replace(second=0, microsecond=0, tzinfo=UTC)
    ),
    st.builds(
        lambda notable, minutes: notable + timedelta(minutes=minutes),
        st.sampled_from(NOTABLE),
        st.integers(-4320, 1440),
    ),
)
any_starts = st.builds(
    lambda start, microseconds: start + timedelta(microseconds=microseconds), minute_starts, st.integers(0, 59_999_999)
)


def _works(moment: datetime, calendar: WorkingCalendar) -> bool:
    """Whether the minute starting at `moment` counts, read straight from the calendar's data."""
    local = moment.astimezone(calendar.timezone)
    minute = local.hour * 60 + local.minute
    if local.date() in calendar.holidays:
        return False
    return any(start <= minute < end for start, end in calendar.weekly_hours[local.weekday()])


def _walk(start: datetime, minutes: int, calendar: WorkingCalendar) -> datetime:
    """Brute force: step minute by minute, counting the minutes that start on working time."""
    moment, left = start, minutes
    while left:
        if _works(moment, calendar):
            left -= 1
        moment += timedelta(minutes=1)
    return moment


@settings(max_examples=150, deadline=None)
@given(minute_starts, st.sampled_from(PROPERTY_CALENDARS))
def test_the_due_time_equals_a_minute_by_minute_walk(start: datetime, calendar: WorkingCalendar) -> None:
    due = response_due(start, calendar)
    assert due == _walk(start, 24 * 60, calendar)
    assert is_working_instant(due - timedelta(minutes=1), calendar)
    assert is_working_instant(start, calendar) == _works(start, calendar)


@settings(max_examples=200, deadline=None)
@given(any_starts, st.integers(1, 3 * 24 * 60 * 60), st.sampled_from(PROPERTY_CALENDARS))
def test_the_instant_just_before_the_due_time_is_working_time(
    start: datetime, seconds: int, calendar: WorkingCalendar
) -> None:
    due = add_working_time(start, timedelta(seconds=seconds), calendar)
    assert due > start
    assert is_working_instant(due - timedelta(microseconds=1), calendar)


@settings(max_examples=200, deadline=None)
@given(any_starts, st.integers(0, 10 * 24 * 60 * 60 * 10**6), st.sampled_from(PROPERTY_CALENDARS))
def test_a_later_request_is_never_due_earlier(start: datetime, microseconds: int, calendar: WorkingCalendar) -> None:
    later = start + timedelta(microseconds=microseconds)
    assert response_due(start, calendar) <= response_due(later, calendar)
