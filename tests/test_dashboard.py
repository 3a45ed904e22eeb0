"""The managers' dashboard (the app's nav bar page) in Chromium, against the ZAF client double.

The double serves Zendesk's search export and users/show_many from generated
accounts of 200 and 5,000 escalations (tests/dashboard_data.py). Screenshots at
1280x800 go to tests/artifacts/dashboard/.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from escalations.admin.report import EscalationRow, summarise
from tests.app_pages import DOUBLES, ROOT, AppPage, AppTab, serve_repository
from tests.dashboard_data import Account, generate, minutes_left, nearest_rank

NOW = datetime(2026, 11, 27, 15, 4, 5, tzinfo=UTC)
EXPORT = "/api/v2/search/export.json"
COUNT = "/api/v2/search/count.json"
FIRST_PAGE = f"{EXPORT}?query=tags:escalated&filter[type]=ticket&page[size]=100"
TICKET_FIELDS: list[dict[str, Any]] = json.loads((DOUBLES / "ticket_fields.json").read_text())["ticket_fields"]
FIELD_ID = {field["title"]: field["id"] for field in TICKET_FIELDS}
KEYS = {
    "status": "Escalation status",
    "reason": "Escalation reason",
    "requested_at": "Escalation requested at",
    "requested_by": "Escalation requested by",
    "response_due": "Escalation response due",
    "refused_repeats": "Escalation refused repeats",
    "handled_through": "Escalation handled through comment",
    "acknowledged_at": "Escalation acknowledged at",
    "acknowledged_by": "Escalation acknowledged by",
    "resolved_at": "Escalation resolved at",
}
IDS = {key: FIELD_ID[title] for key, title in KEYS.items()}
MANAGER = {
    "id": 370000000002,
    "name": "Sam Supervisor",
    "locale": "en-US",
    "role": "agent",
    "groups": [{"id": 32, "name": "Support Managers"}],
}
STRINGS = json.loads((ROOT / "translations" / "en.json").read_text())["dashboard"]
GERMAN = json.loads((ROOT / "translations" / "de.json").read_text(encoding="utf-8"))["dashboard"]
# What the charts write and how they stroke, recorded as they draw: the labels on the bars and lines,
# and the dashes that tell the lines apart.
RECORD_CANVAS_TEXT = """(() => {
    const drawn = window.__canvas = { texts: [], dashes: [] };
    const fillText = CanvasRenderingContext2D.prototype.fillText;
    CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
        drawn.texts.push(String(text));
        return fillText.call(this, text, ...rest);
    };
    const setLineDash = CanvasRenderingContext2D.prototype.setLineDash;
    CanvasRenderingContext2D.prototype.setLineDash = function (dash) {
        if (dash && dash.length) drawn.dashes.push([...dash]);
        return setLineDash.call(this, dash);
    };
})();"""
VIEWPORT = (1280, 800)


@cache
def account(count: int) -> Account:
    return generate(count, NOW, IDS)


@pytest.fixture(scope="module")
def assets_url() -> Iterator[str]:
    with serve_repository() as url:
        yield url


OpenDashboard = Callable[..., AppPage]


@pytest.fixture(scope="module")
def tab(browser: Browser, assets_url: str) -> Iterator[AppTab]:
    """The page the module's tests take in turn: a test's first dashboard loads into it, a second one at once or
    one with a paused clock gets a page of its own."""
    shared = AppTab(browser, assets_url, now=NOW, run_clock=True)
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def open_dashboard(tab: AppTab) -> Iterator[OpenDashboard]:
    opened: list[AppPage] = []

    def open_(
        escalations: int | Account = 200,
        *,
        current_user: dict[str, Any] | None = None,
        ticket_fields: list[dict[str, Any]] | None = None,
        hold_after: dict[str, int] | None = None,
        failures: list[dict[str, Any]] | None = None,
        run_clock: bool = True,
        inside_zendesk: bool = True,
        wait: bool = True,
        viewport: tuple[int, int] = VIEWPORT,
        init_scripts: tuple[str, ...] = (),
        settings: dict[str, str] | None = None,
    ) -> AppPage:
        data = account(escalations) if isinstance(escalations, int) else escalations
        fixture = {
            "ticketFields": ticket_fields if ticket_fields is not None else TICKET_FIELDS,
            "searchTickets": data.tickets,
            "users": data.users,
            "currentUser": current_user or MANAGER,
            "holdAfter": hold_after or {},
            "failures": failures or [],
            "settings": settings or {},
        }
        page = tab.open(
            "assets/dashboard.html",
            fixture,
            viewport=viewport,
            run_clock=run_clock,
            inside_zendesk=inside_zendesk,
            init_scripts=(*init_scripts, RECORD_CANVAS_TEXT),
        )
        opened.append(page)
        if wait:
            expect(page.page.locator("#dashboard")).to_have_attribute("aria-busy", "false")
        return page

    yield open_
    try:
        for page in opened:
            page.assert_clean()
    finally:
        tab.release()


def loaded(page: AppPage, count: int, timeout: float = 30_000) -> None:
    text = "1 escalation." if count == 1 else f"{count:,} escalations."
    expect(page.page.locator("#progress")).to_have_text(text, timeout=timeout)


def ticket_ids(page: AppPage, table: str) -> list[int]:
    found: list[str] = page.page.eval_on_selector_all(f"#{table} tbody tr", "rows => rows.map(r => r.dataset.ticket)")
    return [int(ticket) for ticket in found]


def names_of(data: Account, user_id: str) -> str:
    return str(data.users[user_id]["name"])


def single_ticket(ticket_id: int, tags: list[str], **values: Any) -> dict[str, Any]:
    """One escalated ticket as the export returns it; `values` by field key."""
    return {
        "id": ticket_id,
        "subject": values.pop("subject", f"Ticket {ticket_id}"),
        "status": "open",
        "requester_id": 360000000001,
        "tags": tags,
        "updated_at": values.pop("updated_at", iso(NOW - timedelta(minutes=1))),
        "custom_fields": [{"id": IDS[key], "value": value} for key, value in values.items()],
    }


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- the lists -------------------------------------------------------------------------------


def time_left(minutes: int) -> str:
    """Minutes until the due time as the list says them in English: days and hours from two days on."""
    left = abs(minutes)
    if left >= 48 * 60:
        days, hours = divmod(left // 60, 24)
        duration = f"{days} d {hours} h" if hours else f"{days} d"
    elif left >= 60:
        duration = f"{left // 60} h {left % 60} min" if left % 60 else f"{left // 60} h"
    else:
        duration = f"{left} min" if left else "less than a minute"
    return f"overdue by {duration}" if minutes < 0 else duration


def test_escalations_waiting_for_a_manager_are_listed_overdue_first_then_by_time_left(
    open_dashboard: OpenDashboard,
) -> None:
    data = account(200)
    page = open_dashboard(200)
    loaded(page, 200)

    waiting = data.waiting(NOW)
    assert ticket_ids(page, "waiting-table") == [e.ticket_id for e in waiting]
    assert any(e.overdue(NOW) for e in waiting) and not all(e.overdue(NOW) for e in waiting)
    first = page.page.locator(f'#waiting-table tr[data-ticket="{waiting[0].ticket_id}"]')
    expect(first).to_have_class(re.compile("is-overdue"))
    expect(first.locator(".col-time_left")).to_have_text(time_left(minutes_left(waiting[0].due, NOW)))
    expect(first.locator(".col-customer")).to_have_text(names_of(data, waiting[0].requested_by))
    last = page.page.locator(f'#waiting-table tr[data-ticket="{waiting[-1].ticket_id}"]')
    expect(last).not_to_have_class(re.compile("is-overdue"))
    assert minutes_left(waiting[-1].due, NOW) > 0
    expect(last.locator(".col-time_left")).to_have_text(time_left(minutes_left(waiting[-1].due, NOW)))
    page.screenshot("dashboard", "dashboard-200.png")
    page.screenshot("dashboard", "dashboard-200-full.png", full_page=True)


def test_escalations_replied_to_and_not_resolved_are_listed_oldest_first_apart_from_the_resolved_ones(
    open_dashboard: OpenDashboard,
) -> None:
    data = account(200)
    page = open_dashboard(200)
    loaded(page, 200)

    assert ticket_ids(page, "open-table") == [e.ticket_id for e in data.replied()]
    assert ticket_ids(page, "resolved-table") == [e.ticket_id for e in data.resolved(NOW)]
    oldest = data.replied()[0]
    assert oldest.requested_at < NOW - timedelta(weeks=4), "an old open escalation is still someone's work, at the top"
    line = page.page.locator(f'#open-table tr[data-ticket="{oldest.ticket_id}"]')
    expect(line.locator(".col-acknowledged")).to_contain_text(names_of(data, oldest.acknowledged_by))
    outcome = "late" if oldest.acknowledged_at and oldest.acknowledged_at > oldest.due else "in time"
    expect(line.locator(".outcome")).to_contain_text(outcome)


def test_the_tiles_count_what_waits_and_how_the_last_12_weeks_went(open_dashboard: OpenDashboard) -> None:
    data = account(200)
    page = open_dashboard(200)
    loaded(page, 200)

    expect(page.page.locator("#tiles")).to_have_attribute("aria-label", STRINGS["tiles"]["label"])
    waiting = data.waiting(NOW)
    overdue = sum(e.overdue(NOW) for e in waiting)
    expect(page.page.locator('[data-tile="waiting"] .tile__value')).to_have_text(str(len(waiting)))
    expect(page.page.locator('[data-tile="waiting"] .tile__detail')).to_have_text(f"{overdue} past the due time")
    refused = sum(e.refused for e in data.escalations if e.requested_at >= weeks_ago(12))
    expect(page.page.locator('[data-tile="refused"] .tile__value')).to_have_text(str(refused))
    last_12_weeks = data.figures(weeks_ago(12), NOW)
    assert 0 < last_12_weeks.before_due < last_12_weeks.decided  # some late, so a wrong count shows
    expect(page.page.locator('[data-tile="before_due"] .tile__value')).to_have_text(
        percent(last_12_weeks.before_due_share)
    )
    expect(page.page.locator('[data-tile="before_due"] .tile__detail')).to_have_text(
        f"of {last_12_weeks.decided} replied to in the last 12 weeks"
    )


def weeks_ago(weeks: int) -> datetime:
    monday = datetime.combine((NOW - timedelta(days=NOW.weekday())).date(), datetime.min.time(), UTC)
    return monday - timedelta(weeks=weeks - 1)


def rounded(value: Decimal, digits: int) -> str:
    """`value` as the page's English number format writes it: half away from zero, no trailing zeros."""
    exact = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{exact:,f}".rstrip("0").rstrip(".") if digits else f"{exact:,f}"


# The browser's number format starts from a number's shortest decimal spelling (17.15, not the binary
# 17.1499…), hence `repr`.
def percent(share: float | None) -> str:
    return "–" if share is None else f"{rounded(Decimal(repr(share)) * 100, 0)}%"


def hours_cell(value: float | None) -> str:
    return "–" if value is None else f"{rounded(Decimal(repr(value)), 1)} h"


def test_a_long_list_shows_its_first_hundred_rows_until_asked_for_all(open_dashboard: OpenDashboard) -> None:
    data = account(5000)
    page = open_dashboard(5000)
    loaded(page, 5000)

    replied = [e.ticket_id for e in data.replied()]
    assert len(replied) > 100
    assert ticket_ids(page, "open-table") == replied[:100]
    toggle = page.page.locator("#open-list .show-all")
    expect(toggle).to_have_text(f"Show all {len(replied):,}")
    toggle.click()
    assert ticket_ids(page, "open-table") == replied
    expect(toggle).to_have_text("Show the first 100")
    expect(toggle).to_be_focused()


# ---- each row opens its ticket ---------------------------------------------------------------------


def test_each_row_opens_its_ticket_in_zendesk(open_dashboard: OpenDashboard) -> None:
    data = account(200)
    page = open_dashboard(200)
    loaded(page, 200)
    waiting, handled = data.waiting(NOW)[0].ticket_id, data.replied()[3].ticket_id

    page.page.locator(f'#waiting-table tr[data-ticket="{waiting}"] .ticket-link').click()
    page.page.locator(f'#open-table tr[data-ticket="{handled}"] .col-requested').click()
    link = page.page.locator(f'#open-table tr[data-ticket="{handled}"] .ticket-link')
    expect(link).to_have_accessible_name(f"Open ticket #{handled}")
    link.focus()
    page.page.keyboard.press("Enter")

    routes = [entry["args"] for entry in page.invocations("routeTo")]
    assert routes == [["ticket", waiting], ["ticket", handled], ["ticket", handled]]


# ---- charts --------------------------------------------------------------------------------------

SERIES = {"requested": 1, "acknowledge": 3, "before_due": 1, "refused": 1}
# Garden colours each chart draws its series in.
COLOURS = {
    "requested": ["#1f73b7"],
    "acknowledge": ["#1f73b7", "#c4571d", "#68737d"],
    "before_due": ["#038153"],
    "refused": ["#ad5918"],
}
CANVAS_COLOURS = """(key) => {
    const canvas = document.querySelector(`[data-chart="${key}"] canvas`);
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const seen = new Set();
    for (let i = 0; i < pixels.length; i += 4) {
        if (pixels[i + 3] !== 255) continue;
        seen.add('#' + [0, 1, 2].map((c) => pixels[i + c].toString(16).padStart(2, '0')).join(''));
    }
    return [...seen];
}"""


def test_the_charts_draw_every_series_in_garden_colours(open_dashboard: OpenDashboard) -> None:
    page = open_dashboard(200)
    loaded(page, 200)

    charts = page.page.locator("#chart-grid figure[data-chart]")
    expect(charts).to_have_count(4)
    for key, count in SERIES.items():
        figure = page.page.locator(f'figure[data-chart="{key}"]')
        expect(figure.locator("canvas")).to_have_count(1)
        expect(figure.locator(".u-legend .u-series")).to_have_count(count)
        drawn = page.page.evaluate(CANVAS_COLOURS, key)
        for colour in COLOURS[key]:
            assert colour in drawn, f"{key}: nothing drawn in {colour}"
    page.screenshot("dashboard", "charts-200.png", element="#charts")


CELLS = "rows => rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent))"


def test_the_chart_numbers_are_also_tables_for_screen_readers(open_dashboard: OpenDashboard) -> None:
    data = account(200)
    page = open_dashboard(200)
    loaded(page, 200)

    plots_hidden = page.page.eval_on_selector_all(
        ".chart-plot", "plots => plots.map(p => p.getAttribute('aria-hidden'))"
    )
    assert plots_hidden == ["true"] * 4
    table = page.page.locator('[data-chart-table="requested"]')
    expect(table.locator("caption")).to_have_text("Escalations per week")
    expect(table.locator("tbody tr")).to_have_count(12)
    counts = [int(cell) for cell in table.locator("tbody td").all_inner_texts()]
    assert counts == data.requested_per_week(NOW)
    acknowledge = page.page.locator('[data-chart-table="acknowledge"]')
    headers = acknowledge.locator("thead th").all_inner_texts()
    assert headers == ["Week of", "Median", "90th percentile", "Time allowed (24 working hours)"]
    weekly = data.weekly(NOW)
    expected_acknowledge = [
        [
            hours_cell(nearest_rank(week.acknowledge_hours, 0.5)),
            hours_cell(nearest_rank(week.acknowledge_hours, 0.9)),
            hours_cell(nearest_rank(week.allowed_hours, 0.5)),
        ]
        for week in weekly
    ]
    assert acknowledge.locator("tbody tr").evaluate_all(CELLS) == expected_acknowledge
    expected_before_due = [[percent(week.before_due_share), str(week.decided)] for week in weekly]
    assert page.page.locator('[data-chart-table="before_due"] tbody tr').evaluate_all(CELLS) == expected_before_due
    assert {cells[0] for cells in expected_before_due} - {"100%", "0%", "–"}, "some weeks neither all nor none"


# ---- 5,000 escalations: paged in the background ------------------------------------------------------


def test_5000_escalations_show_the_first_page_at_once_and_the_rest_as_it_arrives(
    open_dashboard: OpenDashboard,
) -> None:
    data = account(5000)
    # Every export page after the first is held until release(): what is on screen came from the first page.
    page = open_dashboard(5000, hold_after={EXPORT: 1})

    progress = page.page.locator("#progress")
    expect(progress).to_have_text("Loading more escalations… 100 so far.")
    first_page = Account(data.tickets[:100], data.users, data.escalations[:100])
    assert ticket_ids(page, "waiting-table") == [e.ticket_id for e in first_page.waiting(NOW)][:100]
    expect(page.page.locator("#chart-grid canvas")).to_have_count(4)
    page.screenshot("dashboard", "dashboard-5000-first-page.png")

    page.zaf("release()")
    loaded(page, 5000)

    pages = page.requests("GET", EXPORT)
    assert len(pages) == 50
    assert pages[0]["url"] == FIRST_PAGE
    assert all("page[after]=" in request["url"] or "page%5Bafter%5D=" in request["url"] for request in pages[1:])
    assert ticket_ids(page, "waiting-table") == [e.ticket_id for e in data.waiting(NOW)][:100]
    counts = [
        int(cell.replace(",", ""))
        for cell in page.page.locator('[data-chart-table="requested"] tbody td').all_inner_texts()
    ]
    assert counts == data.requested_per_week(NOW)
    expect(page.page.locator("#waiting-table .col-customer").first).not_to_have_text("…")
    name_requests = page.requests("GET", "/api/v2/users/show_many.json")
    assert name_requests, "the names are asked for"
    for request in name_requests:
        ids = request["url"].split("ids=", 1)[1].split(",")
        assert 1 <= len(ids) <= 100 and len(set(ids)) == len(ids)
    page.screenshot("dashboard", "dashboard-5000.png")


# ---- only Zendesk's API, as the signed-in manager --------------------------------------------------


def test_every_request_goes_to_zendesks_own_api_through_the_zaf_client(open_dashboard: OpenDashboard) -> None:
    page = open_dashboard(200)
    loaded(page, 200)
    expect(page.page.locator("#waiting-table .col-customer").first).not_to_have_text("…")

    requests = page.requests()
    assert requests, "the dashboard reads through client.request"
    paths = {request["url"].split("?", 1)[0] for request in requests}
    assert paths == {"/api/v2/ticket_fields.json", EXPORT, "/api/v2/users/show_many.json"}
    assert all(request["type"] == "GET" for request in requests), "the dashboard only reads"
    assert all(request["url"].startswith("/api/v2/") for request in requests)
    for request in page.requests("GET", EXPORT):
        assert "type:" not in request["url"].split("query=", 1)[1].split("&", 1)[0]
    # The page itself: only the app's own files (the double checks the rest is blocked and reported).
    assert page.blocked == []


def test_a_rate_limited_page_is_waited_out_as_zendesk_says(open_dashboard: OpenDashboard) -> None:
    limited = {
        "method": "GET",
        "path": EXPORT,
        "status": 429,
        "body": {"error": "TooManyRequests"},
        "headers": {"retry-after": "1"},
        "after": 1,
    }
    page = open_dashboard(200, failures=[limited])
    loaded(page, 200)

    urls = [request["url"] for request in page.requests("GET", EXPORT)]
    assert len(urls) == 3 and urls[1] == urls[2], "the second page is asked for again"


def test_a_page_that_fails_leaves_what_was_read_with_a_warning(open_dashboard: OpenDashboard) -> None:
    broken = {"method": "GET", "path": EXPORT, "status": 500, "body": {"error": "InternalError"}, "after": 1}
    page = open_dashboard(200, failures=[broken])

    expect(page.page.locator("#alert")).to_have_text(
        "Only 100 escalations could be loaded (InternalError); the figures below are incomplete. "
        "Open the dashboard again to retry."
    )
    expect(page.page.locator("#chart-grid canvas")).to_have_count(4)
    assert page.problems == []


# ---- shown again: Zendesk keeps a nav bar app loaded once opened ------------------------------------


def escalation_ticket(ticket_id: int, status: str, left: timedelta, **values: Any) -> dict[str, Any]:
    """An escalation requested 24 hours before its due time, which is `left` from NOW."""
    return single_ticket(
        ticket_id,
        ["escalated", f"escalation_status_{status}"],
        status=f"escalation_status_{status}",
        requested_at=iso(NOW + left - timedelta(hours=24)),
        requested_by="360000000001",
        response_due=iso(NOW + left),
        **values,
    )


def test_the_dashboard_reads_again_when_it_is_shown_again(open_dashboard: OpenDashboard) -> None:
    users = {"360000000001": {"id": 360000000001, "name": "Ana Souza"}}
    before = [
        escalation_ticket(601, "requested", timedelta(hours=20)),
        escalation_ticket(602, "requested", timedelta(hours=10)),
    ]
    page = open_dashboard(Account(before, users, []))
    loaded(page, 2)
    assert ticket_ids(page, "waiting-table") == [602, 601]

    # Meanwhile 601 was acknowledged, 602 is no longer found and 603 was escalated.
    acknowledged = escalation_ticket(
        601,
        "acknowledged",
        timedelta(hours=20),
        acknowledged_at=iso(NOW - timedelta(minutes=5)),
        acknowledged_by="370000000002",
    )
    page.zaf(
        "searchTickets.splice(0, Infinity, ...args[0])",
        [acknowledged, escalation_ticket(603, "requested", timedelta(hours=5))],
    )
    assert page.zaf("fire('app.activated')") == 1, "the dashboard listens to app.activated"

    expect(page.page.locator('#waiting-table tr[data-ticket="603"]')).to_have_count(1)
    loaded(page, 2)
    assert ticket_ids(page, "waiting-table") == [603]
    assert ticket_ids(page, "open-table") == [601]
    expect(page.page.locator('[data-tile="waiting"] .tile__value')).to_have_text("1")
    # The changes since, then the count: 602 is no longer found, so everything is read again.
    exports = [request["url"] for request in page.requests("GET", EXPORT)]
    assert len(exports) == 3 and "updated%3E" in exports[1] and exports[2] == FIRST_PAGE
    assert len(page.requests("GET", COUNT)) == 1


def test_a_failed_read_is_retried_when_the_dashboard_is_shown_again(open_dashboard: OpenDashboard) -> None:
    broken = {"method": "GET", "path": EXPORT, "status": 500, "body": {"error": "InternalError"}}
    page = open_dashboard(200, failures=[broken])
    alert = page.page.locator("#alert")
    expect(alert).to_have_text(
        "The escalations could not be loaded (InternalError). Open the dashboard again to retry."
    )

    page.zaf("fire('app.activated')")
    loaded(page, 200)
    expect(alert).to_have_text("")
    assert len(ticket_ids(page, "waiting-table")) == len(account(200).waiting(NOW))


def test_a_showing_during_a_read_leaves_the_reading_to_that_read(open_dashboard: OpenDashboard) -> None:
    page = open_dashboard(200, hold_after={EXPORT: 1})
    expect(page.page.locator("#progress")).to_have_text("Loading more escalations… 100 so far.")

    page.zaf("fire('app.activated')")
    page.zaf("release()")
    loaded(page, 200)
    assert len(page.requests("GET", EXPORT)) == 2, "one read of two pages"


# ---- live, and in plain words ----------------------------------------------------------------------


def test_the_time_left_counts_down_and_a_request_turns_red_when_due(open_dashboard: OpenDashboard) -> None:
    soon = single_ticket(
        501,
        ["escalated", "escalation_status_requested"],
        status="escalation_status_requested",
        requested_at=iso(NOW - timedelta(hours=23, minutes=59)),
        requested_by="360000000001",
        response_due=iso(NOW + timedelta(minutes=1)),
    )
    users = {"360000000001": {"id": 360000000001, "name": "Ana Souza"}}
    page = open_dashboard(Account([soon], users, []), run_clock=False)
    loaded(page, 1)
    line = page.page.locator('#waiting-table tr[data-ticket="501"]')
    expect(line.locator(".col-time_left")).to_have_text("1 min")

    page.page.clock.run_for(30_000)
    expect(line.locator(".col-time_left")).to_have_text("less than a minute")
    expect(line).not_to_have_class(re.compile("is-overdue"))
    page.page.clock.run_for(60_000)
    expect(line.locator(".col-time_left")).to_have_text("overdue by 1 min")
    expect(line).to_have_class(re.compile("is-overdue"))


def test_the_waiting_tile_counts_a_request_overdue_once_it_is_due(open_dashboard: OpenDashboard) -> None:
    soon = escalation_ticket(501, "requested", timedelta(minutes=1))
    page = open_dashboard(Account([soon], {}, []), run_clock=False)
    loaded(page, 1)
    detail = page.page.locator('[data-tile="waiting"] .tile__detail')
    expect(detail).to_have_text("none past the due time")
    expect(detail).not_to_have_class(re.compile("is-overdue"))

    page.page.clock.run_for(90_000)
    expect(page.page.locator('#waiting-table tr[data-ticket="501"]')).to_have_class(re.compile("is-overdue"))
    expect(detail).to_have_text("1 past the due time")
    expect(detail).to_have_class(re.compile("is-overdue"))


def test_ticket_text_is_shown_as_text_and_never_runs(open_dashboard: OpenDashboard) -> None:
    markup = '<img src=x onerror=alert(1)><script>alert("x")</script>'
    hostile = single_ticket(
        502,
        ["escalated", "escalation_status_requested"],
        subject=markup,
        status="escalation_status_requested",
        reason=f"<b>{markup}</b>",
        requested_at=iso(NOW - timedelta(hours=1)),
        response_due=iso(NOW + timedelta(hours=23)),
    )
    page = open_dashboard(Account([hostile], {}, []))
    loaded(page, 1)

    expect(page.page.locator("#waiting-table tbody .subject")).to_have_text(markup)
    expect(page.page.locator("#waiting-table tbody .col-ticket .reason")).to_have_text(f"<b>{markup}</b>")
    assert page.page.locator("#dashboard img, #dashboard b, #dashboard tbody script").count() == 0
    assert page.dialogs == []


def test_missing_escalation_fields_are_explained(open_dashboard: OpenDashboard) -> None:
    none = [field for field in TICKET_FIELDS if not field["title"].startswith("Escalation ")]
    some = [field for field in TICKET_FIELDS if field["title"] != "Escalation response due"]
    before_setup = open_dashboard(200, ticket_fields=none)
    missing_one = open_dashboard(200, ticket_fields=some)

    expect(before_setup.page.locator("#alert")).to_have_text(STRINGS["errors"]["not_set_up"])
    expect(missing_one.page.locator("#alert")).to_contain_text("missing in this account: Escalation response due.")
    assert before_setup.requests("GET", EXPORT) == [], "nothing is searched without the fields"


def test_outside_zendesk_the_page_says_where_it_belongs(open_dashboard: OpenDashboard) -> None:
    page = open_dashboard(200, inside_zendesk=False)

    expect(page.page.locator("#progress")).to_have_text(STRINGS["outside_zendesk"])


def test_a_german_manager_reads_the_dashboard_in_german(open_dashboard: OpenDashboard) -> None:
    german = json.loads((ROOT / "translations" / "de.json").read_text(encoding="utf-8"))["dashboard"]
    page = open_dashboard(200, current_user={**MANAGER, "locale": "de"})
    expect(page.page.locator("#progress")).to_have_text("200 Eskalationen.")

    expect(page.page.locator("h1")).to_have_text(german["title"])
    expect(page.page.locator("#waiting-title")).to_have_text(german["waiting"]["title"])
    assert page.page.evaluate("() => document.documentElement.lang") == "de"
    page.screenshot("dashboard", "dashboard-de.png")


# ---- the strings ---------------------------------------------------------------------------------------

LOCALES = ("en", "de", "fr", "es", "pt-BR", "ja")


def leaves(node: Any, path: str = "") -> dict[str, str]:
    if isinstance(node, dict):
        return {k: v for key, child in node.items() for k, v in leaves(child, f"{path}.{key}" if path else key).items()}
    return {path: node}


@pytest.mark.parametrize("locale", [locale for locale in LOCALES if locale != "en"])
def test_the_dashboard_has_every_string_in_every_locale_with_the_same_placeholders(locale: str) -> None:
    translated = json.loads((ROOT / "translations" / f"{locale}.json").read_text(encoding="utf-8"))["dashboard"]
    english, other = leaves(STRINGS), leaves(translated)
    assert set(other) == set(english), set(english) ^ set(other)
    for key, text in other.items():
        assert isinstance(text, str) and text.strip(), f"{locale}: {key} is empty"
        if key != "loaded.one":  # English says "1"; other languages may use {{count}}
            assert set(re.findall(r"\{\{(\w+)\}\}", text)) == set(re.findall(r"\{\{(\w+)\}\}", english[key])), key


def test_the_dashboard_copies_of_the_translations_are_current() -> None:
    for locale in LOCALES:
        strings = json.loads((ROOT / "translations" / f"{locale}.json").read_text(encoding="utf-8"))["dashboard"]
        copy = json.loads((ROOT / "assets" / "i18n" / "dashboard" / f"{locale}.json").read_text(encoding="utf-8"))
        assert copy == strings, f"run: python scripts/build_app_assets.py ({locale})"


def test_the_page_holds_only_the_i18n_attribute_the_translator_fills() -> None:
    page = (ROOT / "assets" / "dashboard.html").read_text()
    assert set(re.findall(r"\b(data-i18n[\w-]*)=", page)) == {"data-i18n"}, "other labels are set in dashboard.js"


def test_the_dashboard_never_writes_markup_from_data() -> None:
    for script in ("dashboard.js", "dashboard-model.js"):
        source = (ROOT / "assets" / script).read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{script} uses {sink}"


# ---- readable at 768 and 1280 px, in English and German -----------------------------------------

SCREENS = pytest.mark.parametrize(
    ("width", "locale", "strings"),
    [(768, "en-US", STRINGS), (1280, "de", GERMAN)],
    ids=["768px-en", "1280px-de"],
)


def box(locator: Any) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, "not rendered"
    return dict(found)


@SCREENS
def test_the_waiting_table_keeps_every_column_in_view_with_the_reason_under_the_subject(
    open_dashboard: OpenDashboard, width: int, locale: str, strings: dict[str, Any]
) -> None:
    data = account(200)
    page = open_dashboard(200, viewport=(width, 900), current_user={**MANAGER, "locale": locale})
    expect(page.page.locator("#waiting-table tbody tr")).to_have_count(len(data.waiting(NOW)))

    table = page.page.locator("#waiting-table")
    fits = "t => t.scrollWidth <= t.parentElement.clientWidth"
    assert table.evaluate(fits), "the waiting table scrolls sideways"
    headers = table.locator("thead th").all_inner_texts()
    assert headers[:2] == [strings["columns"]["ticket"], strings["columns"]["time_left"]]
    for line in table.locator("tbody tr").all():
        subject, reason = box(line.locator(".subject")), box(line.locator(".col-ticket .reason"))
        time_left, requested = box(line.locator(".col-time_left")), box(line.locator(".col-requested"))
        assert reason["y"] >= subject["y"] + subject["height"] - 1, "the reason is under the subject"
        assert reason["x"] + reason["width"] <= time_left["x"], "the reason stays in its column"
        assert time_left["x"] + time_left["width"] <= width, "time left is in view"
        assert requested["x"] >= time_left["x"] + time_left["width"]
    page.screenshot("dashboard", f"waiting-{width}-{locale}.png")


@SCREENS
def test_the_charts_label_their_values_mark_the_week_so_far_and_show_each_week_on_hover(
    open_dashboard: OpenDashboard, width: int, locale: str, strings: dict[str, Any]
) -> None:
    data = account(200)
    page = open_dashboard(200, viewport=(width, 900), current_user={**MANAGER, "locale": locale})
    expect(page.page.locator("#chart-grid canvas")).to_have_count(4)
    charts = strings["charts"]

    texts: list[str] = page.page.evaluate("() => window.__canvas.texts")
    for weekly in data.requested_per_week(NOW):
        assert str(weekly) in texts, f"no label {weekly} on the bars"
    for name in (charts["acknowledge"]["p50"], charts["acknowledge"]["p90"], charts["acknowledge"]["allowed_short"]):
        assert name in texts, f"the line {name!r} is not named on the chart"
    assert charts["this_week"] in texts
    dashes = page.page.evaluate("() => window.__canvas.dashes")
    assert [8, 4] in dashes and [2, 3] in dashes, "the lines are told apart by their dashes, not colour alone"

    rows = page.page.locator('[data-chart-table="requested"] tbody th').all_inner_texts()
    assert rows[-1].endswith(charts["so_far"].replace("{{day}}", "").strip()), rows[-1]
    plot = page.page.locator('[data-chart="requested"] .u-over')
    plot.scroll_into_view_if_needed()
    plot_box = box(plot)
    page.page.mouse.move(plot_box["x"] + plot_box["width"] - 4, plot_box["y"] + plot_box["height"] / 2)
    tooltip = page.page.locator('[data-chart="requested"] .chart-tooltip')
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text(rows[-1])
    expect(tooltip).to_contain_text(f"{charts['requested']['series']}: {data.requested_per_week(NOW)[-1]}")
    expect(page.page.locator("#charts")).to_contain_text(charts["working_hours"])
    page.screenshot("dashboard", f"charts-{width}-{locale}.png", element="#charts")


@SCREENS
def test_with_no_escalations_the_page_says_how_they_arrive_instead_of_empty_charts(
    open_dashboard: OpenDashboard, width: int, locale: str, strings: dict[str, Any]
) -> None:
    settings = {"escalation_phrases": "en=escalation request,de=Eskalationsanfrage|escalation request"}
    page = open_dashboard(
        Account([], {}, []), viewport=(width, 900), current_user={**MANAGER, "locale": locale}, settings=settings
    )

    empty = page.page.locator("#empty-state")
    expect(empty).to_be_visible()
    expect(empty.locator("h2")).to_have_text(strings["empty"]["title"])
    expect(empty).to_contain_text("escalation request")
    if locale == "de":
        expect(empty).to_contain_text("Eskalationsanfrage")
    for section in ("#tiles", "#charts", "#waiting", "#open", "#resolved"):
        expect(page.page.locator(section)).to_be_hidden()
    expect(page.page.locator("canvas")).to_have_count(0)
    page.screenshot("dashboard", f"empty-{width}-{locale}.png")


def test_the_tiles_say_in_plain_words_what_escalations_report_says(open_dashboard: OpenDashboard) -> None:
    data = account(200)
    page = open_dashboard(200)
    loaded(page, 200)

    since = weeks_ago(12)
    rows = [
        EscalationRow(
            ticket=e.ticket_id,
            requester=e.requested_by,
            requested_at=iso(e.requested_at),
            due=iso(e.due),
            acknowledged_at=iso(e.acknowledged_at) if e.acknowledged_at else "",
            acknowledged_by=e.acknowledged_by,
            overdue=e.overdue_tag,
            resolved_at=iso(e.resolved_at) if e.resolved_at else "",
            refused_repeats=e.refused,
            status=e.status,
        )
        for e in data.escalations
        if e.requested_at >= since
    ]
    summary = summarise(rows)
    assert summary.acknowledged_before_due_share is not None and summary.acknowledge_p50_hours is not None
    tile = page.page.locator('[data-tile="before_due"]')
    expect(tile.locator(".tile__value")).to_have_text(f"{summary.acknowledged_before_due_share:.0%}")
    expect(tile.locator(".tile__label")).to_have_text("Replied to before the due time")
    expect(page.page.locator('[data-tile="refused"] .tile__value')).to_have_text(str(summary.refused_repeats))
    expect(page.page.locator('[data-tile="time_to_acknowledge"] .tile__value')).to_have_text(
        duration(round(summary.acknowledge_p50_hours * 60))
    )
    for jargon in ("decided", "Refused repeats"):
        expect(page.page.locator("#tiles")).not_to_contain_text(jargon)


def duration(minutes: int) -> str:
    """As the page writes a duration in English: days from 48 h up, else hours and minutes."""
    if minutes >= 48 * 60:
        days, hours = divmod(minutes // 60, 24)
        return f"{days} d {hours} h" if hours else f"{days} d"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if hours and rest else f"{hours} h" if hours else f"{rest} min"


# ---- what was read is kept: reopening reads only what changed ----------------------------------------


def changed_account(data: Account) -> tuple[Account, list[dict[str, Any]]]:
    """`data` after a manager replied to the oldest waiting escalation and a customer escalated a new ticket."""
    replied_to = copy.deepcopy(next(t for t in data.tickets if t["id"] == data.waiting(NOW)[0].ticket_id))
    values = {
        IDS["status"]: "escalation_status_acknowledged",
        IDS["acknowledged_at"]: iso(NOW),
        IDS["acknowledged_by"]: "370000000001",
    }
    replied_to["custom_fields"] = [
        {"id": field["id"], "value": values.get(field["id"], field["value"])} for field in replied_to["custom_fields"]
    ]
    replied_to["tags"] = [tag for tag in replied_to["tags"] if tag != "escalation_status_requested"]
    replied_to["tags"].append("escalation_status_acknowledged")
    replied_to["updated_at"] = iso(NOW + timedelta(minutes=1))
    new = escalation_ticket(99_001, "requested", timedelta(hours=23), updated_at=iso(NOW + timedelta(minutes=1)))
    tickets = [replied_to if t["id"] == replied_to["id"] else t for t in data.tickets] + [new]
    return Account(tickets, data.users, data.escalations), [replied_to, new]


def test_reopening_with_5000_escalations_reads_only_what_changed_and_shows_what_a_full_read_shows(
    open_dashboard: OpenDashboard,
) -> None:
    data = account(5000)
    page = open_dashboard(5000)
    loaded(page, 5000)
    expect(page.page.locator("#waiting-table .col-customer").first).not_to_have_text("…")
    assert len(page.requests("GET", EXPORT)) == 50

    after, changed = changed_account(data)
    edit = f"""(() => {{
        const changed = {json.dumps(changed)};
        const tickets = window.__zafFixture.searchTickets;
        for (const ticket of changed) {{
            const at = tickets.findIndex((t) => t.id === ticket.id);
            if (at === -1) tickets.push(ticket); else tickets[at] = ticket;
        }}
    }})();"""
    page.add_init_script(edit)
    page.page.reload()
    loaded(page, 5001)
    expect(page.page.locator("#waiting-table .col-customer").first).not_to_have_text("…")

    calls = page.requests()
    exports = page.requests("GET", EXPORT)
    assert len(exports) == 1 and "updated%3E" in exports[0]["url"], "only what changed since is read"
    assert len(page.requests("GET", COUNT)) == 1
    assert len(calls) <= 4, [call["url"] for call in calls]

    fresh = open_dashboard(after)
    loaded(fresh, 5001)
    for kind in ("waiting", "open", "resolved"):
        assert ticket_ids(page, f"{kind}-table") == ticket_ids(fresh, f"{kind}-table"), kind
    for chart in ("requested", "acknowledge", "before_due", "refused"):
        selector = f'[data-chart-table="{chart}"] tbody'
        assert page.page.locator(selector).inner_text() == fresh.page.locator(selector).inner_text(), chart
    assert page.page.locator("#tiles").inner_text() == fresh.page.locator("#tiles").inner_text()


def test_a_kept_read_older_than_a_day_is_read_again_in_full(open_dashboard: OpenDashboard) -> None:
    page = open_dashboard(200)
    loaded(page, 200)
    key = page.page.evaluate(
        "() => Object.keys(localStorage).find((k) => k.startsWith('escalation-requests:dashboard'))"
    )
    assert key and key.endswith(f":example:{MANAGER['id']}"), "kept per account and per agent"
    page.page.evaluate(
        "(key) => { const kept = JSON.parse(localStorage.getItem(key)); kept.fullReadAt -= 25 * 3600000;"
        " localStorage.setItem(key, JSON.stringify(kept)); }",
        key,
    )
    page.page.reload()
    loaded(page, 200)
    exports = [request["url"] for request in page.requests("GET", EXPORT)]
    assert exports[0] == FIRST_PAGE and len(exports) == 2
