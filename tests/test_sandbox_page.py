"""The sandbox's page in a real headless Chromium, as a first-time visitor uses it.

The real service runs (`escalations setup` + `serve`, the `service` fixture);
the visitor opens the sandbox's page, comments as a customer and watches the
escalation arrive on the page, which refreshes itself. Screenshots of the key
states go to tests/artifacts/sandbox/.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, expect

from tests.app_pages import SCREENSHOTS, block_outside
from tests.conftest import ROOT, Service

ARTIFACTS = ROOT / "tests" / "artifacts" / "sandbox"
SERVICE_TIMEOUT = 20_000  # ms: the service's reply travels trigger → webhook → queue → Zendesk → next refresh
REASON = "our exports fail since Monday"
HOSTILE = "<img src=x onerror=alert(1)>"


@dataclass
class Visit:
    """The page plus what went wrong on it: dialogs, script errors, requests to anywhere else."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> None:
        if not SCREENSHOTS:
            return
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)

    def open_ticket(self, subject: str) -> None:
        self.page.get_by_role("button", name=subject).click()
        expect(self.page.locator("#ticket-title")).to_contain_text(subject)

    def comment(self, author: str, text: str, *, public: bool = True) -> None:
        self.page.get_by_label("Comment as").select_option(label=author)
        self.page.get_by_label("Comment", exact=True).fill(text)
        checkbox = self.page.get_by_role("checkbox", name="Public reply")
        if checkbox.is_checked() != public:
            checkbox.click()
        self.page.get_by_role("button", name="Add comment").click()

    @property
    def conversation(self) -> Locator:
        return self.page.get_by_role("log", name="Conversation")

    def prop(self, name: str) -> Locator:
        return self.page.locator(f'#properties [data-prop="{name}"]')

    @property
    def emails(self) -> Locator:
        return self.page.locator("#emails")

    @property
    def deliveries(self) -> Locator:
        return self.page.locator("#deliveries")

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"the page opened dialogs: {self.dialogs}"
        assert self.problems == [], f"the page reported errors: {self.problems}"
        assert self.blocked == [], f"the page asked for outside resources: {self.blocked}"


@pytest.fixture
def visit(browser: Browser, service: Service) -> Iterator[Visit]:
    """The sandbox's page, opened fresh against a provisioned sandbox with the service running."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(10_000)
    opened = Visit(page)

    def record_dialog(dialog: Dialog) -> None:
        opened.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", record_dialog)
    page.on("pageerror", lambda error: opened.problems.append(f"page error: {error}"))
    page.on("console", lambda message: opened.problems.append(message.text) if message.type == "error" else None)
    block_outside(page, service.sandbox_url, opened.blocked)
    page.goto(service.sandbox_url + "/")
    expect(page.locator("#live")).to_contain_text("live")
    try:
        yield opened
    finally:
        context.close()


def test_a_first_time_visitor_escalates_a_ticket_and_sees_everything_happen(visit: Visit) -> None:
    page = visit.page
    expect(page.get_by_role("heading", name="Try an escalation")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("#1 Charged twice"))).to_be_visible()
    visit.screenshot("1-first-visit.png")

    visit.open_ticket("Charged twice for my March invoice")
    expect(visit.prop("group")).to_have_text("Support")
    expect(visit.prop("assignee")).to_have_text("Priya Natarajan")
    expect(visit.prop("fields")).to_have_text("No field values yet.")
    visit.comment("Alice Moreau (requester)", f"Escalation request: {REASON}")
    expect(visit.conversation).to_contain_text(f"Escalation request: {REASON}")

    # No reload: the page refreshes itself while the service does its work.
    expect(visit.emails).to_contain_text("We have received your request to escalate this case", timeout=SERVICE_TIMEOUT)
    expect(visit.emails).to_contain_text("To alice.moreau@example.com")
    expect(visit.prop("tags").locator(".tag", has_text=re.compile("^escalated$"))).to_be_visible()
    expect(visit.prop("group")).to_have_text("Support Managers")
    expect(visit.prop("assignee")).to_have_text("none")
    fields = visit.prop("fields")
    expect(fields).to_contain_text("Escalation status")
    expect(fields).to_contain_text("Requested")
    expect(fields).to_contain_text(f"Escalation reason{REASON}")
    expect(fields).to_contain_text("Escalation requested byAlice Moreau")
    expect(fields).to_contain_text("Escalation response due")
    expect(visit.conversation.locator(".comment.internal")).to_contain_text("Escalation received")
    expect(page.get_by_role("button", name=re.compile("#1 Charged twice"))).to_contain_text("escalated")
    # The customer's comment is queued (202); the service's own replies also fire a trigger, answered 200.
    expect(visit.deliveries.locator(".badge.attempt", has_text="202 Accepted")).to_have_count(1)
    page.wait_for_timeout(2100)  # let the "changed" highlight fade before the picture
    visit.screenshot("2-escalated.png")

    visit.comment("Alice Moreau (requester)", "Escalation request: still nothing, please escalate again")
    expect(visit.emails).to_contain_text("can be escalated only once", timeout=SERVICE_TIMEOUT)
    expect(visit.prop("tags")).to_contain_text("escalation_blocked")
    expect(visit.prop("group")).to_have_text("Support Managers")
    expect(visit.prop("fields")).to_contain_text("Escalation refused repeats1")
    expect(visit.conversation.locator(".comment.internal")).to_have_count(1)
    expect(visit.deliveries.locator(".badge.attempt", has_text="202 Accepted")).to_have_count(2)
    visit.screenshot("3-refused.png")

    for width in (1280, 900, 600):  # a laptop, a half-screen window, a phone held sideways
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page scrolls sideways at {width} px"
    page.wait_for_timeout(300)
    visit.screenshot("6-narrow.png")
    visit.assert_clean()


def test_an_agent_can_reply_publicly_and_add_an_internal_note(
    visit: Visit, service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    visit.open_ticket("CSV export times out")
    visit.comment("Priya Natarajan (agent)", "Thanks Carmen, we can reproduce the timeout and are on it.")
    expect(visit.conversation.locator(".comment.agent")).to_contain_text("we can reproduce the timeout")
    expect(visit.emails).to_contain_text("To carmen.ortiz@example.com, deepak.rao@example.com")
    expect(visit.emails).to_contain_text("we can reproduce the timeout")

    visit.comment("Tom Becker (agent)", "Escalation request: just testing the trigger from an agent", public=False)
    expect(visit.conversation.locator(".comment.internal")).to_contain_text("just testing the trigger")
    expect(visit.emails.locator("article")).to_have_count(1)

    # Neither an agent's comment nor an internal note calls the service.
    expect(visit.deliveries).to_contain_text("No deliveries yet")
    assert service.zendesk.deliveries() == []
    expect(visit.prop("tags")).to_have_text("no tags")
    visit.screenshot("4-agent.png")
    visit.assert_clean()

    # The page polls every second; the sandbox's request log (shown by `escalations start`) leaves that out.
    logged = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any("POST /__sandbox__/tickets/3/comments" in line for line in logged), logged
    assert not any("/__sandbox__/state" in line for line in logged), logged


def test_the_page_shows_what_people_write_as_text_and_never_runs_it(visit: Visit, service: Service) -> None:
    zendesk = service.zendesk
    carmen = next(u for u in zendesk.users() if u["name"] == "Carmen Ortiz")
    zendesk.create_ticket(
        requester_id=carmen["id"], subject=f"<b>Bold</b> {HOSTILE}", description=f"<script>alert(2)</script> {HOSTILE}"
    )
    visit.open_ticket(f"<b>Bold</b> {HOSTILE}")
    expect(visit.conversation).to_contain_text("<script>alert(2)</script>")

    visit.comment("Carmen Ortiz (requester)", HOSTILE)
    expect(visit.conversation.locator(".comment").last).to_have_text(re.compile(re.escape(HOSTILE) + "$"))
    visit.comment("Priya Natarajan (agent)", f"Quoting you: {HOSTILE}")
    expect(visit.emails).to_contain_text(f"Quoting you: {HOSTILE}")
    visit.comment("Carmen Ortiz (requester)", f"Escalation request: {HOSTILE}")
    expect(visit.prop("fields")).to_contain_text(f"Escalation reason{HOSTILE}", timeout=SERVICE_TIMEOUT)
    expect(visit.page.locator("#ticket-title")).to_have_text(f"#6 <b>Bold</b> {HOSTILE}")

    page = visit.page
    for _ in range(2):  # two more reads of the account, each drawn, in case something renders late
        page.evaluate("() => refresh({fresh: true})")
    assert page.locator("main img, main script, main b").count() == 0
    visit.screenshot("5-text-only.png")
    visit.assert_clean()


WIDTHS = pytest.mark.parametrize("width", [375, 1280], ids=["375px", "1280px"])


@WIDTHS
def test_solving_from_the_page_acts_as_the_tickets_agent_and_everything_reads_as_people_say_it(
    visit: Visit, width: int
) -> None:
    page = visit.page
    page.set_viewport_size({"width": width, "height": 900})
    visit.open_ticket("Cannot log in after resetting my password")
    expect(page.locator("#ticket-meta")).to_contain_text("· 1 comment ·")
    example = page.locator("button.example").first
    expect(example).to_have_text("Escalation request: nobody on our team can log in since this morning")
    example.click()
    page.get_by_role("button", name="Add comment").click()
    expect(visit.prop("fields")).to_contain_text("Requested", timeout=SERVICE_TIMEOUT)
    # Bob's comment, the managers' note and his confirmation joined the description.
    expect(page.locator("#ticket-meta")).to_contain_text("· 4 comments ·")

    fields = visit.prop("fields").inner_text()
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", fields), "field times are shown as people read them"
    expect(visit.prop("fields")).to_contain_text(re.compile(r"Escalation requested at\s*\w{3} \d{1,2}, 2\d{3}, .* UTC"))
    answers = visit.deliveries.locator(".badge.attempt")
    expect(answers.first).to_have_text(re.compile(r"^(200 OK|202 Accepted)$"))

    # The service ignores its own account's changes; the ticket's agent's it does not: resolved now, not at the
    # next sweep (which this service runs once an hour).
    page.get_by_label("Status", exact=True).select_option("solved")
    page.get_by_role("button", name="Set status").click()
    expect(visit.prop("status")).to_have_text("solved")
    expect(visit.prop("fields")).to_contain_text("Resolved", timeout=SERVICE_TIMEOUT)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways at {width} px"
    visit.screenshot(f"solved-{width}.png")
    visit.assert_clean()
