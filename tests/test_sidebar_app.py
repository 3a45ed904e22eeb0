"""The ticket sidebar in a real headless Chromium, against a ZAF client double.

The repository's assets/ are served over HTTP as Zendesk would serve them
(tests/app_pages.py); the double plays the agent's ticket editor and the
Zendesk API from a fixture each test writes. Every other outside request is
blocked and reported. Screenshots of the key states go to tests/artifacts/sidebar/.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, expect

from escalations.core.fields import EARLIER_NUMBER_FIELDS, ESCALATION_FIELDS, earlier_key
from tests.app_pages import DOUBLES, ROOT, AppPage, AppTab, serve_repository

TICKET_FIELDS: list[dict[str, Any]] = json.loads((DOUBLES / "ticket_fields.json").read_text())["ticket_fields"]
FIELD_ID = {
    field.key: next(entry["id"] for entry in TICKET_FIELDS if entry["title"] == field.title)
    for field in ESCALATION_FIELDS
}
STRINGS = json.loads((ROOT / "translations" / "en.json").read_text())["sidebar"]
# The settings of an installation left at the manifest's defaults.
DEFAULT_SETTINGS = {
    parameter["name"]: parameter["default"]
    for parameter in json.loads((ROOT / "manifest.json").read_text())["parameters"]
}

NOW = datetime(2026, 11, 27, 15, 4, 5, tzinfo=UTC)
TICKET_ID = 4711
REQUESTER_ID = 555  # every Zendesk ticket has one (TicketObject requires requester_id)
STAMP = "2026-11-27T14:00:00Z"
SUPPORT_GROUP = {"id": 31, "name": "Support"}
MANAGERS_GROUP = {"id": 32, "name": "Support Managers"}
MANAGER = {
    "id": 9,
    "name": "Sam Supervisor",
    "email": "sam@example.com",
    "locale": "en-US",
    "role": "agent",
    "groups": [SUPPORT_GROUP, MANAGERS_GROUP],
}
ADMIN = {**MANAGER, "id": 8, "name": "Ada Admin", "role": "admin", "groups": [SUPPORT_GROUP]}
AGENT = {**MANAGER, "id": 12, "name": "Alex Agent", "groups": [SUPPORT_GROUP]}
USERS = {
    "555": {"id": 555, "name": "Jane Customer", "email": "jane@example.com", "phone": "+1 555 0100"},
    "777": {"id": 777, "name": "Maria Manager"},
    "9": {"id": 9, "name": "Sam Supervisor"},
}
REASON = "Our checkout has been down for two days and we are losing orders."
# How an acknowledgement met its target, in the same colours as on the dashboard (assets/main.css).
IN_TIME_COLOUR, LATE_COLOUR = "rgb(3, 129, 83)", "rgb(140, 35, 44)"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def plain(text: str) -> str:
    """Text with the narrow and non-breaking spaces Intl puts in dates made ordinary."""
    return re.sub(r"[\u00a0\u202f\s]+", " ", text).strip()


def rendered_height(locator: Locator) -> float:
    box = locator.bounding_box()
    assert box is not None, "the element is not rendered"
    return box["height"]


def not_escalated_ticket() -> dict[str, Any]:
    return {
        "id": TICKET_ID,
        "requester_id": REQUESTER_ID,
        "updated_at": STAMP,
        "tags": ["vip", "billing"],
        "custom_fields": [{"id": FIELD_ID[field.key], "value": None} for field in ESCALATION_FIELDS],
    }


def escalated_ticket(status: str = "requested", extra_tags: tuple[str, ...] = (), **values: Any) -> dict[str, Any]:
    """A ticket as the escalation service leaves it; keyword arguments override field values."""
    fields: dict[str, Any] = {
        "status": f"escalation_status_{status}",
        "reason": REASON,
        "requested_at": iso(NOW - timedelta(hours=5, minutes=10)),
        "requested_by": 555,
        "response_due": iso(NOW + timedelta(hours=5, minutes=10)),
        "refused_repeats": 0,
        "handled_through": 987654321,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
    }
    if status in ("acknowledged", "resolved"):
        fields.update(acknowledged_at=iso(NOW - timedelta(hours=1)), acknowledged_by=777)
    if status == "resolved":
        fields.update(resolved_at=iso(NOW - timedelta(minutes=20)))
    fields.update(values)
    tags = ["vip", "escalated", f"escalation_status_{status}", "escalation_confirmation_pending", *extra_tags]
    return {
        "id": TICKET_ID,
        "requester_id": REQUESTER_ID,
        "updated_at": STAMP,
        "tags": tags,
        "custom_fields": [{"id": FIELD_ID[key], "value": value} for key, value in fields.items()],
    }


class Sidebar:
    """The sidebar page plus handles on the ZAF client double behind it."""

    def __init__(self, app: AppPage) -> None:
        self.app = app
        self.page = app.page
        self.blocked = app.blocked
        self.problems = app.problems
        self.dialogs = app.dialogs

    def zaf(self, expression: str, *args: Any) -> Any:
        return self.app.zaf(expression, *args)

    def requests(self, method: str | None = None, path: str = "") -> list[dict[str, Any]]:
        return self.app.requests(method, path)

    def puts(self) -> list[dict[str, Any]]:
        return self.requests("PUT", f"/api/v2/tickets/{TICKET_ID}.json")

    def fire(self, event: str) -> None:
        assert self.zaf("fire(args[0])", event) > 0, f"the sidebar does not listen to {event}"

    def set_editor(self, tags: list[str] | None = None, fields: dict[str, Any] | None = None) -> None:
        by_id = {str(FIELD_ID[key]): value for key, value in (fields or {}).items()}
        self.zaf("setEditor({tags: args[0], fields: args[1]})", tags, by_id)

    def text(self, selector: str) -> str:
        return plain(self.page.locator(selector).inner_text())

    def fact(self, key: str) -> str:
        return self.text(f'[data-fact="{key}"] dd')

    def screenshot(self, name: str) -> None:
        self.app.screenshot("sidebar", name, element="body")

    def page_width(self) -> int:
        return int(self.page.evaluate("() => document.documentElement.scrollWidth"))


@pytest.fixture(scope="module")
def assets_url() -> Iterator[str]:
    with serve_repository() as url:
        yield url


OpenSidebar = Callable[..., Sidebar]


@pytest.fixture(scope="module")
def tab(browser: Browser, assets_url: str) -> Iterator[AppTab]:
    """The page the module's tests take in turn: a test's first sidebar loads into it, a second one at once gets
    a page of its own."""
    shared = AppTab(browser, assets_url, now=NOW, device_scale_factor=2)
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def open_sidebar(tab: AppTab) -> Iterator[OpenSidebar]:
    opened: list[Sidebar] = []

    def open_(
        ticket: dict[str, Any],
        *,
        now: datetime = NOW,
        current_user: dict[str, Any] | None = None,
        ticket_fields: list[dict[str, Any]] | None = None,
        fields_page_size: int | None = None,
        unreadable_fields: tuple[str, ...] = (),
        cached_field_ids: dict[str, int] | None = None,
        inside_zendesk: bool = True,
        settings: dict[str, str] | None = None,
        users: dict[str, dict[str, Any]] | None = None,
        requester_locale: str | None = None,
        width: int = 320,
    ) -> Sidebar:
        fixture = {
            "ticket": copy.deepcopy(ticket),
            "ticketFields": ticket_fields if ticket_fields is not None else TICKET_FIELDS,
            "fieldsPageSize": fields_page_size,
            "users": users if users is not None else USERS,
            "currentUser": current_user or MANAGER,
            "settings": settings if settings is not None else DEFAULT_SETTINGS,
            "unreadableFieldIds": [FIELD_ID[key] for key in unreadable_fields],
            "requesterLocale": requester_locale,
        }
        scripts: tuple[str, ...] = ()
        if cached_field_ids is not None:
            cache = json.dumps({"savedAt": int(now.timestamp() * 1000), "ids": cached_field_ids})
            scripts = (f"sessionStorage.setItem('escalation-requests:field-ids:v1', {json.dumps(cache)});",)
        app = tab.open(
            "assets/iframe.html",
            fixture,
            viewport=(width, 600),
            now=now,
            inside_zendesk=inside_zendesk,
            init_scripts=scripts,
        )
        expect(app.page.locator("#app")).to_have_attribute("aria-busy", "false")
        sidebar = Sidebar(app)
        opened.append(sidebar)
        return sidebar

    yield open_
    try:
        for sidebar in opened:
            sidebar.app.assert_clean()
    finally:
        tab.release()


# ---- what the sidebar shows ------------------------------------------------------------


def test_a_ticket_without_an_escalation_shows_a_calm_one_line_state(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(not_escalated_ticket())

    expect(sidebar.page.locator("#not-escalated")).to_have_text(
        "Not escalated. Customers can escalate once by writing “escalation request” in a comment."
    )
    expect(sidebar.page.locator("#escalation")).to_be_hidden()
    expect(sidebar.page.locator("#actions")).to_be_hidden()
    resizes = sidebar.zaf("invocations")
    assert resizes and resizes[-1]["name"] == "resize"
    height = sidebar.page.evaluate("() => Math.ceil(document.body.getBoundingClientRect().height)")
    assert resizes[-1]["args"] == [{"width": "100%", "height": f"{height}px"}]
    assert height < 80
    sidebar.screenshot("not-escalated.png")


def test_a_requested_escalation_shows_status_reason_contact_customer_and_countdown_but_no_tags(
    open_sidebar: OpenSidebar,
) -> None:
    sidebar = open_sidebar(escalated_ticket())

    expect(sidebar.page.locator("#status-badge")).to_have_text("Requested")
    expect(sidebar.page.locator("#countdown")).to_have_text("due in 5 h 10 min")
    expect(sidebar.page.locator("#countdown")).not_to_have_class(re.compile("is-overdue"))
    assert sidebar.fact("reason").startswith(REASON)
    assert sidebar.fact("requested") == "Jane Customer, Nov 27, 2026, 9:54 AM UTC"
    assert sidebar.fact("response_due") == "Nov 27, 2026, 8:14 PM UTC"
    assert sidebar.fact("contact") == "jane@example.com profile +1 555 0100 profile"
    expect(sidebar.page.locator("#overdue-badge")).to_be_hidden()
    page_text = sidebar.text("body")
    for mirror in ("escalation_status_requested", "escalation_confirmation_pending", "escalated "):
        assert mirror not in page_text, "tags that repeat the badge or are the service's bookkeeping are not listed"
    expect(sidebar.page.locator('[data-fact="tags"]')).to_have_count(0)
    assert "987654321" not in page_text, "the bookkeeping field is never shown"
    assert "Refused" not in page_text
    expect(sidebar.page.locator("#reply")).to_be_visible()
    expect(sidebar.page.locator("#resolve")).to_be_visible()
    expect(sidebar.page.locator("#guidance")).to_have_count(0)  # a manager is told what to do by the buttons
    assert sidebar.page_width() <= 320
    sidebar.screenshot("requested.png")


def test_the_countdown_updates_every_30_seconds_and_turns_red_once_overdue(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket(response_due=iso(NOW + timedelta(minutes=2))))
    countdown = sidebar.page.locator("#countdown")
    expect(countdown).to_have_text("due in 2 min")

    sidebar.page.clock.run_for(30_000)
    expect(countdown).to_have_text("due in 1 min")
    sidebar.page.clock.run_for(90_000)
    expect(countdown).to_have_text("due in less than a minute")
    expect(countdown).not_to_have_class(re.compile("is-overdue"))
    expect(sidebar.page.locator("#overdue-badge")).to_be_hidden()
    sidebar.page.clock.run_for(60_000)
    expect(countdown).to_have_text("overdue by 1 min")
    expect(countdown).to_have_class(re.compile("is-overdue"))
    expect(countdown).to_have_css("color", "rgb(205, 54, 66)")
    expect(sidebar.page.locator("#overdue-badge")).to_have_text("Overdue")
    expect(sidebar.page.locator("#status-badge")).to_have_text("Requested")


def test_an_overdue_request_keeps_the_requested_badge_and_says_overdue_beside_it(open_sidebar: OpenSidebar) -> None:
    ticket = escalated_ticket(extra_tags=("escalation_overdue",), response_due=iso(NOW - timedelta(hours=2)))
    sidebar = open_sidebar(ticket)

    badge = sidebar.page.locator("#status-badge")
    expect(badge).to_have_text("Requested")
    expect(badge).to_have_class(re.compile("c-tag--yellow"))
    overdue = sidebar.page.locator("#overdue-badge")
    expect(overdue).to_have_text("Overdue")
    expect(overdue).to_have_class(re.compile("c-tag--red"))
    countdown = sidebar.page.locator("#countdown")
    expect(countdown).to_have_text("overdue by 2 h")
    expect(countdown).to_have_css("color", "rgb(205, 54, 66)")
    assert "escalation_overdue" not in sidebar.text("body"), "the tag would only repeat the badge"
    sidebar.screenshot("overdue.png")


def test_the_overdue_tag_alone_makes_a_request_overdue(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket(extra_tags=("escalation_overdue",)))

    expect(sidebar.page.locator("#overdue-badge")).to_be_visible()


def test_a_late_acknowledgement_is_said_in_the_dashboards_dark_red_not_with_a_tag(open_sidebar: OpenSidebar) -> None:
    ticket = escalated_ticket(
        "acknowledged", extra_tags=("escalation_overdue",), response_due=iso(NOW - timedelta(hours=3, minutes=15))
    )
    sidebar = open_sidebar(ticket)

    expect(sidebar.page.locator("#overdue-badge")).to_be_hidden()
    outcome = sidebar.page.locator('[data-fact="acknowledged"] .outcome')
    expect(outcome).to_have_text("acknowledged 2 h 15 min late")
    expect(outcome).to_have_css("color", LATE_COLOUR)
    assert "escalation_overdue" not in sidebar.text("body")


def test_an_acknowledged_escalation_shows_who_acknowledged_and_offers_only_resolve(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket("acknowledged", response_due=iso(NOW - timedelta(minutes=30))))

    expect(sidebar.page.locator("#status-badge")).to_have_text("Acknowledged")
    assert sidebar.fact("acknowledged") == "Maria Manager, Nov 27, 2026, 2:04 PM UTC acknowledged in time"
    expect(sidebar.page.locator('[data-fact="acknowledged"] .outcome')).to_have_css("color", IN_TIME_COLOUR)
    expect(sidebar.page.locator("#countdown")).to_be_hidden()
    expect(sidebar.page.locator("#reply")).to_be_hidden()
    expect(sidebar.page.locator("#resolve")).to_be_visible()
    sidebar.screenshot("acknowledged.png")


def test_a_resolved_escalation_leads_with_its_outcome_and_offers_no_actions(open_sidebar: OpenSidebar) -> None:
    late = escalated_ticket("resolved", response_due=iso(NOW - timedelta(hours=3)))
    sidebar = open_sidebar(late)

    expect(sidebar.page.locator("#status-badge")).to_have_text("Resolved")
    expect(sidebar.page.locator("#resolved-at")).to_have_text("Nov 27, 2026, 2:44 PM UTC")
    expect(sidebar.page.locator("#countdown")).to_be_hidden()
    expect(sidebar.page.locator('[data-fact="response_due"]')).to_have_count(0)
    first = sidebar.page.locator(".facts .fact").first
    expect(first).to_have_attribute("data-fact", "reason")
    assert sidebar.fact("acknowledged").startswith("Maria Manager")
    expect(sidebar.page.locator("#actions")).to_be_hidden()
    sidebar.screenshot("resolved.png")


def test_refused_repeat_attempts_are_counted(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket(extra_tags=("escalation_blocked",), refused_repeats=2))

    assert sidebar.fact("refused_repeats") == "2 further attempts refused"
    assert "escalation_blocked" not in sidebar.text("body"), "the count says it; the tag would repeat it"
    sidebar.screenshot("refused-repeats.png")


def test_the_sidebar_follows_the_ticket_live(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(not_escalated_ticket())
    subscribed = set(sidebar.zaf("subscribed()"))
    expected = {"ticket.tags.changed", "ticket.updated", "app.activated"}
    shown = [field for field in ESCALATION_FIELDS if field.key != "handled_through"]
    expected |= {f"ticket.custom_field_{FIELD_ID[field.key]}.changed" for field in shown}
    assert expected <= subscribed

    requested = escalated_ticket()
    key_of = {field_id: key for key, field_id in FIELD_ID.items()}
    values = {key_of[entry["id"]]: entry["value"] for entry in requested["custom_fields"]}
    sidebar.set_editor(tags=requested["tags"], fields=values)
    sidebar.fire(f"ticket.custom_field_{FIELD_ID['status']}.changed")
    expect(sidebar.page.locator("#status-badge")).to_have_text("Requested")
    expect(sidebar.page.locator("#not-escalated")).to_be_hidden()

    sidebar.set_editor(tags=[*requested["tags"], "escalation_blocked"], fields={"refused_repeats": 1})
    sidebar.fire("ticket.tags.changed")
    expect(sidebar.page.locator('[data-fact="refused_repeats"] dd')).to_have_text("1 further attempt refused")


def test_field_ids_are_found_by_title_across_pages_of_ticket_fields(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket(), fields_page_size=4)

    expect(sidebar.page.locator("#status-badge")).to_have_text("Requested")
    pages = sidebar.requests("GET", "/api/v2/ticket_fields.json")
    assert pages[0]["url"] == "/api/v2/ticket_fields.json?page[size]=100"
    assert len(pages) == -(-len(TICKET_FIELDS) // 4)


def test_fields_the_editor_cannot_read_are_read_from_the_stored_ticket(open_sidebar: OpenSidebar) -> None:
    keys = tuple(field.key for field in ESCALATION_FIELDS)
    sidebar = open_sidebar(escalated_ticket(refused_repeats=1), unreadable_fields=keys)

    expect(sidebar.page.locator("#status-badge")).to_have_text("Requested")
    assert sidebar.fact("refused_repeats") == "1 further attempt refused"
    assert sidebar.requests("GET", f"/api/v2/tickets/{TICKET_ID}.json")


def test_field_ids_are_cached_between_sidebars(open_sidebar: OpenSidebar) -> None:
    cached = {key: field_id for key, field_id in FIELD_ID.items() if key != "handled_through"}
    sidebar = open_sidebar(escalated_ticket(), cached_field_ids=cached)

    expect(sidebar.page.locator("#status-badge")).to_have_text("Requested")
    assert sidebar.requests("GET", "/api/v2/ticket_fields.json") == []


def test_cached_field_ids_that_no_longer_exist_are_looked_up_again(open_sidebar: OpenSidebar) -> None:
    stale = {key: 10_000 + index for index, key in enumerate(FIELD_ID) if key != "handled_through"}
    sidebar = open_sidebar(escalated_ticket(), cached_field_ids=stale)

    expect(sidebar.page.locator("#status-badge")).to_have_text("Requested")
    assert len(sidebar.requests("GET", "/api/v2/ticket_fields.json")) == 1


def test_missing_escalation_fields_are_named_in_the_sidebar(open_sidebar: OpenSidebar) -> None:
    missing = ("Escalation response due", "Escalation reason")
    fields = [field for field in TICKET_FIELDS if field["title"] not in missing]
    sidebar = open_sidebar(escalated_ticket(), ticket_fields=fields)

    expect(sidebar.page.locator("#alert")).to_have_text(
        "Some escalation ticket fields are missing in this account: Escalation reason, Escalation response due. "
        "Ask an admin to run “escalations setup” again; it creates the missing fields."
    )


def test_an_app_installed_before_setup_says_so_instead_of_listing_every_field(open_sidebar: OpenSidebar) -> None:
    fields = [field for field in TICKET_FIELDS if not field["title"].startswith("Escalation ")]
    sidebar = open_sidebar(not_escalated_ticket(), ticket_fields=fields)

    alert = sidebar.page.locator("#alert")
    expect(alert).to_have_text(STRINGS["errors"]["not_set_up"])
    assert "installed before" in alert.inner_text() and "escalations setup" in alert.inner_text()
    assert "Escalation reason" not in alert.inner_text()
    sidebar.screenshot("not-set-up.png")


def test_an_agent_locale_without_its_own_strings_falls_back_to_english(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(not_escalated_ticket(), current_user={**MANAGER, "locale": "ko"})

    expect(sidebar.page.locator("#not-escalated")).to_contain_text("“escalation request”")
    assert sidebar.page.evaluate("() => document.documentElement.lang") == "en"


def test_an_agent_reads_the_sidebar_in_their_own_language(open_sidebar: OpenSidebar) -> None:
    portuguese = json.loads((ROOT / "translations" / "pt-BR.json").read_text(encoding="utf-8"))["sidebar"]
    sidebar = open_sidebar(not_escalated_ticket(), current_user={**MANAGER, "locale": "pt-br"})

    expect(sidebar.page.locator("#not-escalated")).to_have_text(
        portuguese["not_escalated"].replace("{{phrases}}", "“escalation request”")
    )
    assert sidebar.page.evaluate("() => document.documentElement.lang") == "pt-BR"


def test_outside_a_zendesk_frame_the_page_says_where_it_belongs(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(not_escalated_ticket(), inside_zendesk=False)

    expect(sidebar.page.locator("#status-message")).to_have_text(STRINGS["outside_zendesk"])


# ---- the phrase, by name ------------------------------------------------------------------


GERMAN_PHRASES = "en=escalation request,de=Eskalationsanfrage|escalation request,ja=エスカレーション依頼"


def test_a_german_agent_is_told_the_german_phrases_from_the_apps_settings(open_sidebar: OpenSidebar) -> None:
    settings = {**DEFAULT_SETTINGS, "escalation_phrases": GERMAN_PHRASES}
    sidebar = open_sidebar(not_escalated_ticket(), current_user={**MANAGER, "locale": "de"}, settings=settings)

    expect(sidebar.page.locator("#not-escalated")).to_have_text(
        "Nicht eskaliert. Kunden können einmal eskalieren, indem sie „Eskalationsanfrage“ oder „escalation request“ "
        "in einen Kommentar schreiben."
    )


def test_an_austrian_agent_gets_the_german_phrase_and_a_japanese_agent_the_japanese_one(
    open_sidebar: OpenSidebar,
) -> None:
    settings = {**DEFAULT_SETTINGS, "escalation_phrases": GERMAN_PHRASES}
    austrian = open_sidebar(not_escalated_ticket(), current_user={**MANAGER, "locale": "de-AT"}, settings=settings)
    japanese = open_sidebar(not_escalated_ticket(), current_user={**MANAGER, "locale": "ja"}, settings=settings)

    expect(austrian.page.locator("#not-escalated")).to_contain_text("„Eskalationsanfrage“")
    expect(japanese.page.locator("#not-escalated")).to_contain_text("「エスカレーション依頼」")
    assert "escalation request" not in japanese.text("#not-escalated")


def test_a_locale_without_its_own_phrase_is_told_the_english_one(open_sidebar: OpenSidebar) -> None:
    settings = {**DEFAULT_SETTINGS, "escalation_phrases": GERMAN_PHRASES}
    sidebar = open_sidebar(not_escalated_ticket(), current_user={**MANAGER, "locale": "fr"}, settings=settings)

    expect(sidebar.page.locator("#not-escalated")).to_contain_text("« escalation request »")


def test_without_settings_the_default_phrase_is_named(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(not_escalated_ticket(), settings={})

    expect(sidebar.page.locator("#not-escalated")).to_contain_text("“escalation request”")


# ---- who may act ---------------------------------------------------------------------------


def test_an_agent_outside_the_managers_group_sees_the_escalation_but_no_buttons(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket(), current_user=AGENT)

    expect(sidebar.page.locator("#status-badge")).to_have_text("Requested")
    expect(sidebar.page.locator("#countdown")).to_have_text("due in 5 h 10 min")
    expect(sidebar.page.locator("#actions")).to_be_hidden()
    expect(sidebar.page.locator("#reply")).to_be_hidden()
    expect(sidebar.page.locator("#resolve")).to_be_hidden()
    expect(sidebar.page.locator("#guidance")).to_have_text(STRINGS["guidance"])
    sidebar.screenshot("agent-view.png")


def test_an_admin_outside_the_managers_group_may_act(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket(), current_user=ADMIN)

    expect(sidebar.page.locator("#reply")).to_be_visible()
    expect(sidebar.page.locator("#resolve")).to_be_visible()


def test_the_managers_group_is_the_one_named_in_the_apps_settings(open_sidebar: OpenSidebar) -> None:
    settings = {**DEFAULT_SETTINGS, "managers_group": "Escalation Desk"}
    desk = {**AGENT, "groups": [SUPPORT_GROUP, {"id": 40, "name": "Escalation Desk"}]}
    member = open_sidebar(escalated_ticket(), current_user=desk, settings=settings)
    default_group_member = open_sidebar(escalated_ticket(), current_user=MANAGER, settings=settings)

    expect(member.page.locator("#reply")).to_be_visible()
    expect(default_group_member.page.locator("#status-badge")).to_have_text("Requested")
    expect(default_group_member.page.locator("#actions")).to_be_hidden()


# ---- user ids as text ----------------------------------------------------------------------


def test_a_user_id_beyond_32_bits_held_as_text_names_the_customer(open_sidebar: OpenSidebar) -> None:
    big = "23456789012345"
    users = {**USERS, big: {"id": int(big), "name": "Quinn Customer"}}
    sidebar = open_sidebar(escalated_ticket(requested_by=big), users=users)

    assert sidebar.fact("requested").startswith("Quinn Customer")
    assert sidebar.requests("GET", f"/api/v2/users/{big}.json")


def test_values_kept_in_the_earlier_number_fields_are_still_shown(open_sidebar: OpenSidebar) -> None:
    earlier = [
        {"id": 360091, "title": "Escalation requested by (earlier number field)", "type": "integer"},
        {"id": 360092, "title": "Escalation acknowledged by (earlier number field)", "type": "integer"},
    ]
    ticket = escalated_ticket("acknowledged", requested_by=None, acknowledged_by="")
    ticket["custom_fields"] += [{"id": 360091, "value": 555}, {"id": 360092, "value": 777}]
    sidebar = open_sidebar(ticket, ticket_fields=[*TICKET_FIELDS, *earlier])

    assert sidebar.fact("requested").startswith("Jane Customer")
    assert sidebar.fact("acknowledged").startswith("Maria Manager")


# ---- customer text is only ever text ------------------------------------------------------


def test_a_reason_with_markup_is_shown_literally_and_never_runs(open_sidebar: OpenSidebar) -> None:
    reason = '<img src=x onerror=alert(1)><script>alert("x")</script> & <b>bold</b>'
    sidebar = open_sidebar(escalated_ticket(reason=reason))

    expect(sidebar.page.locator("#reason")).to_have_text(reason)
    assert sidebar.page.locator("#escalation img, #escalation script, #escalation b").count() == 0
    sidebar.page.clock.run_for(1_000)
    assert sidebar.dialogs == []
    sidebar.screenshot("markup-reason.png")


def test_a_50_kb_reason_is_clamped_and_keeps_the_sidebar_320_px_wide(open_sidebar: OpenSidebar) -> None:
    reason = "x" * 20_000 + " " + "word " * 6_000
    assert len(reason) >= 50_000
    sidebar = open_sidebar(escalated_ticket(reason=reason))

    reason_box = sidebar.page.locator("#reason")
    assert sidebar.page_width() <= 320
    assert rendered_height(reason_box) <= 130
    wraps = "() => { const r = document.getElementById('reason'); return r.scrollWidth <= r.clientWidth; }"
    assert sidebar.page.evaluate(wraps), "long words wrap instead of being cut off"
    toggle = sidebar.page.locator("#reason-toggle")
    expect(toggle).to_have_text("Show more")
    sidebar.screenshot("long-reason.png")

    toggle.click()
    expect(toggle).to_have_text("Show less")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert sidebar.page_width() <= 320
    assert rendered_height(reason_box) <= 330


def test_a_short_reason_has_no_show_more(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket())

    expect(sidebar.page.locator("#reason-toggle")).to_be_hidden()


# ---- manager actions ---------------------------------------------------------------------------


def test_acknowledge_opens_a_public_reply_in_the_customers_language_and_writes_nothing(
    open_sidebar: OpenSidebar,
) -> None:
    sidebar = open_sidebar(escalated_ticket(), requester_locale="de")

    expect(sidebar.page.locator("#reply")).to_have_text("Acknowledge with a reply")
    expect(sidebar.page.locator("#reply")).to_have_accessible_description(STRINGS["actions"]["reply_hint"])
    sidebar.page.locator("#reply").click()
    expect(sidebar.page.locator("#status-message")).to_have_text(STRINGS["done"]["reply_opened"])

    composer = sidebar.zaf("composer")
    assert composer["type"] == "publicReply"
    assert composer["text"].startswith("Guten Tag Jane,\n\nich bin Sam Supervisor, Support-Manager")
    # The acknowledgement is the reply: the service records it once it is sent, the sidebar writes nothing.
    assert sidebar.puts() == []
    expect(sidebar.page.locator("#status-badge")).to_have_text("Requested")
    sidebar.screenshot("after-reply-opened.png")


def resolve_with(sidebar: Sidebar, note: str = "Refund issued.") -> None:
    sidebar.page.locator("#resolve").click()
    sidebar.page.locator("#resolve-note").fill(note)
    sidebar.page.locator("#resolve-confirm").click()


def test_a_stale_stamp_is_re_read_and_retried_once(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket())
    sidebar.zaf("failNext('PUT', 409, {error: 'UpdateConflict', description: 'Safe Update prevented the update'})")

    resolve_with(sidebar)
    expect(sidebar.page.locator("#status-message")).to_have_text("Escalation resolved.")
    reads = [r["type"] for r in sidebar.requests(path=f"/api/v2/tickets/{TICKET_ID}.json")]
    assert reads == ["GET", "PUT", "GET", "PUT"]


def test_a_second_conflict_is_explained_instead_of_retrying_forever(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket())
    for _ in range(2):
        sidebar.zaf("failNext('PUT', 409, {error: 'UpdateConflict', description: 'Safe Update prevented the update'})")

    resolve_with(sidebar)
    expect(sidebar.page.locator("#alert")).to_have_text(STRINGS["errors"]["conflict"])
    assert len(sidebar.puts()) == 2
    expect(sidebar.page.locator("#resolve-confirm")).to_be_enabled()


def test_an_escalation_resolved_meanwhile_is_not_written_again(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket())
    sidebar.zaf("setServer({fields: args[0]})", {str(FIELD_ID["status"]): "escalation_status_resolved"})

    resolve_with(sidebar)
    expect(sidebar.page.locator("#alert")).to_have_text(STRINGS["errors"]["already_resolved"])
    assert sidebar.puts() == []
    expect(sidebar.page.locator("#status-badge")).to_have_text("Resolved")


def test_resolve_requires_a_note_and_records_it_as_an_internal_note(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket("acknowledged"))
    page = sidebar.page

    page.locator("#resolve").click()
    expect(page.locator("#resolve-note")).to_be_focused()
    page.locator("#resolve-note").fill("   ")
    page.locator("#resolve-confirm").click()
    expect(page.locator("#resolve-note-error")).to_have_text("Write a short note before resolving.")
    expect(page.locator("#resolve-note")).to_have_attribute("aria-invalid", "true")
    assert sidebar.puts() == []
    sidebar.screenshot("resolve-note-required.png")

    page.locator("#resolve-note").fill("Refund issued and root cause fixed.")
    page.locator("#resolve-confirm").click()
    expect(page.locator("#status-message")).to_have_text("Escalation resolved.")
    [put] = sidebar.puts()
    assert put["body"] == {
        "ticket": {
            "custom_fields": [
                {"id": FIELD_ID["status"], "value": "escalation_status_resolved"},
                {"id": FIELD_ID["resolved_at"], "value": iso(NOW)},
            ],
            "comment": {
                "body": "Escalation resolved by Sam Supervisor: Refund issued and root cause fixed.",
                "public": False,
            },
            "safe_update": True,
            "updated_stamp": STAMP,
        }
    }
    expect(page.locator("#status-badge")).to_have_text("Resolved")
    expect(page.locator("#resolve-form")).to_be_hidden()
    expect(page.locator("#actions")).to_be_hidden()
    sidebar.screenshot("after-resolve.png")


def test_after_resolving_an_editor_that_has_not_caught_up_cannot_take_the_sidebar_back(
    open_sidebar: OpenSidebar,
) -> None:
    sidebar = open_sidebar(escalated_ticket())
    page = sidebar.page
    resolve_with(sidebar)
    expect(page.locator("#status-badge")).to_have_text("Resolved")
    page.evaluate(
        """() => {
          window.badgesShown = [];
          new MutationObserver(() => window.badgesShown.push(document.querySelector('#status-badge').textContent))
            .observe(document.body, {subtree: true, childList: true, characterData: true});
        }"""
    )

    sidebar.fire("ticket.tags.changed")  # read at once: the agent's editor still shows the escalation requested
    caught_up = escalated_ticket("resolved", resolved_at=iso(NOW + timedelta(minutes=1)))
    key_of = {field_id: key for key, field_id in FIELD_ID.items()}
    sidebar.set_editor(
        tags=caught_up["tags"], fields={key_of[entry["id"]]: entry["value"] for entry in caught_up["custom_fields"]}
    )
    sidebar.fire("ticket.tags.changed")  # read once the stale read is shown: the editor has caught up

    expect(page.locator("#resolved-at")).to_have_text("Nov 27, 2026, 3:05 PM UTC")
    assert "Requested" not in page.evaluate("window.badgesShown")
    expect(page.locator("#status-badge")).to_have_text("Resolved")


def test_cancelling_the_resolve_form_returns_to_the_buttons(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket())

    sidebar.page.locator("#resolve").click()
    sidebar.page.locator("#resolve-cancel").click()
    expect(sidebar.page.locator("#resolve-form")).to_be_hidden()
    expect(sidebar.page.locator("#resolve")).to_be_focused()
    assert sidebar.puts() == []


def test_buttons_are_disabled_while_a_request_is_in_flight(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket())
    sidebar.zaf("hold()")

    resolve_with(sidebar)
    expect(sidebar.page.locator("#resolve-confirm")).to_be_disabled()
    expect(sidebar.page.locator("#resolve-cancel")).to_be_disabled()
    expect(sidebar.page.locator("#app")).to_have_attribute("aria-busy", "true")
    sidebar.zaf("release()")
    expect(sidebar.page.locator("#status-message")).to_have_text("Escalation resolved.")
    assert len(sidebar.puts()) == 1


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            500,
            {"error": "InternalError", "description": "Something went wrong on our side"},
            "Zendesk could not save the change (Something went wrong on our side). Try again in a moment.",
        ),
        (403, {"error": "Forbidden", "description": "You do not have access"}, STRINGS["errors"]["forbidden"]),
        (
            422,
            {
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": {"status": [{"description": "Status: closed prevents ticket update"}]},
            },
            STRINGS["errors"]["closed"],
        ),
        (429, {"error": "TooManyRequests"}, STRINGS["errors"]["rate_limited"]),
    ],
    ids=["server-error", "forbidden", "closed-ticket", "rate-limited"],
)
def test_an_api_error_is_shown_as_a_readable_alert(
    open_sidebar: OpenSidebar, status: int, body: dict[str, Any], message: str
) -> None:
    sidebar = open_sidebar(escalated_ticket())
    sidebar.zaf("failNext('PUT', args[0], args[1])", status, body)

    resolve_with(sidebar)
    alert = sidebar.page.locator("[role=alert]")
    expect(alert).to_have_text(message)
    assert "{" not in alert.inner_text()
    expect(sidebar.page.locator("#resolve-confirm")).to_be_enabled()
    expect(sidebar.page.locator("#status-badge")).to_have_text("Requested")
    if status == 500:
        sidebar.screenshot("api-error.png")


def test_the_actions_work_from_the_keyboard_with_a_visible_focus_ring(open_sidebar: OpenSidebar) -> None:
    sidebar = open_sidebar(escalated_ticket())
    page = sidebar.page

    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "reply":
            break
    expect(page.locator("#reply")).to_be_focused()
    ring = page.evaluate("() => getComputedStyle(document.activeElement).boxShadow")
    assert ring not in ("", "none")
    sidebar.screenshot("keyboard-focus.png")

    page.keyboard.press("Enter")
    expect(page.locator("#status-message")).to_have_text(STRINGS["done"]["reply_opened"])
    page.keyboard.press("Tab")
    expect(page.locator("#resolve")).to_be_focused()

    page.keyboard.press("Enter")
    expect(page.locator("#resolve-note")).to_be_focused()
    page.keyboard.type("Handled by phone.")
    page.keyboard.press("Tab")
    expect(page.locator("#resolve-confirm")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#status-message")).to_have_text("Escalation resolved.")
    note = sidebar.puts()[-1]["body"]["ticket"]["comment"]
    assert note == {"body": "Escalation resolved by Sam Supervisor: Handled by phone.", "public": False}


# ---- at a phone's and a desktop's width, in English and German ---------------------------------

GERMAN = json.loads((ROOT / "translations" / "de.json").read_text(encoding="utf-8"))["sidebar"]
SCREENS = pytest.mark.parametrize(
    ("width", "locale", "strings"), [(375, "en-US", STRINGS), (1280, "de", GERMAN)], ids=["375px-en", "1280px-de"]
)
FORM_REASON = "Our checkout has been down since Monday.\n\nNew contact details: +44 20 7946 0958"


@SCREENS
def test_the_contact_row_names_the_customers_new_details_once_then_their_profiles(
    open_sidebar: OpenSidebar, width: int, locale: str, strings: dict[str, Any]
) -> None:
    sidebar = open_sidebar(
        escalated_ticket(reason=FORM_REASON), current_user={**MANAGER, "locale": locale}, width=width
    )

    contact = sidebar.page.locator('[data-fact="contact"]')
    expect(contact.locator("dt")).to_have_text(strings["labels"]["contact"])
    expect(contact.locator("li")).to_have_text(
        [
            f"+44 20 7946 0958 {strings['contact_source']['comment']}",
            f"jane@example.com {strings['contact_source']['profile']}",
            f"+1 555 0100 {strings['contact_source']['profile']}",
        ]
    )
    expect(sidebar.page.locator("#reason")).to_have_text("Our checkout has been down since Monday.")
    assert sidebar.page_width() <= width
    sidebar.screenshot(f"contact-{width}-{locale}.png")


@SCREENS
def test_an_agent_who_is_not_a_manager_is_told_in_one_line_what_to_do(
    open_sidebar: OpenSidebar, width: int, locale: str, strings: dict[str, Any]
) -> None:
    agent = open_sidebar(escalated_ticket(), current_user={**AGENT, "locale": locale}, width=width)
    resolved = open_sidebar(escalated_ticket("resolved"), current_user={**AGENT, "locale": locale}, width=width)

    expect(agent.page.locator("#guidance")).to_have_text(strings["guidance"])
    expect(agent.page.locator("#actions")).to_be_hidden()
    expect(resolved.page.locator("#guidance")).to_have_count(0)  # nothing left to hand over
    agent.screenshot(f"agent-{width}-{locale}.png")


@SCREENS
def test_a_manager_acknowledges_by_replying_and_the_outcome_reads_like_the_dashboard(
    open_sidebar: OpenSidebar, width: int, locale: str, strings: dict[str, Any]
) -> None:
    waiting = open_sidebar(escalated_ticket(), current_user={**MANAGER, "locale": locale}, width=width)
    waiting.page.locator("#reply").click()
    expect(waiting.page.locator("#status-message")).to_have_text(strings["done"]["reply_opened"])
    assert waiting.zaf("composer.type") == "publicReply" and waiting.puts() == []

    late = escalated_ticket("acknowledged", response_due=iso(NOW - timedelta(hours=3)))
    replied = open_sidebar(late, current_user={**MANAGER, "locale": locale}, width=width)
    outcome = replied.page.locator('[data-fact="acknowledged"] .outcome')
    two_hours = strings["duration"]["hours"].replace("{{hours}}", "2")
    expect(outcome).to_have_text(strings["countdown"]["missed"].replace("{{duration}}", two_hours))
    expect(outcome).to_have_css("color", LATE_COLOUR)
    for tag in ("escalation_overdue", "escalation_blocked", "escalated"):
        assert tag not in replied.text("body")
    replied.screenshot(f"acknowledged-late-{width}-{locale}.png")


# ---- the tab the tests take in turn ----------------------------------------------------------


def test_a_test_that_takes_the_tab_finds_nothing_of_the_test_before_and_a_moved_clock_closes_it(tab: AppTab) -> None:
    fixture = {
        "ticket": escalated_ticket(),
        "ticketFields": TICKET_FIELDS,
        "users": USERS,
        "currentUser": MANAGER,
        "settings": DEFAULT_SETTINGS,
    }
    before = tab.take("assets/iframe.html", fixture, viewport=(320, 600))
    before.add_init_script("window.__left = 'script';")
    before.page.evaluate("() => { sessionStorage.setItem('left', 'session'); localStorage.setItem('left', 'local'); }")
    before.page.reload()
    left = "() => [window.__left, sessionStorage.getItem('left'), localStorage.getItem('left'), Date.now()]"
    assert before.page.evaluate(left) == ["script", "session", "local", NOW.timestamp() * 1000]
    tab.hand_back()

    after = tab.take("assets/iframe.html", fixture, viewport=(480, 600))
    assert after.page is before.page, "the same page, a new document"
    assert after.page.evaluate(left) == [None, None, None, NOW.timestamp() * 1000]
    assert after.page.viewport_size == {"width": 480, "height": 600}
    after.page.clock.run_for(1_000)
    tab.hand_back()

    fresh = tab.take("assets/iframe.html", fixture, viewport=(320, 600))
    assert fresh.page is not before.page, "a moved clock is not handed on"
    assert fresh.page.evaluate("() => Date.now()") == NOW.timestamp() * 1000
    tab.hand_back()


# ---- the code itself -------------------------------------------------------------------------


def test_the_sidebar_never_writes_markup_from_data() -> None:
    for script in ("main.js", "escalation.js", "ui.js", "zendesk.js"):
        source = (ROOT / "assets" / script).read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{script} uses {sink}"


def test_the_sidebar_looks_fields_up_by_the_titles_the_backend_creates() -> None:
    source = (ROOT / "assets" / "escalation.js").read_text()
    block = source[source.index("FIELD_TITLES = Object.freeze({") : source.index("});")]
    titles = dict(re.findall(r"(\w+): '([^']+)'", block))
    expected = {field.key: field.title for field in ESCALATION_FIELDS if field.key != "handled_through"}
    assert titles == expected


def test_the_sidebar_knows_the_earlier_number_fields_setup_moves_aside() -> None:
    source = (ROOT / "assets" / "escalation.js").read_text()
    block = source[source.index("EARLIER_FIELD_TITLES = Object.freeze({") :]
    block = block[: block.index("});")]
    titles = dict(re.findall(r"(\w+): '([^']+)'", block))
    assert titles == {earlier_key(key): title for key, title in EARLIER_NUMBER_FIELDS.items()}
