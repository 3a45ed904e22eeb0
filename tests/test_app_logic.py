"""The app's pure logic, data in and data out: assets/escalation.js, assets/dashboard-model.js and the
formats of assets/ui.js.

The modules are imported in a blank page of Chromium (the engine the app runs
in inside Zendesk) and called with plain JSON; no DOM, no ZAF client, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from escalations.admin.report import EscalationRow, summarise
from escalations.core.text import contact_details, without_contact_line
from tests.app_pages import serve_repository

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # a Friday
IDS = {
    "status": 1,
    "reason": 2,
    "requested_at": 3,
    "requested_by": 4,
    "response_due": 5,
    "refused_repeats": 6,
    "acknowledged_at": 7,
    "acknowledged_by": 8,
    "resolved_at": 9,
}

Call = Callable[..., Any]


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def page(browser: Browser) -> Iterator[Page]:
    with serve_repository() as url:
        context = browser.new_context()
        blank = context.new_page()
        blank.route(f"{url}/blank", lambda route: route.fulfill(body="<!doctype html><title>logic</title>"))
        blank.goto(f"{url}/blank")
        try:
            yield blank
        finally:
            context.close()


def caller(page: Page, module: str) -> Call:
    def call(function: str, *args: Any) -> Any:
        script = "async ([module, name, args]) => (await import(module))[name](...args)"
        return page.evaluate(script, [f"/assets/{module}", function, list(args)])

    return call


@pytest.fixture
def escalation(page: Page) -> Call:
    return caller(page, "escalation.js")


@pytest.fixture
def model(page: Page) -> Call:
    return caller(page, "dashboard-model.js")


def row(ticket_id: int, status: str = "requested", **values: Any) -> dict[str, Any]:
    """A dashboard row as rowFromTicket makes it; keyword arguments override."""
    requested = values.pop("requested", NOW - timedelta(hours=2))
    base: dict[str, Any] = {
        "ticketId": ticket_id,
        "subject": f"Ticket {ticket_id}",
        "status": status,
        "reason": "",
        "requestedAt": iso(requested),
        "requestedBy": "555",
        "responseDue": iso(requested + timedelta(hours=24)),
        "refusedRepeats": 0,
        "acknowledgedAt": "",
        "acknowledgedBy": "",
        "resolvedAt": "",
        "tags": ["escalated", f"escalation_status_{status}"],
    }
    base.update(values)
    return base


def ticket(ticket_id: int, tags: list[str], **values: Any) -> dict[str, Any]:
    return {
        "id": ticket_id,
        "result_type": "ticket",
        "subject": "Checkout down",
        "requester_id": 4242,
        "tags": tags,
        "custom_fields": [{"id": IDS[key], "value": value} for key, value in values.items()],
    }


# ---- the sidebar's rules -------------------------------------------------------------------


def test_user_ids_are_read_from_text_or_numbers(escalation: Call) -> None:
    assert escalation("userId", "23456789012345") == "23456789012345"
    assert escalation("userId", 23456789012345) == "23456789012345"
    assert escalation("userId", " 555 ") == "555"
    for nothing in ("", None, "0", "abc", "12a", -5):
        assert escalation("userId", nothing) == ""


def test_a_request_is_overdue_by_its_tag_or_by_the_clock_but_never_once_acknowledged(escalation: Call) -> None:
    waiting = row(1, responseDue=iso(NOW + timedelta(hours=1)))
    assert escalation("isOverdue", waiting, ms(NOW)) is False
    assert escalation("isOverdue", waiting, ms(NOW + timedelta(hours=1, seconds=1))) is True
    assert escalation("isOverdue", {**waiting, "tags": ["escalation_overdue"]}, ms(NOW)) is True
    acknowledged = row(2, "acknowledged", responseDue=iso(NOW - timedelta(hours=3)), tags=["escalation_overdue"])
    assert escalation("isOverdue", acknowledged, ms(NOW)) is False


CONTACT_CASES = (
    "Production is down.\n\nNew contact details: +44 20 7946 0958",
    "Call me on +1 (555) 010-0199 or write to ops.team@example.co.uk please",
    "Neue Kontaktdaten: anna@example.de\nSeit Montag geht nichts.",
    "Order 12345 failed twice; ref 2026-11-27",
    "新しい連絡先: +81 3-1234-5678",
)


@pytest.mark.parametrize("text", CONTACT_CASES)
def test_the_sidebar_finds_the_contact_details_and_the_contact_line_as_the_service_does(
    escalation: Call, text: str
) -> None:
    assert escalation("contactDetailsIn", text) == list(contact_details(text))
    assert escalation("reasonWithoutContactLine", text) == without_contact_line(text)


def test_the_contact_row_lists_the_comments_details_then_the_profiles_others(escalation: Call) -> None:
    reason = "Down.\n\nNew contact details: +44 20 7946 0958, JANE@example.com"
    profile = {"email": "jane@example.com", "phone": "+44 (20) 7946-0958"}
    assert escalation("contactDetails", reason, profile) == [
        {"value": "JANE@example.com", "source": "comment"},
        {"value": "+44 20 7946 0958", "source": "comment"},
    ]
    assert escalation("contactDetails", "Down.", {"email": "jane@example.com", "phone": ""}) == [
        {"value": "jane@example.com", "source": "profile"}
    ]


def test_a_manager_acknowledges_a_waiting_escalation_by_replying_and_resolves_an_open_one(escalation: Call) -> None:
    waiting, replied, done = row(1), row(2, "acknowledged"), row(3, "resolved")
    assert [escalation("canReply", e) for e in (waiting, replied, done)] == [True, False, False]
    assert [escalation("canResolve", e) for e in (waiting, replied, done)] == [True, True, False]
    assert [escalation("isOpen", e) for e in (waiting, replied, done)] == [True, True, False]
    update = escalation(
        "resolutionUpdate", {"ids": IDS, "nowMs": ms(NOW), "noteBody": "Fixed.", "updatedStamp": "2026-11-27T14:00:00Z"}
    )
    assert update == {
        "ticket": {
            "custom_fields": [{"id": 1, "value": "escalation_status_resolved"}, {"id": 9, "value": iso(NOW)}],
            "comment": {"body": "Fixed.", "public": False},
            "safe_update": True,
            "updated_stamp": "2026-11-27T14:00:00Z",
        }
    }


def test_admins_and_members_of_the_managers_group_are_managers(escalation: Call) -> None:
    support = {"id": 1, "name": "Support"}
    managers = {"id": 2, "name": "Support Managers"}
    assert escalation("isManager", {"role": "admin", "groups": []}, "Support Managers") is True
    assert escalation("isManager", {"role": "agent", "groups": [support, managers]}, "Support Managers") is True
    assert escalation("isManager", {"role": "agent", "groups": [support, managers]}, " support managers ") is True
    assert escalation("isManager", {"role": "agent", "groups": [support]}, "Support Managers") is False
    assert escalation("isManager", {"role": 360001, "groups": [support]}, "Support Managers") is False
    assert escalation("isManager", {"role": "agent", "groups": [managers]}, "") is True, "the default group"
    assert escalation("isManager", None, "Support Managers") is False


PHRASES = "en=escalation request,de=Eskalationsanfrage|escalation request,pt_br=pedido de escalonamento"


@pytest.mark.parametrize(
    ("reader", "told"),
    [
        ("de", ["Eskalationsanfrage", "escalation request"]),
        ("de-AT", ["Eskalationsanfrage", "escalation request"]),
        ("pt-BR", ["pedido de escalonamento"]),
        ("pt-PT", ["pedido de escalonamento"]),
        ("fr", ["escalation request"]),
        ("", ["escalation request"]),
        (None, ["escalation request"]),
    ],
)
def test_a_reader_is_told_the_phrases_of_their_locale_else_their_language_else_english(
    escalation: Call, page: Page, reader: str | None, told: list[str]
) -> None:
    script = """async ([setting, reader]) => {
        const m = await import('/assets/escalation.js');
        return m.phrasesFor(reader, m.parsePhrases(setting));
    }"""
    assert page.evaluate(script, [PHRASES, reader]) == told


@pytest.mark.parametrize(
    ("setting", "english"),
    [
        ("", ["escalation request"]),
        ("de=Eskalationsanfrage", ["escalation request"]),
        ("en=please escalate", ["please escalate"]),
        ("please escalate", ["please escalate"]),
        ("en=escalation request|Escalation  Request,=nothing,xx1=bad", ["escalation request"]),
    ],
)
def test_the_phrase_setting_reads_like_the_services_and_english_keeps_the_default(
    page: Page, setting: str, english: list[str]
) -> None:
    script = """async (setting) => {
        const m = await import('/assets/escalation.js');
        return m.phrasesFor('en', m.parsePhrases(setting));
    }"""
    assert page.evaluate(script, setting) == english


def test_field_ids_name_what_is_missing_and_whether_nothing_was_set_up(escalation: Call) -> None:
    titles = [
        "Escalation status",
        "Escalation reason",
        "Escalation requested at",
        "Escalation requested by",
        "Escalation response due",
        "Escalation refused repeats",
        "Escalation acknowledged at",
        "Escalation acknowledged by",
        "Escalation resolved at",
    ]
    fields = [{"id": index, "title": title} for index, title in enumerate(titles, start=1)]
    earlier = {"id": 99, "title": "Escalation requested by (earlier number field)"}

    complete = escalation("fieldIdsFromTicketFields", [*fields, earlier])
    assert complete["missing"] == [] and complete["none"] is False
    assert complete["ids"]["requested_by_number"] == 99
    partial = escalation("fieldIdsFromTicketFields", fields[2:])
    assert partial["missing"] == titles[:2] and partial["none"] is False
    nothing = escalation("fieldIdsFromTicketFields", [{"id": 5, "title": "Priority"}])
    assert nothing["missing"] == titles and nothing["none"] is True


# ---- the dashboard's rows ----------------------------------------------------------------------


def test_a_ticket_of_the_export_becomes_a_row_with_its_subject_and_who_escalated(model: Call) -> None:
    found = model(
        "rowFromTicket",
        ticket(
            7,
            ["escalated", "escalation_status_requested"],
            status="escalation_status_requested",
            requested_by="23456789012345",
            requested_at=iso(NOW),
        ),
        IDS,
    )
    assert found["ticketId"] == 7 and found["subject"] == "Checkout down"
    assert found["status"] == "requested" and found["requestedBy"] == "23456789012345"


def test_a_row_without_a_recorded_customer_names_the_tickets_requester(model: Call) -> None:
    found = model("rowFromTicket", ticket(7, ["escalated"], status="escalation_status_requested"), IDS)
    assert found["requestedBy"] == "4242"


def test_tickets_without_an_escalation_and_other_results_are_no_rows(model: Call) -> None:
    assert model("rowFromTicket", ticket(7, ["vip"]), IDS) is None
    assert model("rowFromTicket", {**ticket(7, ["escalated"]), "result_type": "user"}, IDS) is None


def test_waiting_escalations_put_overdue_first_then_the_least_time_left(model: Call) -> None:
    rows = [
        row(1, responseDue=iso(NOW + timedelta(hours=5))),
        row(2, responseDue=iso(NOW - timedelta(hours=1))),
        row(3, responseDue=iso(NOW + timedelta(minutes=30))),
        row(4, responseDue=iso(NOW - timedelta(hours=6))),
        row(5, responseDue=""),
        row(6, responseDue=iso(NOW + timedelta(hours=9)), tags=["escalated", "escalation_overdue"]),
        row(7, "acknowledged", responseDue=iso(NOW - timedelta(hours=9))),
        row(8, "resolved"),
    ]
    order = [found["ticketId"] for found in model("waitingEscalations", rows, ms(NOW))]
    assert order == [4, 2, 6, 3, 1, 5]


def test_equal_time_left_keeps_ticket_order(model: Call) -> None:
    due = iso(NOW + timedelta(hours=1))
    rows = [row(30, responseDue=due), row(10, responseDue=due), row(20, responseDue=due)]
    assert [found["ticketId"] for found in model("waitingEscalations", rows, ms(NOW))] == [10, 20, 30]


def test_open_escalations_are_the_replied_to_ones_not_resolved_oldest_request_first(model: Call) -> None:
    rows = [
        row(1, "acknowledged", requested=NOW - timedelta(days=3), acknowledgedAt=iso(NOW - timedelta(days=2))),
        row(2, "resolved", acknowledgedAt=iso(NOW - timedelta(days=40)), resolvedAt=iso(NOW - timedelta(days=29))),
        row(3, "acknowledged", requested=NOW - timedelta(days=90), acknowledgedAt=iso(NOW - timedelta(days=89))),
        row(4, "requested"),
    ]
    assert [found["ticketId"] for found in model("openEscalations", rows)] == [3, 1]


def test_resolved_escalations_are_those_of_the_last_30_days_latest_first(model: Call) -> None:
    rows = [
        row(2, "resolved", resolvedAt=iso(NOW - timedelta(days=29))),
        row(3, "resolved", resolvedAt=iso(NOW - timedelta(days=31))),
        row(5, "resolved", resolvedAt=iso(NOW - timedelta(days=1))),
        row(6, "acknowledged"),
    ]
    assert [found["ticketId"] for found in model("resolvedEscalations", rows, ms(NOW))] == [5, 2]


def test_only_the_week_still_running_is_partial(model: Call) -> None:
    figures = model("weeklyFigures", [row(1)], ms(NOW), 12)
    assert figures["partial"] == [False] * 11 + [True]


def test_a_kept_read_is_used_for_a_day_with_the_same_fields_and_then_read_again(model: Call) -> None:
    kept = model(
        "keptState",
        {
            "rows": [row(1, reason="x" * 500)],
            "ticketIds": [1, 2],
            "names": [["555", "Ana"], ["556", None]],
            "readUntil": iso(NOW),
            "fullReadAt": ms(NOW),
            "fieldIds": IDS,
        },
    )
    assert kept["ticketIds"] == [1, 2] and kept["names"] == [["555", "Ana"]]
    assert len(kept["rows"][0]["reason"]) == 200, "a reason is kept as far as the list shows it"
    assert model("usableKeptState", kept, IDS, ms(NOW + timedelta(hours=23))) == kept
    assert model("usableKeptState", kept, IDS, ms(NOW + timedelta(hours=25))) is None
    assert model("usableKeptState", kept, {**IDS, "status": 99}, ms(NOW)) is None
    assert model("usableKeptState", None, IDS, ms(NOW)) is None


def test_changes_are_read_from_a_while_before_the_newest_change_read(model: Call) -> None:
    newest = model("newestUpdate", [{"updated_at": iso(NOW)}, {"updated_at": iso(NOW - timedelta(days=1))}], "")
    assert newest == iso(NOW)
    query = model("changedTicketsQuery", newest)
    since = iso(NOW - timedelta(minutes=10))
    assert query == (
        f"/api/v2/search/export.json?query=tags:escalated%20updated%3E{since}&filter[type]=ticket&page[size]=100"
    )


def test_the_waiting_count_says_how_many_are_overdue(model: Call) -> None:
    rows = [
        row(1, responseDue=iso(NOW - timedelta(hours=1))),
        row(2),
        row(3, "acknowledged", responseDue=iso(NOW - timedelta(hours=1))),
    ]
    assert model("waitingCounts", rows, ms(NOW)) == {"waiting": 2, "overdue": 1}


def test_the_people_to_name_are_listed_once(model: Call) -> None:
    rows = [row(1, requestedBy="5", acknowledgedBy="9"), row(2, requestedBy="5"), row(3, requestedBy="")]
    assert model("peopleIn", rows) == ["5", "9"]


# ---- weeks and figures -------------------------------------------------------------------------


def test_weeks_start_on_monday_at_midnight_utc(model: Call) -> None:
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    assert model("weekStart", ms(monday)) == ms(monday)
    assert model("weekStart", ms(monday + timedelta(days=6, hours=23, minutes=59))) == ms(monday)
    assert model("weekStart", ms(monday - timedelta(seconds=1))) == ms(monday - timedelta(days=7))


def test_the_charts_cover_twelve_weeks_ending_with_the_current_one(model: Call) -> None:
    weeks = model("weekStarts", ms(NOW), 12)
    assert len(weeks) == 12
    assert weeks[-1] == ms(datetime(2026, 11, 23, tzinfo=UTC))
    assert weeks[0] == ms(datetime(2026, 9, 7, tzinfo=UTC))
    assert all(later - earlier == 7 * 86_400_000 for earlier, later in pairwise(weeks))


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        ([], 0.5, None),
        ([4.0], 0.9, 4.0),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5, 5),
        ([10, 9, 8, 7, 6, 5, 4, 3, 2, 1], 0.9, 9),
        ([3, 1, 2], 0.5, 2),
    ],
)
def test_percentiles_are_nearest_rank_as_in_the_report(
    model: Call, values: list[float], share: float, expected: float | None
) -> None:
    assert model("percentile", values, share) == expected


def test_the_target_is_met_by_acknowledging_before_due_and_missed_after(model: Call) -> None:
    due = NOW - timedelta(hours=1)
    assert model("targetOutcome", row(1, responseDue=iso(due), acknowledgedAt=iso(due))) == "before"
    late = iso(due + timedelta(minutes=1))
    assert model("targetOutcome", row(1, responseDue=iso(due), acknowledgedAt=late)) == "late"
    assert model("targetOutcome", row(1, responseDue="", acknowledgedAt=iso(due))) == "late", "as the report counts it"


def test_an_escalation_never_acknowledged_has_no_target_outcome(model: Call) -> None:
    due = NOW - timedelta(hours=1)
    assert model("targetOutcome", row(1, responseDue=iso(due))) is None, "waiting, past due"
    assert model("targetOutcome", row(1, responseDue=iso(NOW + timedelta(hours=1)))) is None, "waiting, not yet due"
    resolved = row(1, "resolved", responseDue=iso(due), resolvedAt=iso(NOW))  # resolved straight from "requested"
    assert model("targetOutcome", resolved) is None


def test_the_share_acknowledged_before_due_agrees_with_escalations_report(model: Call) -> None:
    requested = datetime(2026, 11, 23, 9, tzinfo=UTC)  # Monday of the current week; due Tuesday 09:00
    due = requested + timedelta(hours=24)
    recorded = [
        # (status, acknowledged, resolved)
        ("acknowledged", requested + timedelta(hours=2), None),
        ("resolved", requested + timedelta(hours=30), NOW - timedelta(hours=5)),
        ("resolved", None, NOW - timedelta(hours=3)),  # resolved without an acknowledgement
        ("requested", None, None),  # waiting, past due
    ]
    dashboard_rows = [
        row(
            index,
            status,
            requested=requested,
            acknowledgedAt=iso(acknowledged) if acknowledged else "",
            resolvedAt=iso(resolved) if resolved else "",
        )
        for index, (status, acknowledged, resolved) in enumerate(recorded, start=1)
    ]
    report_rows = [
        EscalationRow(
            ticket=index,
            requester="555",
            requested_at=iso(requested),
            due=iso(due),
            acknowledged_at=iso(acknowledged) if acknowledged else "",
            acknowledged_by="",
            overdue=False,
            resolved_at=iso(resolved) if resolved else "",
            refused_repeats=0,
            status=status,
        )
        for index, (status, acknowledged, resolved) in enumerate(recorded, start=1)
    ]

    total = model("weeklyFigures", dashboard_rows, ms(NOW), 12)["total"]
    assert total["beforeDueShare"] == summarise(report_rows).acknowledged_before_due_share == 0.5
    assert total["decided"] == 2


def test_weekly_figures_count_each_escalation_in_the_week_it_was_requested(model: Call) -> None:
    this_week = datetime(2026, 11, 24, 9, tzinfo=UTC)  # Tuesday
    last_week = datetime(2026, 11, 17, 9, tzinfo=UTC)
    rows = [
        # this week: acknowledged after 2 h and after 30 h (due after 24 h), one still open and not yet due
        row(1, "acknowledged", requested=this_week, acknowledgedAt=iso(this_week + timedelta(hours=2))),
        row(2, "resolved", requested=this_week, acknowledgedAt=iso(this_week + timedelta(hours=30)), refusedRepeats=2),
        row(3, requested=NOW - timedelta(hours=1)),
        # last week: never acknowledged, now past due (left out of the share, as in the report)
        row(4, requested=last_week, refusedRepeats=1),
        # too old for the charts
        row(5, "resolved", requested=NOW - timedelta(weeks=20), acknowledgedAt=iso(NOW - timedelta(weeks=20))),
    ]
    figures = model("weeklyFigures", rows, ms(NOW), 12)

    assert figures["requested"] == [0] * 10 + [1, 3]
    assert figures["acknowledgeP50"][-1] == 2 and figures["acknowledgeP90"][-1] == 30
    assert figures["acknowledgeP50"][-2] is None
    assert figures["allowed"][-1] == 24
    assert figures["decided"][-1] == 2 and figures["beforeDueShare"][-1] == 0.5
    assert figures["decided"][-2] == 0 and figures["beforeDueShare"][-2] is None
    assert figures["beforeDueShare"][0] is None
    assert figures["refusedRepeats"][-2:] == [1, 2]
    assert figures["total"]["requested"] == 4
    assert figures["total"]["beforeDueShare"] == 0.5


# ---- the formats of ui.js ----------------------------------------------------------------------------

FORMAT_THREE_TIMES = """async () => {
  const { Translator } = await import('/assets/ui.js');
  const kinds = ['DateTimeFormat', 'NumberFormat', 'PluralRules', 'ListFormat'];
  const originals = Object.fromEntries(kinds.map((kind) => [kind, Intl[kind]]));
  const built = Object.fromEntries(kinds.map((kind) => [kind, 0]));
  for (const kind of kinds) {
    Intl[kind] = new Proxy(originals[kind], {
      construct(target, args) {
        built[kind] += 1;
        return new target(...args);
      },
    });
  }
  try {
    const translator = new Translator({ left: { one: '{{count}} item', other: '{{count}} items' } }, 'en', 'en-US');
    const rounds = [];
    for (let round = 0; round < 3; round += 1) {
      rounds.push([
        translator.t('left', { count: 1 }),
        translator.t('left', { count: 2 }),
        translator.number(1234.5, { maximumFractionDigits: 0 }),
        translator.number(0.25, { style: 'percent' }),
        translator.time('2026-11-27T15:00:00Z'),
        translator.shortTime('2026-11-27T15:00:00Z', Date.UTC(2026, 10, 27)),
        translator.shortTime('2025-11-27T15:00:00Z', Date.UTC(2026, 10, 27)),
        translator.day(Date.UTC(2026, 10, 23)),
        translator.either(['a', 'b']),
      ]);
    }
    return { built, rounds };
  } finally {
    Object.assign(Intl, originals);
  }
}"""


def test_the_translator_builds_each_format_once_and_formats_the_same(page: Page) -> None:
    result = page.evaluate(FORMAT_THREE_TIMES)

    first, *again = result["rounds"]
    assert again == [first, first]
    assert first[:4] == ["1 item", "2 items", "1,235", "25%"]
    assert first[-1] == "a or b"
    assert "2025" in first[6] and "2025" not in first[5]
    # one per set of options: time, shortTime this year and another year, day
    assert result["built"] == {"DateTimeFormat": 4, "NumberFormat": 2, "PluralRules": 1, "ListFormat": 1}
