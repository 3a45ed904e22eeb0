"""Response due = requested at + 24 hours counted on weekdays only."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.calendar import add_working_time, response_due

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)


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


def test_the_result_is_in_utc() -> None:
    assert response_due(at(BERLIN, 2026, 11, 24, 9, 0), BERLIN).tzinfo == UTC


def _walk(start: datetime, hours: int, zone: ZoneInfo) -> datetime:
    """Brute force: step minute by minute, counting the minutes that start on a weekday."""
    moment, left = start, hours * 60
    while left:
        if moment.astimezone(zone).weekday() < 5:
            left -= 1
        moment += timedelta(minutes=1)
    return moment


@settings(max_examples=40, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31)),
    st.sampled_from([UTC_ZONE, BERLIN, NEW_YORK]),
)
def test_the_due_time_equals_a_minute_by_minute_walk(start: datetime, zone: ZoneInfo) -> None:
    start = start.replace(second=0, microsecond=0, tzinfo=UTC)
    assert add_working_time(start, timedelta(hours=24), zone) == _walk(start, 24, zone)
