"""Business-hours schedules and their holidays (the Schedules API)."""

from __future__ import annotations

import copy

from escalations.sandbox.core import AccountCore, Record
from escalations.sandbox.errors import not_found

# Office hours Monday to Friday, 09:00-17:00 in Berlin, with one holiday; intervals are
# minutes from Sunday 00:00, as Zendesk gives them.
OFFICE_HOURS: Record = {
    "id": 360000000001,
    "name": "Support office hours",
    "time_zone": "Berlin",
    "intervals": [{"start_time": day * 1440 + 9 * 60, "end_time": day * 1440 + 17 * 60} for day in range(1, 6)],
}
OFFICE_HOLIDAYS = [{"id": 1, "name": "Christmas", "start_date": "2026-12-24", "end_date": "2026-12-26"}]


class Schedules(AccountCore):
    """Every account has the one office-hours schedule above."""

    def _add_office_hours(self) -> None:
        self._schedules = [copy.deepcopy(OFFICE_HOURS)]
        self._schedule_holidays = {OFFICE_HOURS["id"]: copy.deepcopy(OFFICE_HOLIDAYS)}

    def schedules(self) -> list[Record]:
        """Business-hours schedules, as the Schedules API lists them."""
        with self._lock:
            return copy.deepcopy(self._schedules)

    def schedule_holidays(self, schedule_id: int) -> list[Record]:
        """One schedule's holidays."""
        with self._lock:
            if not any(schedule["id"] == schedule_id for schedule in self._schedules):
                raise not_found()
            return copy.deepcopy(self._schedule_holidays.get(schedule_id, []))
