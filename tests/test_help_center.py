"""Customers escalate from the Help Center: the theme files, `escalations package-theme`, and the customer view.

The browser tests run the real service (`escalations setup` + `serve`, one for
the module: the `service` fixture) against the sandbox, install the files the real
`escalations package-theme` wrote into the sandbox's Help Center, sign in as a
customer (a session cookie, as in Zendesk) and use the request page in Chromium.
The page's only way to Zendesk is the API as that customer: the Requests API,
with the CSRF token from users/me for the comment. The tests wait for events
(the ticket's fields, the page's text), never for the clock. Screenshots go to
tests/artifacts/help_center/.

The script's pure part (which view, which words) is called in a blank page with
plain data, and the comment it writes is read back by the policy's own functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Dialog, Locator, Page, expect

from escalations.admin.theme_package import (
    CUSTOMER_VISIBLE,
    CUSTOMER_VISIBLE_TITLES,
    DETAILS_SNIPPET,
    LOCALES,
    SNIPPET,
    build_theme,
    theme_files,
    theme_settings,
)
from escalations.config import load_settings
from escalations.core.fields import ESCALATION_FIELDS, status_tag
from escalations.core.text import Phrases, asks_for_escalation, contact_details, form_locale, reason_for_escalation
from escalations.sandbox import SandboxServer, SandboxZendesk
from escalations.sandbox.help_center import render_snippet
from escalations.zendesk.state import AccountState, load_state
from tests.app_pages import SCREENSHOTS, block_outside, forget_storage
from tests.conftest import ROOT, Service, provisioned_in_process, wait_until
from tests.test_end_to_end import emails_for

ARTIFACTS = ROOT / "tests" / "artifacts" / "help_center"
SERVICE_TIMEOUT = 20_000  # ms: comment → trigger → webhook → queue → Zendesk → the page's next look
REASON = "Our checkout has been down since Monday and we are losing orders."
HOSTILE = "<img src=x onerror=alert(1)> <script>alert(2)</script> & our exports still fail"
PRIVATE_FIELDS = tuple(f.key for f in ESCALATION_FIELDS if not f.customer_visible)
SETTINGS_BLOCK = re.compile(r"<script type=\"application/json\" data-escalation-request-config>(.*?)</script>", re.S)


# -- the account, the theme and the customer's browser ---------------------------------------------


def person(zendesk: SandboxZendesk, name: str) -> dict[str, Any]:
    return next(user for user in zendesk.users() if user["name"].startswith(name))


def field_ids(service: Service) -> dict[str, int]:
    return load_state(service.data_dir / "state.json").field_ids


def recorded(service: Service, ticket_id: int) -> dict[str, Any]:
    """The escalation fields of a ticket by key, as the agents see them."""
    by_id = {field_id: key for key, field_id in field_ids(service).items()}
    ticket = service.zendesk.ticket(ticket_id)
    return {by_id[item["id"]]: item["value"] for item in ticket["custom_fields"] if item["id"] in by_id}


def comments_by(service: Service, ticket_id: int, author_id: int) -> list[str]:
    return [c["body"] for c in service.zendesk.comments(ticket_id) if c["author_id"] == author_id]


def settings_in(snippet: str) -> dict[str, Any]:
    match = SETTINGS_BLOCK.search(snippet)
    assert match is not None, "the snippet carries no settings"
    settings: dict[str, Any] = json.loads(match.group(1))
    return settings


def package_and_install(service: Service) -> dict[str, str]:
    """`escalations package-theme` as an admin runs it, and its files added to the sandbox's theme."""
    folder = service.workdir / "theme"
    service.run("package-theme", "--output", str(folder))
    files = {
        str(path.relative_to(folder)): path.read_text(encoding="utf-8") for path in folder.rglob("*") if path.is_file()
    }
    installed = requests.put(f"{service.sandbox_url}/__sandbox__/hc/theme", json={"files": files}, timeout=5)
    assert installed.status_code == 204, installed.text
    return files


@dataclass
class Customer:
    """A customer's browser, signed in to the Help Center, and what went wrong in it."""

    page: Page
    base_url: str
    dialogs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def open_request(self, ticket_id: int, locale: str = "en-us") -> None:
        self.page.goto(f"{self.base_url}/hc/{locale}/requests/{ticket_id}")

    @property
    def section(self) -> Locator:
        return self.page.locator("[data-escalation-request]")

    def escalate(self, reason: str, contact: str = "", *, action: str = "Escalate this request") -> None:
        self.page.get_by_role("button", name=action).click()
        form = self.page.get_by_role("form", name=action)
        form.get_by_role("textbox").first.fill(reason)
        if contact:
            form.get_by_role("textbox").nth(1).fill(contact)
        form.locator("button[type=submit]").click()
        # Sent once the page says so; waiting in Playwright also lets its request routing run.
        expect(self.section).to_have_attribute("data-escalation-view", "requested")

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> dict[str, Any]:
        """A request from the page's own script context, with the session cookie (and `token` if given)."""
        script = """async ([method, path, body, token]) => {
            const headers = {'Content-Type': 'application/json'};
            if (token !== null) headers['X-CSRF-Token'] = token;
            const sent = body === null ? undefined : JSON.stringify(body);
            const response = await fetch(path, {method, headers, body: sent});
            return {status: response.status, body: await response.json()};
        }"""
        answer: dict[str, Any] = self.page.evaluate(script, [method, path, body, token])
        return answer

    def screenshot(self, name: str, *, down_to: Locator | None = None) -> None:
        """The whole page, or its top down to the bottom of `down_to` (with TEST_SCREENSHOTS=1)."""
        if not SCREENSHOTS:
            return
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if down_to is None:
            self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)
            return
        bottom = down_to.evaluate("e => e.getBoundingClientRect().bottom + window.scrollY")  # in the page, not the view
        width = self.page.viewport_size["width"] if self.page.viewport_size else 1280
        clip = {"x": 0, "y": 0, "width": width, "height": bottom + 16}
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True, clip=clip)  # type: ignore[arg-type]

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"the page opened dialogs: {self.dialogs}"
        assert self.problems == [], f"the page reported errors: {self.problems}"
        assert self.blocked == [], f"the page asked for outside resources: {self.blocked}"


SignIn = Callable[..., Customer]


@pytest.fixture
def service(shared_service: Service) -> Service:
    """One service for the module's browser tests: each works on a new ticket like a seeded one, except the
    newcomer's, the one test that reaches seeded ticket 1 (by its title, from the sandbox's page) and the
    only one to change it."""
    return shared_service


@pytest.fixture
def sign_in(browser: Browser, service: Service) -> Iterator[SignIn]:
    """Sign a customer in to the sandbox's Help Center in a fresh browser, with the packaged theme installed."""
    package_and_install(service)
    contexts = []

    def signed_in(name: str, *, javascript: bool = True) -> Customer:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC", java_script_enabled=javascript
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        customer = Customer(page, service.sandbox_url)

        def record_dialog(dialog: Dialog) -> None:
            customer.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", record_dialog)
        page.on("pageerror", lambda error: customer.problems.append(f"page error: {error}"))
        block_outside(page, service.sandbox_url, customer.blocked)
        user = person(service.zendesk, name)
        page.goto(f"{service.sandbox_url}/__sandbox__/hc/sign_in?user_id={user['id']}")
        expect(page.get_by_text(f"Signed in as {user['name']}")).to_be_visible()
        return customer

    try:
        yield signed_in
    finally:
        for context in contexts:
            context.close()


# -- in the browser, with the service running -------------------------------------------------------------


def test_a_newcomer_escalates_from_the_request_page_once_and_watches_it_recorded(
    browser: Browser, service: Service, sign_in: SignIn
) -> None:
    zendesk = service.zendesk
    alice = person(zendesk, "Alice")
    # From the sandbox's own page, as ./run.sh leaves a newcomer: the link to the customer view.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC")
    try:
        start = context.new_page()
        start.goto(service.sandbox_url + "/")
        with context.expect_page() as opened:
            start.get_by_role("link", name="customer view (Help Center)").click()
        customer_view = opened.value
        customer_view.get_by_role("link", name="Sign in as Alice Moreau").click()
        customer_view.get_by_role("link", name="Charged twice for my March invoice").click()
        expect(customer_view.get_by_role("button", name="Escalate this request")).to_be_visible()
    finally:
        context.close()

    customer = sign_in("Alice")
    customer.open_request(1)
    page = customer.page
    expect(page.get_by_role("heading", name="Charged twice for my March invoice")).to_be_visible()
    expect(customer.section).to_have_attribute("data-escalation-view", "offer")
    customer.page.get_by_role("button", name="Escalate this request").click()
    form = page.get_by_role("form", name="Escalate this request")
    for words in ("A Support Manager, not the engineer", "24 working hours", "does not by itself", "only once"):
        expect(form).to_contain_text(words)

    form.get_by_label("Why should this case be escalated?").fill(REASON)
    form.get_by_label("New contact details for the Support Manager (optional)").fill("ops at example")
    form.get_by_role("button", name="Escalate", exact=True).click()
    expect(form.get_by_label("New contact details for the Support Manager (optional)")).to_have_accessible_description(
        re.compile("email address or a phone number, or leave this field empty")
    )
    assert comments_by(service, 1, alice["id"]) == [zendesk.comments(1)[0]["body"]]  # nothing sent yet
    form.get_by_label("New contact details for the Support Manager (optional)").fill("+44 20 7946 0958")
    customer.screenshot("1-form.png", down_to=customer.section)  # docs/help-center.png
    form.get_by_role("button", name="Escalate", exact=True).click()

    expect(customer.section.get_by_role("heading", name="Escalation requested")).to_be_visible()
    expect(customer.section).to_contain_text(REASON)
    wait_until(lambda: recorded(service, 1).get("status") == status_tag("requested"), what="the escalation recorded")
    expect(customer.section.get_by_role("heading", name="This request is escalated")).to_be_visible(
        timeout=SERVICE_TIMEOUT
    )
    fields = recorded(service, 1)
    for label in ("Waiting for a Support Manager", "Requested", "First response due"):
        expect(customer.section).to_contain_text(label)
    expect(customer.section).to_contain_text("can be escalated only once")
    wait_until(lambda: service.decisions(1), what="the worker's decision")
    expect(page.get_by_role("button", name="Escalate this request")).to_have_count(0)
    customer.screenshot("2-escalated.png")

    # One comment, in the customer's words with the phrase; escalated once, confirmed once.
    assert comments_by(service, 1, alice["id"])[1:] == [
        f"Escalation request: {REASON}\n\nNew contact details: +44 20 7946 0958"
        "\n\n(Sent from the Help Center in English)"
    ]
    assert fields["reason"].startswith(REASON) and fields["requested_by"] == str(alice["id"])
    assert service.decisions(1) == ["escalated"]
    confirmations = [e for e in emails_for(zendesk, 1) if "received your request to escalate" in e["body"]]
    assert len(confirmations) == 1 and alice["email"] in confirmations[0]["to"]
    assert "contact you at +44 20 7946 0958, as you asked" in confirmations[0]["body"]
    notes = [c for c in zendesk.comments(1) if not c["public"]]
    assert len(notes) == 1 and notes[0]["body"].count("+44 20 7946 0958") == 1

    # A second visit: the recorded state, once-only explained, no action; nothing private on the page.
    customer.open_request(1)
    expect(customer.section.get_by_role("heading", name="This request is escalated")).to_be_visible()
    expect(customer.section).to_contain_text("For an update, add a comment to this request")
    expect(page.get_by_role("button", name="Escalate this request")).to_have_count(0)
    text = page.locator("body").inner_text()
    for private in ("Escalation received", "Before the escalation", "Priya", "Escalation reason", "requested by"):
        assert private not in text, f"{private!r} reached the customer's page"
    details = page.locator(".request-details").inner_text()
    for raw in (*CUSTOMER_VISIBLE_TITLES, fields["requested_at"], fields["response_due"]):
        assert raw not in details, f"{raw!r} is listed raw in the request's details"
    customer.assert_clean()


def test_a_copied_end_user_escalates_their_colleagues_request(service: Service, sign_in: SignIn) -> None:
    ticket = service.new_ticket(like=3)
    deepak = person(service.zendesk, "Deepak")
    customer = sign_in("Deepak")
    customer.open_request(ticket)  # like Carmen's request 3, Deepak copied
    customer.escalate("The export times out for the whole finance team every morning.")

    wait_until(
        lambda: recorded(service, ticket).get("status") == status_tag("requested"), what="the escalation recorded"
    )
    assert recorded(service, ticket)["requested_by"] == str(deepak["id"])
    expect(customer.section.get_by_role("heading", name="This request is escalated")).to_be_visible(
        timeout=SERVICE_TIMEOUT
    )
    note = next(c for c in service.zendesk.comments(ticket) if not c["public"])
    assert "copied on this case, not the requester" in note["body"]
    customer.assert_clean()


def test_a_closed_request_says_it_can_no_longer_be_escalated_and_leaves_the_follow_up_to_the_theme(
    service: Service, sign_in: SignIn
) -> None:
    ticket = service.new_ticket(like=5)
    service.zendesk.set_status(ticket, "closed")
    customer = sign_in("Alice")
    customer.open_request(ticket)

    expect(customer.section).to_have_attribute("data-escalation-view", "closed")
    expect(customer.section).to_have_text("This request is closed, so it can no longer be escalated.")
    expect(customer.section.get_by_role("link")).to_have_count(0)
    expect(customer.page.get_by_role("link", name="create a follow-up")).to_have_count(1)  # the theme's own line
    expect(customer.page.get_by_role("button", name="Escalate this request")).to_have_count(0)
    customer.screenshot("3-closed.png")
    customer.assert_clean()


def test_a_customer_who_is_not_on_the_request_sees_nothing_of_it(service: Service, sign_in: SignIn) -> None:
    ticket = service.new_ticket(like=5)
    customer = sign_in("Bob")
    customer.open_request(ticket)  # like Alice's request 5

    expect(customer.page.get_by_role("heading", name="Oops! We can’t find that page.")).to_be_visible()
    expect(customer.section).to_have_count(0)
    assert "billing address" not in customer.page.locator("body").inner_text()
    assert customer.api("GET", f"/api/v2/requests/{ticket}.json")["status"] == 404
    me = customer.api("GET", "/api/v2/users/me.json")["body"]["user"]
    refused = customer.api(
        "PUT", f"/api/v2/requests/{ticket}.json", {"request": {"comment": {"body": "x"}}}, me["authenticity_token"]
    )
    assert refused["status"] == 404
    customer.assert_clean()


def test_markup_in_the_reason_is_shown_as_text_and_stored_as_the_customer_wrote_it(
    service: Service, sign_in: SignIn
) -> None:
    ticket = service.new_ticket(like=3)
    carmen = person(service.zendesk, "Carmen")
    customer = sign_in("Carmen")
    customer.open_request(ticket)
    customer.escalate(HOSTILE)

    expect(customer.section.locator("blockquote")).to_have_text(HOSTILE)
    wait_until(
        lambda: recorded(service, ticket).get("status") == status_tag("requested"), what="the escalation recorded"
    )
    sent = f"Escalation request: {HOSTILE}\n\n(Sent from the Help Center in English)"
    assert comments_by(service, ticket, carmen["id"])[-1] == sent
    assert recorded(service, ticket)["reason"] == HOSTILE

    customer.open_request(ticket)
    customers_comment = customer.page.locator(".comment-body", has_text="Escalation request:")
    expect(customers_comment).to_have_text(sent)
    expect(customer.section.get_by_role("heading", name="This request is escalated")).to_be_visible()
    assert customer.page.locator("main img, main b").count() == 0
    assert customer.page.locator("main script").count() == 2  # the snippet's settings and its script, no more
    customer.assert_clean()


def test_a_write_without_the_csrf_token_is_refused_as_zendesk_refuses_it(service: Service, sign_in: SignIn) -> None:
    ticket = service.new_ticket(like=5)
    alice = person(service.zendesk, "Alice")
    customer = sign_in("Alice")
    customer.open_request(ticket)
    comment = {"request": {"comment": {"body": "Any news on the refund?"}}}
    token = customer.api("GET", "/api/v2/users/me.json")["body"]["user"]["authenticity_token"]

    without = customer.api("PUT", f"/api/v2/requests/{ticket}.json", comment)
    wrong = customer.api("PUT", f"/api/v2/requests/{ticket}.json", comment, "not-the-token")
    read = customer.api("GET", f"/api/v2/requests/{ticket}.json")
    written = customer.api("PUT", f"/api/v2/requests/{ticket}.json", comment, token)

    refusal = {"error": {"title": "Forbidden", "message": "Invalid authenticity token"}}
    assert (without["status"], without["body"]) == (wrong["status"], wrong["body"]) == (403, refusal)
    assert read["status"] == 200 and written["status"] == 200
    assert comments_by(service, ticket, alice["id"])[1:] == ["Any news on the refund?"]
    # The page's own comment form carries the token too; a forged one is refused the same way.
    customer.page.evaluate("() => document.querySelector('input[name=authenticity_token]').value = 'forged'")
    customer.page.get_by_label("Add to conversation").fill("Escalation request: forged form")
    customer.page.get_by_role("button", name="Submit").click()
    expect(customer.page.get_by_text("Invalid authenticity token")).to_be_visible()
    assert comments_by(service, ticket, alice["id"])[1:] == ["Any news on the refund?"]
    customer.assert_clean()


def test_without_javascript_the_phrase_in_a_comment_still_escalates(service: Service, sign_in: SignIn) -> None:
    ticket = service.new_ticket(like=2)
    customer = sign_in("Bob", javascript=False)
    customer.open_request(ticket)
    expect(customer.section).to_be_hidden()
    customer.page.get_by_label("Add to conversation").fill("Escalation request: I am locked out of my account.")
    customer.page.get_by_role("button", name="Submit").click()

    wait_until(
        lambda: recorded(service, ticket).get("status") == status_tag("requested"), what="the escalation recorded"
    )
    expect(customer.page.locator(".comment-body", has_text="Escalation request:")).to_have_text(
        "Escalation request: I am locked out of my account."
    )
    expect(customer.section).to_be_hidden()


@pytest.fixture
def german_service(service_env: Service) -> Service:
    """The service with a German phrase beside the English one, set up and serving."""
    return service_env.set_up_and_start(ESCALATION_PHRASES="de=Eskalationsanfrage|escalation request")


def test_a_german_customer_escalates_in_german_with_the_german_phrase(
    browser: Browser, german_service: Service
) -> None:
    package_and_install(german_service)
    bob = person(german_service.zendesk, "Bob")
    context = browser.new_context(locale="de-DE", timezone_id="Europe/Berlin")
    try:
        page = context.new_page()
        page.goto(
            f"{german_service.sandbox_url}/__sandbox__/hc/sign_in?user_id={bob['id']}&return_to=/hc/de/requests/2"
        )
        page.get_by_role("button", name="Diese Anfrage eskalieren").click()
        form = page.get_by_role("form", name="Diese Anfrage eskalieren")
        expect(form).to_contain_text("nicht die Person, die Ihren Fall bearbeitet")
        form.get_by_label("Warum soll dieser Fall eskaliert werden?").fill("Seit Montag kann sich niemand anmelden.")
        form.get_by_role("button", name="Eskalieren", exact=True).click()

        expect(page.get_by_role("heading", name="Eskalation angefordert")).to_be_visible()
        wait_until(
            lambda: recorded(german_service, 2).get("status") == status_tag("requested"), what="the escalation recorded"
        )
        expect(page.get_by_role("heading", name="Diese Anfrage ist eskaliert")).to_be_visible(timeout=SERVICE_TIMEOUT)
        assert comments_by(german_service, 2, bob["id"])[-1] == (
            "Eskalationsanfrage: Seit Montag kann sich niemand anmelden."
            "\n\n(Über das Hilfe-Center auf Deutsch gesendet)"
        )
        assert recorded(german_service, 2)["reason"] == "Seit Montag kann sich niemand anmelden."
        # Bob's profile says English; he wrote on the German page, so the confirmation is German.
        assert bob["locale"] == "en-US"
        wait_until(lambda: german_service.decisions(2) == ["escalated"], what="the confirmation")
        confirmation = [c["body"] for c in german_service.zendesk.comments(2) if c["public"]][-1]
        assert confirmation.startswith("Guten Tag,") and "Ein Support-Manager" in confirmation
    finally:
        context.close()


# -- the script's pure part, in a blank page -------------------------------------------------------------

SETTINGS = theme_settings(
    {key: 100 + position for position, key in enumerate(CUSTOMER_VISIBLE)},
    Phrases(),
    requester_only=False,
)


@pytest.fixture(scope="module")
def script(browser: Browser) -> Iterator[Callable[..., Any]]:
    """Call `EscalationRequest.<name>(...args)` of the packaged script."""
    context = browser.new_context(locale="en-US", timezone_id="UTC")
    page = context.new_page()
    page.set_content("<!doctype html><title>logic</title>")
    page.add_script_tag(content=theme_files(SETTINGS)["assets/escalation-request.js"])

    def call(name: str, *args: Any) -> Any:
        return page.evaluate("([name, args]) => window.EscalationRequest[name](...args)", [name, list(args)])

    try:
        yield call
    finally:
        context.close()


CONFIGURED_PHRASES = Phrases.of(
    {
        "en": ["escalation request"],
        "de": ["Eskalationsanfrage"],
        "fr": ["demande d'escalade"],
        "es": ["solicitud de escalamiento"],
        "pt-BR": ["pedido de escalonamento"],
        "ja": ["エスカレーション依頼"],
    }
)


@pytest.mark.parametrize("phrases", [Phrases(), CONFIGURED_PHRASES], ids=["default", "configured"])
@pytest.mark.parametrize("locale", LOCALES)
def test_the_comment_the_form_writes_is_read_by_the_policy_as_the_phrase_and_the_reason(
    script: Callable[..., Any], locale: str, phrases: Phrases
) -> None:
    settings = theme_settings(SETTINGS["fields"], phrases, requester_only=False)
    reason = "Since Monday nothing works: 500 orders are stuck.\nPlease call me back."
    body = script("commentFor", settings, locale, reason, "jane.doe@example.com")

    assert phrases.for_locale(locale)[0].casefold() in body.casefold()
    assert asks_for_escalation(body, phrases)
    assert reason_for_escalation(body, phrases).startswith(reason)
    assert contact_details(body) == ("jane.doe@example.com",)
    assert form_locale(body) == locale, "the service answers in the page's language"
    quoted = "\n".join(f"> {line}" for line in body.splitlines())
    assert form_locale(f"Thanks!\n\n{quoted}") is None, "not when it is only quoted"


def test_the_help_center_locale_picks_the_texts_and_the_phrase(script: Callable[..., Any]) -> None:
    pairs = {"en-us": "en", "de": "de", "de-at": "de", "fr-ca": "fr", "es-419": "es", "pt-br": "pt-BR", "pt": "pt-BR"}
    assert {given: script("localeFor", given) for given in [*pairs, "ja", "nl", ""]} == {
        **pairs,
        "ja": "ja",
        "nl": "en",
        "": "en",
    }
    english = set(script("texts", "en"))
    assert {"action", "reasonLabel", "submit", "onceOnly"} <= english
    for locale in LOCALES:
        assert set(script("texts", locale)) == english, f"{locale} lacks texts"


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def request_json(status: str = "open", *, escalated: str | None = None, cc: tuple[int, ...] = ()) -> dict[str, Any]:
    fields = SETTINGS["fields"]
    values = {fields["status"]: status_tag(escalated) if escalated else None, fields["requested_at"]: None}
    if escalated:
        values[fields["requested_at"]] = "2026-11-27T15:00:00Z"
        values[fields["response_due"]] = "2026-11-30T15:00:00Z"
    return {
        "id": 7,
        "status": status,
        "requester_id": 1,
        "email_cc_ids": list(cc),
        "collaborator_ids": list(cc),
        "custom_fields": [{"id": field_id, "value": value} for field_id, value in values.items()],
    }


@pytest.mark.parametrize(
    ("request_", "user_id", "role", "requester_only", "view"),
    [
        (request_json(), 1, "end-user", False, "offer"),
        (request_json("solved"), 1, "end-user", False, "offer"),
        (request_json("pending"), 1, "end-user", True, "offer"),
        (request_json(cc=(2,)), 2, "end-user", False, "offer"),
        (request_json(cc=(2,)), 2, "end-user", True, "requester_only"),
        (request_json(), 3, "end-user", False, "none"),
        (request_json(), 1, "agent", False, "none"),
        (request_json("closed"), 1, "end-user", False, "closed"),
        (request_json(escalated="requested"), 1, "end-user", False, "escalated"),
        (request_json("closed", escalated="resolved"), 1, "end-user", False, "escalated"),
        (request_json(escalated="acknowledged", cc=(2,)), 2, "end-user", True, "escalated"),
    ],
    ids=[
        "requester",
        "solved: escalating reopens it",
        "requester, requester only",
        "copied",
        "copied, requester only",
        "not on it",
        "agent",
        "closed",
        "escalated",
        "escalated then closed",
        "escalated, seen by a copied end-user",
    ],
)
def test_who_sees_what_follows_the_policy(
    script: Callable[..., Any], request_: dict[str, Any], user_id: int, role: str, requester_only: bool, view: str
) -> None:
    settings = {**SETTINGS, "requesterOnly": requester_only}
    assert script("viewFor", request_, {"id": user_id, "role": role}, settings) == view


def test_the_recorded_state_is_read_from_the_customer_visible_fields(script: Callable[..., Any]) -> None:
    escalation = script("escalationOf", request_json(escalated="requested"), SETTINGS["fields"])
    assert escalation == {
        "status": "requested",
        "requestedAt": "2026-11-27T15:00:00Z",
        "responseDue": "2026-11-30T15:00:00Z",
        "acknowledgedAt": None,
        "resolvedAt": None,
    }
    assert script("escalationOf", request_json(), SETTINGS["fields"]) is None


@pytest.mark.parametrize(
    ("contact", "accepted"),
    [
        ("", True),
        ("jane.doe@example.com", True),
        ("+44 20 7946 0958", True),
        ("(030) 1234-5678", True),
        ("+49 30 1234-5678", True),
        ("jane at example", False),
        ("12345", False),
        ("+1 234", False),
    ],
)
def test_the_form_accepts_contact_details_the_service_will_pass_on(
    script: Callable[..., Any], contact: str, accepted: bool
) -> None:
    problems = script("formProblems", "The reason is long enough.", contact)
    assert problems == {"reason": "", "contact": "" if accepted else "contactInvalid"}
    if accepted and contact:
        body = script("commentFor", SETTINGS, "en", "The reason is long enough.", contact)
        found = contact_details(body)
        assert len(found) == 1 and (found[0] == contact or digits(found[0]) == digits(contact))


def test_every_problem_of_the_form_is_found_at_once(script: Callable[..., Any]) -> None:
    assert script("formProblems", " short    ", "jane at example") == {
        "reason": "reasonTooShort",
        "contact": "contactInvalid",
    }
    assert script("formProblems", " short    ", "") == {"reason": "reasonTooShort", "contact": ""}


def test_dates_are_in_the_customers_time_zone_else_the_accounts(script: Callable[..., Any]) -> None:
    assert script("timeZoneFor", {"iana_time_zone": "Asia/Tokyo"}, {"timezone": "Europe/Berlin"}) == "Asia/Tokyo"
    assert script("timeZoneFor", {}, {"timezone": "Europe/Berlin"}) == "Europe/Berlin"
    assert script("timeZoneFor", {"iana_time_zone": "Mars/Base"}, {}) == "UTC"
    assert script("formatTime", "2026-12-08T14:15:20Z", "en-us", "Europe/Berlin") == (
        "Dec 8, 2026, 3:15 PM Central European Standard Time"
    )


# -- escalations package-theme ---------------------------------------------------------------------------


def test_package_theme_writes_the_snippet_with_the_accounts_fields_and_phrases(service_env: Service) -> None:
    service_env.env["ESCALATION_PHRASES"] = "de=Eskalationsanfrage,ja=エスカレーション依頼"
    service_env.env["ESCALATION_REQUESTER_ONLY"] = "true"
    service_env.run("setup")
    folder, archive = service_env.workdir / "out" / "theme", service_env.workdir / "out" / "theme.zip"
    printed = service_env.run("package-theme", "--output", str(folder)).stdout
    zipped = service_env.run("package-theme", "--output", str(archive), check=False)

    ids = field_ids(service_env)
    written = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert written == {SNIPPET, DETAILS_SNIPPET, "assets/escalation-request.js", "assets/escalation-request.css"}
    snippet = (folder / SNIPPET).read_text(encoding="utf-8")
    assert settings_in(snippet) == {
        "fields": {key: ids[key] for key in CUSTOMER_VISIBLE},
        "phrases": {
            "en": "escalation request",
            "de": "Eskalationsanfrage",
            "fr": "escalation request",
            "es": "escalation request",
            "pt-BR": "escalation request",
            "ja": "エスカレーション依頼",
        },
        "requesterOnly": True,
        "timezone": "UTC",
    }
    assert not any(str(ids[key]) in snippet for key in PRIVATE_FIELDS), "a private field's id is in the snippet"
    assert "{{asset 'escalation-request.js'}}" in snippet and "{{request.id}}" in snippet
    details = (folder / DETAILS_SNIPPET).read_text(encoding="utf-8")
    assert all(f"{{{{#is title '{title}'}}}}{{{{else}}}}" in details for title in CUSTOMER_VISIBLE_TITLES)
    # Snippets to paste, never a theme to import: no zip, and the words say so.
    assert zipped.returncode == 2 and not archive.exists()
    assert zipped.stderr.strip().endswith("not a theme to import; give a folder")
    assert SNIPPET in printed and DETAILS_SNIPPET in printed and "assets/escalation-request.js" in printed
    assert "not a theme to import" in printed and "theme.zip" not in printed


def test_package_theme_before_setup_or_into_an_unwritable_place_says_so_in_one_line(service_env: Service) -> None:
    before_setup = service_env.run("package-theme", check=False)
    service_env.run("setup")
    (service_env.workdir / "a-file").write_text("not a folder")
    unwritable = service_env.run(
        "package-theme", "--output", str(service_env.workdir / "a-file" / "theme"), check=False
    )

    assert before_setup.returncode == unwritable.returncode == 2
    assert len(before_setup.stderr.strip().splitlines()) == 1
    assert before_setup.stderr.strip().endswith("state.json does not exist: run 'escalations setup' first")
    assert len(unwritable.stderr.strip().splitlines()) == 1 and "cannot write" in unwritable.stderr
    assert "Traceback" not in before_setup.stderr + unwritable.stderr


def test_the_settings_stay_data_in_the_snippet_whatever_the_phrases_hold() -> None:
    phrases = Phrases.of({"en": ["</script><b>{{help_center.name}}</b> & co"]})
    state = AccountState(
        zendesk_url="https://acme.zendesk.com",
        field_ids={key: position for position, key in enumerate(CUSTOMER_VISIBLE, start=1)},
        manager_group_id=1,
        webhook_id="w",
        signing_secret="s",
        service_user_id=1,
        active_since="2026-11-01T00:00:00Z",
    )
    settings = load_settings({"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_EMAIL": "a@acme.test", "ZENDESK_API_TOKEN": "t"})
    snippet = build_theme(state, settings)[SNIPPET]
    rendered = render_snippet(
        theme_files(theme_settings(state.field_ids, phrases, requester_only=False))[SNIPPET],
        {"request.id": 7, "request.status": "open", "help_center.locale": "en-us"},
    )

    assert settings_in(rendered)["phrases"]["en"] == "</script><b>{{help_center.name}}</b> & co"
    assert rendered.count("</script>") == snippet.count("</script>") == 2
    assert 'data-request-id="7"' in rendered and 'href="/hc/theming/assets/escalation-request.css"' in rendered


def test_package_theme_with_a_field_missing_from_the_state_asks_for_setup_again(
    service_env: Service, tmp_path: Path
) -> None:
    """A state file from before the customer-visible fields existed is a one-line error, not a traceback."""
    service_env.run("setup")
    state_file = service_env.data_dir / "state.json"
    saved = json.loads(state_file.read_text())
    saved["field_ids"].pop("response_due")
    state_file.write_text(json.dumps(saved))

    result = service_env.run("package-theme", "--output", str(tmp_path / "theme"), check=False)

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "escalations: no field id for response_due in the state file: run 'escalations setup' again, then package"
    )


# -- the sandbox's Help Center ------------------------------------------------------------------------


def test_a_help_center_session_acts_as_its_customer_with_end_user_permissions(
    zendesk: tuple[SandboxZendesk, SandboxServer],
) -> None:
    account, server = zendesk
    alice = person(account, "Alice")
    browser_session = requests.Session()
    browser_session.get(f"{server.url}/__sandbox__/hc/sign_in?user_id={alice['id']}", timeout=5)
    me = browser_session.get(f"{server.url}/api/v2/users/me.json", timeout=5).json()["user"]
    with_token = {"X-CSRF-Token": me["authenticity_token"]}
    tickets = browser_session.get(f"{server.url}/api/v2/tickets/1.json", timeout=5)
    someone_elses = browser_session.get(f"{server.url}/api/v2/requests/2.json", timeout=5)
    admin_token = requests.get(
        f"{server.url}/api/v2/users/me.json", auth=(f"{account.email}/token", account.api_token), timeout=5
    ).json()["user"]
    browser_session.get(f"{server.url}/__sandbox__/hc/sign_out", timeout=5)
    after = browser_session.put(
        f"{server.url}/api/v2/requests/1.json", json={"request": {"comment": {"body": "hi"}}}, headers=with_token
    )

    assert me["id"] == alice["id"] and me["authenticity_token"]
    assert "authenticity_token" not in admin_token  # a token of the session, not of API-token calls
    assert tickets.status_code == 403 and someone_elses.status_code == 404
    assert after.status_code == 401


def test_end_users_see_only_the_fields_shown_in_the_help_center(
    zendesk: tuple[SandboxZendesk, SandboxServer],
) -> None:
    account, server = zendesk
    admin = (f"{account.email}/token", account.api_token)
    created = [
        requests.post(
            f"{server.url}/api/v2/ticket_fields.json",
            json={"ticket_field": {"type": "text", "title": title, "visible_in_portal": visible}},
            auth=admin,
            timeout=5,
        ).json()["ticket_field"]["id"]
        for title, visible in (("Shown", True), ("Agents only", False))
    ]
    shown, hidden = created
    requests.put(
        f"{server.url}/api/v2/tickets/1.json",
        json={"ticket": {"custom_fields": [{"id": shown, "value": "yes"}, {"id": hidden, "value": "secret"}]}},
        auth=admin,
        timeout=5,
    )
    as_alice = requests.get(
        f"{server.url}/api/v2/requests/1.json", auth=("alice.moreau@example.com/token", account.api_token), timeout=5
    ).json()["request"]
    as_admin = requests.get(f"{server.url}/api/v2/requests/1.json", auth=admin, timeout=5).json()["request"]

    assert as_alice["custom_fields"] == [{"id": shown, "value": "yes"}]
    assert {item["id"] for item in as_admin["custom_fields"]} >= {shown, hidden}


def test_the_sandbox_installs_only_a_snippet_it_can_render(zendesk: tuple[SandboxZendesk, SandboxServer]) -> None:
    _, server = zendesk
    files = theme_files(SETTINGS)
    unknown = {**files, SNIPPET: files[SNIPPET] + "{{request.subject}}"}
    lacking = {SNIPPET: files[SNIPPET], DETAILS_SNIPPET: files[DETAILS_SNIPPET]}

    refused = requests.put(f"{server.url}/__sandbox__/hc/theme", json={"files": unknown}, timeout=5)
    incomplete = requests.put(f"{server.url}/__sandbox__/hc/theme", json={"files": lacking}, timeout=5)
    installed = requests.put(f"{server.url}/__sandbox__/hc/theme", json={"files": files}, timeout=5)
    asset = requests.get(f"{server.url}/hc/theming/assets/escalation-request.js", timeout=5)

    assert refused.status_code == 400 and "{{request.subject}}" in refused.json()["description"]
    assert incomplete.status_code == 400 and "assets/escalation-request.js" in incomplete.json()["description"]
    assert installed.status_code == 204
    assert asset.headers["Content-Type"].startswith("text/javascript") and "EscalationRequest" in asset.text


def test_signing_in_goes_only_to_help_center_pages(zendesk: tuple[SandboxZendesk, SandboxServer]) -> None:
    account, server = zendesk
    alice = person(account, "Alice")
    elsewhere = requests.get(
        f"{server.url}/__sandbox__/hc/sign_in",
        params={"user_id": alice["id"], "return_to": "https://example.com/hc/"},
        allow_redirects=False,
        timeout=5,
    )
    unknown = requests.get(f"{server.url}/__sandbox__/hc/sign_in?user_id=1", timeout=5)

    assert elsewhere.status_code == 303 and elsewhere.headers["Location"].endswith("/hc/")
    assert "HttpOnly" in elsewhere.headers["Set-Cookie"] and "SameSite=Lax" in elsewhere.headers["Set-Cookie"]
    assert unknown.status_code == 404


# -- the form at a phone's and a desktop's width, in English and German: a module-wide sandbox, no service ----
# These are about the page alone: the sandbox plays Zendesk and the Help Center, and a test plays the service
# by writing the escalation fields where it needs a recorded state.

WIDTHS_AND_LANGUAGES = [(375, "en-us"), (1280, "de")]
SCREEN = pytest.mark.parametrize(("width", "locale"), WIDTHS_AND_LANGUAGES, ids=["375px-en", "1280px-de"])
WORDS = {
    "en-us": {
        "action": "Escalate this request",
        "submit": "Escalate",
        "reason": "Why should this case be escalated?",
        "contact": "New contact details for the Support Manager (optional)",
        "too_short": "Give a reason of at least 10 characters.",
        "not_contact": "Enter an email address or a phone number, or leave this field empty.",
        "intro": "If this case is not going well, you can ask a Support Manager to review it.",
        "not_sent": "The escalation could not be sent from this page. Add a comment to this request with the words "
        "“escalation request” and your reason instead; it is handled the same way.",
        "requested": "Escalation requested",
        "escalated": "This request is escalated",
        "recorded": "Your escalation is recorded.",
        "solved": "This request is solved. If the problem is not solved after all, escalating the request reopens it.",
        "resolved": "The escalation of this request is resolved",
        "resolved_body": "A case can be escalated only once. If you still need help, add a comment to this request.",
        "closed": "This request is closed, so it can no longer be escalated.",
        "tokyo": "Japan Standard Time",
        "replied": "A Support Manager has replied",
    },
    "de": {
        "action": "Diese Anfrage eskalieren",
        "submit": "Eskalieren",
        "reason": "Warum soll dieser Fall eskaliert werden?",
        "contact": "Neue Kontaktdaten für den Support-Manager (optional)",
        "too_short": "Geben Sie einen Grund mit mindestens 10 Zeichen an.",
        "not_contact": "Geben Sie eine E-Mail-Adresse oder Telefonnummer ein oder lassen Sie das Feld leer.",
        "intro": "Wenn dieser Fall nicht gut läuft, können Sie einen Support-Manager bitten, ihn zu prüfen.",
        "not_sent": "Die Eskalation konnte von dieser Seite aus nicht gesendet werden. Schreiben Sie stattdessen einen "
        "Kommentar zu dieser Anfrage mit den Worten „escalation request“ und Ihrem Grund; er wird genauso bearbeitet.",
        "requested": "Eskalation angefordert",
        "escalated": "Diese Anfrage ist eskaliert",
        "recorded": "Ihre Eskalation ist erfasst.",
        "solved": "Diese Anfrage ist gelöst. Wenn das Problem doch weiterbesteht, wird die Anfrage durch die "
        "Eskalation wieder geöffnet.",
        "resolved": "Die Eskalation dieser Anfrage ist abgeschlossen",
        "resolved_body": "Ein Fall kann nur einmal eskaliert werden. Wenn Sie weiterhin Hilfe brauchen, schreiben Sie "
        "einen Kommentar zu dieser Anfrage.",
        "closed": "Diese Anfrage ist geschlossen und kann deshalb nicht mehr eskaliert werden.",
        "tokyo": "Japanische Normalzeit",
        "replied": "Ein Support-Manager hat geantwortet",
    },
}
ALICE_TICKET, BOB_TICKET, DEEPAK_TICKET = 1, 2, 4
RED = "rgb(204, 51, 64)"


@dataclass
class Site:
    """The sandbox with its escalation fields and the packaged theme installed, shared by a module's tests."""

    account: SandboxZendesk
    url: str
    ids: dict[str, int]

    def record(self, ticket_id: int, status: str | None, **values: str | None) -> None:
        """Write the escalation fields as the service would (None clears them)."""
        keys = {"status": status_tag(status) if status else None, **values}
        fields = [{"id": self.ids[key], "value": value} for key, value in keys.items()]
        self.account.api_update_ticket(ticket_id, {"custom_fields": fields})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    account = SandboxZendesk()
    with provisioned_in_process(account, tmp_path_factory.mktemp("help-center")) as settings:
        ids = load_state(settings.state_file).field_ids
        files = theme_files(theme_settings(ids, Phrases(), requester_only=False, timezone="Europe/Berlin"))
        url = str(settings.zendesk_api_url)
        assert requests.put(f"{url}/__sandbox__/hc/theme", json={"files": files}, timeout=5).status_code == 204
        yield Site(account, url, ids)


@dataclass
class CustomerTab:
    """The page the module's tests take in turn, each signing its customer in afresh (see tests/app_pages.py's
    AppTab): no cookie, storage or error of the test before is left; errors go to the customer of the test."""

    page: Page
    customers: list[Customer] = field(default_factory=list)

    def take(self, base_url: str, width: int) -> Customer:
        self.page.context.clear_cookies()
        forget_storage(self.page, base_url)
        self.page.set_viewport_size({"width": width, "height": 900})
        self.customers.append(Customer(self.page, base_url))
        return self.customers[-1]


@pytest.fixture(scope="module")
def customer_tab(browser: Browser) -> Iterator[CustomerTab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(10_000)
    tab = CustomerTab(page)
    page.on("pageerror", lambda error: tab.customers[-1].problems.append(f"page error: {error}"))
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def visit(browser: Browser, site: Site, customer_tab: CustomerTab) -> Iterator[Callable[..., Customer]]:
    """A customer signed in and on one of their requests, at a width, in a language: a test's first visit in the
    module's tab, any further one in a page of its own."""
    opened: list[BrowserContext | None] = []  # None: the tab

    def open_(name: str, ticket_id: int, width: int, locale: str) -> Customer:
        if not opened:
            customer = customer_tab.take(site.url, width)
            page = customer.page
            opened.append(None)
        else:
            context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-US", timezone_id="UTC")
            opened.append(context)
            page = context.new_page()
            page.set_default_timeout(10_000)
            customer = Customer(page, site.url)
            page.on("pageerror", lambda error: customer.problems.append(f"page error: {error}"))
        user = person(site.account, name)
        page.goto(f"{site.url}/__sandbox__/hc/sign_in?user_id={user['id']}&return_to=/hc/{locale}/requests/{ticket_id}")
        expect(customer.section).to_have_attribute("data-escalation-view", re.compile(r"\w"))
        return customer

    try:
        yield open_
    finally:
        for context in opened:
            if context is not None:
                context.close()


def no_horizontal_scroll(page: Page) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"


@SCREEN
def test_every_error_shows_under_its_field_at_once_tied_to_it_and_focus_goes_to_the_first(
    visit: Callable[..., Customer], width: int, locale: str
) -> None:
    words = WORDS[locale]
    customer = visit("Bob", BOB_TICKET, width, locale)
    page = customer.page
    page.get_by_role("button", name=words["action"]).click()
    form = page.get_by_role("form", name=words["action"])
    reason, contact = form.get_by_label(words["reason"]), form.get_by_label(words["contact"])
    reason.fill("too slow")
    contact.fill("ops at example")
    form.get_by_role("button", name=words["submit"], exact=True).click()

    expect(reason).to_be_focused()
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(contact).to_have_attribute("aria-invalid", "true")
    expect(reason).to_have_accessible_description(re.compile(re.escape(words["too_short"])))
    expect(contact).to_have_accessible_description(re.compile(re.escape(words["not_contact"])))
    # Each error right under its own field, in red, and the red border stays while the field has focus.
    for field_, message in ((reason, words["too_short"]), (contact, words["not_contact"])):
        error = page.locator(f"#{field_.get_attribute('id')}-error")
        expect(error).to_have_text(message)
        field_box, error_box = field_.bounding_box(), error.bounding_box()
        assert field_box and error_box and 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 16
        assert error.evaluate("e => getComputedStyle(e).color") == RED
    assert reason.evaluate("e => getComputedStyle(e).borderTopColor") == RED
    no_horizontal_scroll(page)
    customer.screenshot(f"errors-{width}-{locale}.png", down_to=customer.section)

    reason.fill("The invoices have not gone out since Monday.")
    expect(reason).not_to_have_attribute("aria-invalid", "true")
    expect(contact).to_have_attribute("aria-invalid", "true")  # still wrong, still said
    assert customer.problems == []


@SCREEN
def test_the_offer_is_a_secondary_button_with_a_sentence_of_context(
    visit: Callable[..., Customer], width: int, locale: str
) -> None:
    words = WORDS[locale]
    customer = visit("Alice", ALICE_TICKET, width, locale)
    open_button = customer.page.get_by_role("button", name=words["action"])

    expect(customer.section.locator(".escalation-request__intro")).to_have_text(words["intro"])
    assert open_button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgba(0, 0, 0, 0)"
    open_button.click()
    submit = customer.page.get_by_role("button", name=words["submit"], exact=True)
    assert submit.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(31, 115, 183)"
    expect(customer.page.get_by_label(words["reason"])).to_be_focused()
    no_horizontal_scroll(customer.page)
    assert customer.problems == []


@SCREEN
def test_a_refused_write_offers_the_phrase_in_a_comment_never_a_reload(
    site: Site, visit: Callable[..., Customer], width: int, locale: str
) -> None:
    words = WORDS[locale]
    customer = visit("Deepak", DEEPAK_TICKET, width, locale)
    page = customer.page
    page.get_by_role("button", name=words["action"]).click()
    page.get_by_label(words["reason"]).fill("The lamp arrived broken, twice now.")
    site.account.inject_fault(status=403, count=1, method="PUT", path_regex=r"^/api/v2/requests/")
    try:
        page.get_by_role("button", name=words["submit"], exact=True).click()
        problem = customer.section.locator(".escalation-request__problem")
        expect(problem).to_have_text(words["not_sent"])
    finally:
        site.account.clear_faults()
    expect(problem).to_have_attribute("role", "alert")
    expect(page.get_by_role("button", name=words["submit"], exact=True)).to_be_focused()
    for loop in ("reload", "neu laden", "session", "Sitzung"):
        assert loop.lower() not in problem.inner_text().lower()
    assert customer.problems == []


@SCREEN
def test_the_panel_keeps_focus_and_announces_each_change_until_the_escalation_is_recorded(
    site: Site, visit: Callable[..., Customer], width: int, locale: str
) -> None:
    words = WORDS[locale]
    customer = visit("Alice", 5, width, locale)
    page = customer.page
    live = customer.section.locator("[role=status]")
    page.get_by_role("button", name=words["action"]).click()
    page.get_by_label(words["reason"]).fill("Nobody answers about the billing address.")
    page.get_by_role("button", name=words["submit"], exact=True).click()

    expect(page.get_by_role("heading", name=words["requested"])).to_be_focused()
    expect(live).to_have_text(words["requested"])
    site.record(5, "requested", requested_at="2026-11-27T15:00:00Z", response_due="2026-11-30T15:00:00Z")
    try:
        expect(page.get_by_role("heading", name=words["escalated"])).to_be_focused()
        expect(live).to_have_text(words["recorded"])
        assert page.evaluate("() => document.activeElement !== document.body")
    finally:
        site.record(5, None, requested_at=None, response_due=None)
    assert customer.problems == []


@SCREEN
def test_solved_resolved_and_closed_requests_each_say_what_is_true(
    site: Site, visit: Callable[..., Customer], width: int, locale: str
) -> None:
    words = WORDS[locale]
    bob = person(site.account, "Bob")
    ticket_id = site.account.create_ticket(
        requester_id=bob["id"], subject="Invoice PDF is empty", description="The PDF of invoice 88 is blank."
    )["id"]
    site.account.set_status(ticket_id, "solved")
    solved = visit("Bob", ticket_id, width, locale)
    expect(solved.section.locator(".escalation-request__note")).to_have_text(words["solved"])
    site.record(ticket_id, "resolved", requested_at="2026-11-20T09:00:00Z", resolved_at="2026-11-24T10:00:00Z")
    resolved = visit("Bob", ticket_id, width, locale)
    expect(resolved.section.get_by_role("heading")).to_have_text(words["resolved"])
    expect(resolved.section).to_contain_text(words["resolved_body"])
    for misleading in (words["escalated"], "severity", "Schweregrad"):
        expect(resolved.section).not_to_contain_text(misleading)
    resolved.screenshot(f"resolved-{width}-{locale}.png", down_to=resolved.section)
    site.record(ticket_id, None, requested_at=None, resolved_at=None)
    site.account.set_status(ticket_id, "closed")
    closed = visit("Bob", ticket_id, width, locale)
    expect(closed.section).to_have_text(words["closed"])
    expect(closed.section.get_by_role("link")).to_have_count(0)  # the theme's own line offers the follow-up


@SCREEN
def test_the_due_time_is_in_the_customers_zone_named_and_the_details_list_no_raw_escalation_field(
    site: Site, visit: Callable[..., Customer], width: int, locale: str
) -> None:
    words = WORDS[locale]
    carmen = person(site.account, "Carmen")
    site.account.update_profile(carmen["id"], time_zone="Tokyo")
    site.record(3, "acknowledged", requested_at="2026-12-07T14:15:20Z", acknowledged_at="2026-12-08T01:00:00Z")
    site.record(3, "requested", response_due="2026-12-08T14:15:20Z", acknowledged_at=None)
    try:
        customer = visit("Carmen", 3, width, locale)
        due = customer.section.locator('[data-fact="response_due"]')
        # 14:15 UTC is 23:15 in Tokyo; the browser itself is on UTC, so this is the profile's zone, named.
        expect(due).to_contain_text("23:15" if locale == "de" else "11:15")
        expect(due).to_contain_text(words["tokyo"])
        details = customer.page.locator(".request-details")
        expect(details).to_contain_text("Requester")
        for raw in (*CUSTOMER_VISIBLE_TITLES, "2026-12-08T14:15:20Z"):
            expect(details).not_to_contain_text(raw)
        no_horizontal_scroll(customer.page)
        customer.screenshot(f"escalated-{width}-{locale}.png", down_to=customer.section)
    finally:
        site.record(3, None, requested_at=None, response_due=None)
        site.account.update_profile(carmen["id"], time_zone="UTC")


@SCREEN
def test_a_support_manager_is_on_it_only_once_one_has_replied(
    site: Site, visit: Callable[..., Customer], width: int, locale: str
) -> None:
    words = WORDS[locale]
    site.record(DEEPAK_TICKET, "requested", requested_at="2026-12-07T14:15:20Z", response_due="2026-12-08T14:15:20Z")
    try:
        waiting = visit("Deepak", DEEPAK_TICKET, width, locale)
        expect(waiting.section.locator('[data-fact="status"]')).not_to_have_text(words["replied"])
        site.record(DEEPAK_TICKET, "acknowledged", acknowledged_at="2026-12-08T09:00:00Z")
        replied = visit("Deepak", DEEPAK_TICKET, width, locale)
        expect(replied.section.locator('[data-fact="status"]')).to_have_text(words["replied"])
        expect(replied.section.locator('[data-fact="response_due"]')).to_have_count(0)
    finally:
        site.record(DEEPAK_TICKET, None, requested_at=None, response_due=None, acknowledged_at=None)


def test_a_request_linked_without_a_locale_opens_in_the_customers_own(site: Site) -> None:
    """The service links `<Help Center>/requests/<id>` in its request for a reason."""
    alice = person(site.account, "Alice")
    browser_session = requests.Session()
    signed_out = browser_session.get(f"{site.url}/hc/requests/1", allow_redirects=False, timeout=5)
    browser_session.get(f"{site.url}/__sandbox__/hc/sign_in?user_id={alice['id']}", timeout=5)
    signed_in = browser_session.get(f"{site.url}/hc/requests/1", allow_redirects=False, timeout=5)

    assert signed_out.status_code == 303 and signed_out.headers["Location"].endswith("/hc/?return_to=/hc/requests/1")
    assert signed_in.status_code == 303 and signed_in.headers["Location"].endswith("/hc/en-us/requests/1")
