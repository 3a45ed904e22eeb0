"""The app's pages in a real Chromium, as Zendesk frames them, against the ZAF client double.

The repository is served over HTTP as Zendesk serves the app's assets; the ZAF
SDK's URL is answered with tests/sidebar/zaf_client_double.js, which plays the
Zendesk frame and API from a fixture each test writes (window.__zafFixture).
Every other outside request is blocked and recorded, and page errors and
console errors are collected, so a test can assert that there were none.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Route

from escalations.sandbox.contract import ApiRequest, ApiResponse
from escalations.sandbox.help_center import SESSION_COOKIE
from tests.contract.checker import ViolationLog
from tests.contract.session import SESSION_LOG, zendesk_contract

ROOT = Path(__file__).resolve().parents[1]
DOUBLES = ROOT / "tests" / "sidebar"
ARTIFACTS = ROOT / "tests" / "artifacts"
# Screenshots are for people to look at, never compared: taken with TEST_SCREENSHOTS=1 (a tenth of the
# browser tests' time goes into them).
SCREENSHOTS = os.environ.get("TEST_SCREENSHOTS") == "1"
SDK_URL = "https://static.zdassets.com/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js"
# What Zendesk adds to the URL of an app's frame; without it ZAFClient.init() returns false.
ZENDESK_FRAME_QUERY = "?origin=https%3A%2F%2Fexample.zendesk.com&app_guid=test-guid"
ZENDESK_SESSION = f"{SESSION_COOKIE}=agent-session"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_repository() -> Iterator[str]:
    """The repository over HTTP on a free local port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(ROOT)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class AppPage:
    """One of the app's pages and what it did: outside requests blocked, errors, dialogs."""

    page: Page
    context: BrowserContext
    blocked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    scripts: list[Any] = field(default_factory=list)  # the loaded init scripts (Disposable: `.close()` removes one)

    def add_init_script(self, script: str) -> None:
        """Run `script` before the page's own on every later load, until the page is taken for another test."""
        self.scripts.append(self.page.add_init_script(script))

    def zaf(self, expression: str, *args: Any) -> Any:
        """Evaluate `window.__zaf.<expression>` with `args` bound to the list of arguments."""
        return self.page.evaluate(f"(args) => window.__zaf.{expression}", list(args))

    def page_json(self, expression: str) -> Any:
        """The value of `expression` in the page, carried over as one JSON string: a value of thousands of
        tickets crosses in milliseconds that way, where Playwright's own serialisation takes seconds."""
        return json.loads(self.page.evaluate(f"() => JSON.stringify({expression})"))

    def requests(self, method: str | None = None, path: str = "") -> list[dict[str, Any]]:
        """The requests the page made through client.request, as the double recorded them."""
        recorded: list[dict[str, Any]] = self.page_json("window.__zaf.requests")
        return [r for r in recorded if (method is None or r["type"] == method) and path in r["url"]]

    def invocations(self, name: str | None = None) -> list[dict[str, Any]]:
        recorded: list[dict[str, Any]] = self.zaf("invocations")
        return [entry for entry in recorded if name is None or entry["name"] == name]

    def screenshot(self, folder: str, name: str, *, full_page: bool = False, element: str | None = None) -> Path:
        path = ARTIFACTS / folder / name
        if not SCREENSHOTS:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        if element is not None:
            self.page.locator(element).screenshot(path=str(path))
        else:
            self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def assert_clean(self) -> None:
        assert self.blocked == [], f"the page tried to reach outside hosts: {self.blocked}"
        assert self.problems == [], f"errors in the page: {self.problems}"
        self.assert_requests_follow_zendesks_spec()

    def assert_requests_follow_zendesks_spec(self) -> None:
        """Every request the page sent through client.request, and the double's answer to it, checked against
        Zendesk's published spec like the sandbox's traffic (tests/contract/); what does not match is named."""
        own = ViolationLog()
        answers: list[dict[str, Any] | None] = self.page_json("window.__zaf.answers")
        check_zaf_exchanges(self.requests(), answers, own)
        for violation in own.all():
            SESSION_LOG.add(violation)  # so that the session counts the exceptions they used
        assert [v.line() for v in own.failures()] == [], "exchanges Zendesk's spec does not allow"


def check_zaf_exchanges(records: list[dict[str, Any]], answers: list[dict[str, Any] | None], log: ViolationLog) -> None:
    """Check the app's requests as the ZAF double recorded them, and its answers, into `log`."""
    contract = zendesk_contract(log)
    for index, record in enumerate(records):
        url = urlsplit(urljoin("https://example.zendesk.com/", record["url"]))
        data = record.get("data")
        body = data if isinstance(data, str) else ("" if data is None else json.dumps(data))
        # client.request goes out with the signed-in agent's session (see tests/contract/exceptions.yaml).
        headers = {"Content-Type": record.get("contentType") or "application/json", "Cookie": ZENDESK_SESSION}
        request = ApiRequest(record["type"], url.path, url.query, headers, body.encode())
        contract.check_request(request)
        answer = answers[index] if index < len(answers) else None
        if answer is not None:
            response_body = b"" if answer["body"] is None else json.dumps(answer["body"]).encode()
            response = ApiResponse(answer["status"], {"Content-Type": "application/json"}, response_body)
            contract.check_response(request, response)


def block_outside(page: Page, base_url: str, blocked: list[str]) -> None:
    """Abort every request of `page` that leaves `base_url`, recording its URL in `blocked`.

    The pattern is a regular expression so that Playwright matches it in its driver: requests to `base_url`
    then go straight through instead of a round trip into this process each (a fifth of a browser test's CPU).
    """

    def block(route: Route) -> None:
        blocked.append(route.request.url)
        route.abort()

    page.route(re.compile(rf"^(?!{re.escape(base_url)}/)"), block)


def forget_storage(page: Page, base_url: str) -> None:
    """Clear the session and local storage that `page`'s last document at `base_url` left, for the next test."""
    if page.url.startswith(base_url + "/"):
        page.evaluate("() => { sessionStorage.clear(); localStorage.clear(); }")


def new_app_page(
    browser: Browser,
    base_url: str,
    *,
    viewport: tuple[int, int],
    now: datetime,
    run_clock: bool = False,
    device_scale_factor: float = 1,
) -> AppPage:
    """A fresh context and page for the app's pages at `base_url`, nothing loaded yet.

    The page's clock reads `now`. With `run_clock` timers run in real time while
    Date stays at `now` (pages that wait, e.g. on Retry-After); otherwise the
    clock is paused and a test moves it with page.clock.run_for.
    """
    context = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]},
        device_scale_factor=device_scale_factor,
        locale="en-US",
        timezone_id="UTC",
    )
    page = context.new_page()
    opened = AppPage(page, context)
    page.on("pageerror", lambda error: opened.problems.append(f"page error: {error}"))
    page.on("console", lambda message: opened.problems.append(message.text) if message.type == "error" else None)

    def record_dialog(dialog: Dialog) -> None:
        opened.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record_dialog)
    block_outside(page, base_url, opened.blocked)
    page.route(SDK_URL, lambda route: route.fulfill(path=DOUBLES / "zaf_client_double.js"))
    if run_clock:
        page.clock.set_fixed_time(now)
    else:
        page.clock.install(time=now - timedelta(minutes=1))
        page.clock.pause_at(now)
    return opened


def load_app_page(
    opened: AppPage,
    base_url: str,
    path: str,
    fixture: dict[str, Any],
    *,
    inside_zendesk: bool = True,
    init_scripts: tuple[str, ...] = (),
) -> AppPage:
    """Load `path` of the app into `opened`, with the ZAF double serving `fixture` (and `init_scripts` run
    before the page's own) on this and every later load, until the page is taken for another test."""
    opened.add_init_script(f"window.__zafFixture = {json.dumps(fixture)};")
    for script in init_scripts:
        opened.add_init_script(script)
    opened.page.goto(f"{base_url}/{path}{ZENDESK_FRAME_QUERY if inside_zendesk else ''}")
    return opened


def open_app_page(
    browser: Browser,
    base_url: str,
    path: str,
    fixture: dict[str, Any],
    *,
    viewport: tuple[int, int],
    now: datetime,
    run_clock: bool = False,
    inside_zendesk: bool = True,
    init_scripts: tuple[str, ...] = (),
    device_scale_factor: float = 1,
) -> AppPage:
    """Open `path` of the app in a page of its own, with the ZAF double serving `fixture` (see `new_app_page`)."""
    opened = new_app_page(
        browser, base_url, viewport=viewport, now=now, run_clock=run_clock, device_scale_factor=device_scale_factor
    )
    return load_app_page(opened, base_url, path, fixture, inside_zendesk=inside_zendesk, init_scripts=init_scripts)


class AppTab:
    """One page that a module's tests take in turn, each loading the app afresh into it.

    A new context and page cost the full Chromium about one CPU-second on this project's machine, a new
    document in a page already open less than half of that. Each test gets a new document, with its own
    fixture and no errors, dialogs, blocked requests, init scripts or session and local storage left from the
    test before; what stays is what every test sets alike: the context (locale, time zone, pixel ratio), the
    routes and the clock at `now` (paused, or with `run_clock` timers running while Date stays). A test that
    moves the clock spoils the tab for the next: handed back so, the tab is closed and the next test gets a
    new one. A test adds init scripts through `AppPage.add_init_script`, so that they go with it.
    """

    def __init__(
        self,
        browser: Browser,
        base_url: str,
        *,
        now: datetime,
        run_clock: bool = False,
        device_scale_factor: float = 1,
    ) -> None:
        self.browser = browser
        self.base_url = base_url
        self.now = now
        self.run_clock = run_clock
        self.device_scale_factor = device_scale_factor
        self._opened: AppPage | None = None
        self._taken = False
        self._own: list[AppPage] = []  # the pages of their own that `open` gave the test

    def open(
        self,
        path: str,
        fixture: dict[str, Any],
        *,
        viewport: tuple[int, int],
        now: datetime | None = None,
        run_clock: bool | None = None,
        inside_zendesk: bool = True,
        init_scripts: tuple[str, ...] = (),
    ) -> AppPage:
        """`path` loaded in the tab when it is free and the test's clock is the tab's; else (a second page at
        once, or a clock of its own) in a page of its own. `release` ends either after the test."""
        now = self.now if now is None else now
        run_clock = self.run_clock if run_clock is None else run_clock
        if not self._taken and now == self.now and run_clock == self.run_clock:
            return self.take(path, fixture, viewport=viewport, inside_zendesk=inside_zendesk, init_scripts=init_scripts)
        own = open_app_page(
            self.browser,
            self.base_url,
            path,
            fixture,
            viewport=viewport,
            now=now,
            run_clock=run_clock,
            inside_zendesk=inside_zendesk,
            init_scripts=init_scripts,
            device_scale_factor=self.device_scale_factor,
        )
        self._own.append(own)
        return own

    def release(self) -> None:
        """After the test: close the pages of its own and hand the tab back."""
        try:
            for own in self._own:
                own.context.close()
        finally:
            self._own.clear()
            if self._taken:
                self.hand_back()

    def take(
        self,
        path: str,
        fixture: dict[str, Any],
        *,
        viewport: tuple[int, int],
        inside_zendesk: bool = True,
        init_scripts: tuple[str, ...] = (),
    ) -> AppPage:
        assert not self._taken, "the tab is taken: hand it back first (a second page in a test opens its own)"
        if self._opened is None:
            self._opened = new_app_page(
                self.browser,
                self.base_url,
                viewport=viewport,
                now=self.now,
                run_clock=self.run_clock,
                device_scale_factor=self.device_scale_factor,
            )
        opened = self._opened
        self._taken = True
        try:
            forget_storage(opened.page, self.base_url)
            opened.page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
            return load_app_page(
                opened, self.base_url, path, fixture, inside_zendesk=inside_zendesk, init_scripts=init_scripts
            )
        except BaseException:  # a load that failed leaves the next test a new tab, not this one
            self._taken = False
            self.close()
            raise

    def hand_back(self) -> None:
        """After the test: forget its scripts and what its page did; a moved clock closes the tab."""
        opened = self._opened
        self._taken = False
        if opened is None:
            return
        try:
            for script in opened.scripts:
                script.close()
            opened.scripts.clear()
            for recorded in (opened.blocked, opened.problems, opened.dialogs):
                recorded.clear()
            spoiled = opened.page.evaluate("() => Date.now()") != int(self.now.timestamp() * 1000)
        except BaseException:
            self.close()
            raise
        if spoiled:
            self.close()

    def close(self) -> None:
        if self._opened is not None:
            self._opened.context.close()
            self._opened = None
