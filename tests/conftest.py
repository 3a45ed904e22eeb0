"""Shared fixtures: a sandbox Zendesk over real HTTP, and the real service processes against it."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from playwright.sync_api import Browser, sync_playwright

from escalations.config import Settings, load_settings
from escalations.sandbox import SandboxServer, SandboxZendesk
from escalations.service.queue import Queues
from escalations.service.web import create_app
from escalations.zendesk.gateway import ZendeskGateway, make_client
from escalations.zendesk.provisioning import provision
from escalations.zendesk.state import AccountState, save_state
from tests.cluster import redis_server
from tests.support.local_service import LocalService, free_port, service_environment, wait_for

# Zendesk's spec checked on every sandbox exchange; skips fail on CI and are summed up in one line elsewhere.
pytest_plugins = ("tests.contract.session", "tests.skips")

ROOT = Path(__file__).resolve().parents[1]
__all__ = ["ROOT", "Service", "free_port", "wait_until"]

# Debian's build of Chromium's headless shell, driven by Playwright (browser downloads are not available here): the
# same engine as the browser, without its windowing, and what Playwright itself runs for headless tests. It costs
# half the CPU of the full browser run headless (the sidebar's tests: 18 CPU-seconds against 32).
CHROMIUM = "chromium-headless-shell"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# The modules that take longest from first test to last, handed out first: a run on two cores is bound by CPU, and
# it ends late when one of these starts last and runs alone. The cluster's tests mostly wait on purpose (they spend
# whole minutes of a rate limit), so they run best beside the others from the start. `./test.sh` keeps this order
# (`--no-loadscope-reorder`: xdist would otherwise hand out the modules with the most tests first); the rest follow
# in the order pytest collects them.
LONGEST_FIRST = (  # by their time from first test to last in a full run, longest first
    "test_cluster.py",
    "test_notifications.py",
    "test_reliability.py",
    "test_help_center.py",
    "test_benchmark_smoke.py",
    "test_end_to_end.py",
    "test_dashboard.py",
    "test_first_command.py",
    "test_sandbox_page.py",
    "test_live_check.py",
    "test_sidebar_app.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a module's tests keep their order


# The web app alone, for the webhook route's own tests.
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
SECRET = "webhook-secret"
WEBHOOK_ID = "01HWEBHOOK0000000000000000"


class FakeClock:
    """Seconds that move only when a test moves them (`now`) or something sleeps on it."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def queued() -> list[int]:
    """The ticket ids the web app queued."""
    return []


@pytest.fixture
def invocations() -> list[str | None]:
    """The webhook invocation ids queued with them."""
    return []


def webhook_app(tmp_path: Path, queued: list[int], invocations: list[str | None], max_bytes: int = 2048) -> FlaskClient:
    """The web app alone, with a known secret and a fixed clock, queueing into the two lists."""
    settings = load_settings(
        {
            "ZENDESK_SUBDOMAIN": "acme",
            "ZENDESK_EMAIL": "admin@acme.test",
            "ZENDESK_API_TOKEN": "token",
            "ESCALATIONS_DATA_DIR": str(tmp_path),
            "ESCALATIONS_WEBHOOK_MAX_BYTES": str(max_bytes),
        }
    )
    state = AccountState(
        zendesk_url="https://acme.zendesk.com",
        field_ids={},
        manager_group_id=1,
        webhook_id=WEBHOOK_ID,
        signing_secret=SECRET,
        service_user_id=1,
        active_since="2026-11-01T00:00:00Z",
    )

    def enqueue(ticket_id: int, invocation_id: str | None) -> None:
        queued.append(ticket_id)
        invocations.append(invocation_id)

    return create_app(settings, state, enqueue, clock=lambda: NOW).test_client()


@pytest.fixture
def client(tmp_path: Path, queued: list[int], invocations: list[str | None]) -> FlaskClient:
    return webhook_app(tmp_path, queued, invocations)


@pytest.fixture
def roomy_client(tmp_path: Path, queued: list[int], invocations: list[str | None]) -> FlaskClient:
    """The web app with the default body cap (256 KiB): room for a 100,000-deep array."""
    return webhook_app(tmp_path, queued, invocations, max_bytes=262144)


def wait_until(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll until `check()` is truthy; fail the test with `what` when it never is."""
    result = wait_for(check, timeout, interval)
    if not result:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
    return result


def metrics_page_with(url: str, *lines: str, timeout: float = 15.0) -> str:
    """The metrics page at `url` once it has every one of `lines`: a counter moves just after the change on the
    ticket that a test waits for, so the page is read until it shows it (or the test fails with the last one)."""
    pages = [""]

    def page() -> bool:
        pages.append(requests.get(url, timeout=5).text)
        return all(line in pages[-1] for line in lines)

    if not wait_for(page, timeout, 0.05):
        missing = [line for line in lines if line not in pages[-1]]
        raise AssertionError(f"{url} never showed {missing}; the last page:\n{pages[-1]}")
    return pages[-1]


@pytest.fixture
def zendesk() -> Iterator[tuple[SandboxZendesk, SandboxServer]]:
    from tests.contract.session import checked_sandbox  # loaded as a plugin first, so that pytest rewrites it

    account = SandboxZendesk()
    with checked_sandbox(account) as server:
        yield account, server


@contextlib.contextmanager
def provisioned_in_process(account: SandboxZendesk, tmp_path: Path) -> Iterator[Settings]:
    """`account` served from this process and set up as `escalations setup` does; the service's settings for it.

    For the shell's tests that drive the worker's code here rather than through `serve`.
    """
    from tests.contract.session import checked_sandbox

    with checked_sandbox(account) as server:
        settings = load_settings(
            {
                "ZENDESK_SUBDOMAIN": "sandbox",
                "ZENDESK_EMAIL": account.email,
                "ZENDESK_API_TOKEN": account.api_token,
                "ZENDESK_API_URL": server.url,
                "PUBLIC_URL": "http://127.0.0.1:9",
                "ESCALATIONS_DATA_DIR": str(tmp_path / "var"),
            }
        )
        state, _ = provision(ZendeskGateway(settings, {}, make_client(settings)), settings)
        save_state(settings.state_file, state)
        account.reset_requests_log()
        yield settings


@dataclass
class Service(LocalService):
    """The escalation service as an admin runs it, against the test's sandbox Zendesk."""

    zendesk: SandboxZendesk = field(kw_only=True)
    _queues: tuple[tuple[str | None, Path], Queues] | None = field(default=None, init=False, repr=False)

    @property
    def sandbox_url(self) -> str:
        return self.env["ZENDESK_API_URL"]

    def start(self, **extra_env: str) -> subprocess.Popen[bytes]:
        """`escalations serve`, returned once it answers and its worker has begun the catch-up sweep."""
        self.zendesk.reset_requests_log()
        process = self.serve("--workers", "1", **extra_env)
        wait_until(self.healthy, timeout=20, what="the service to answer /healthz")
        wait_until(self.swept, timeout=20, what="the catch-up sweep the worker runs at start")
        return process

    def set_up_and_start(self, **settings: str) -> Service:
        """`escalations setup`, then `serve`, with these settings added; stopped by the `service_env` fixture."""
        self.env.update(settings)
        self.run("setup")
        self.start()
        return self

    def new_ticket(self, like: int) -> int:
        """A new ticket like ticket `like` (requester, copies, brand, group, assignee, subject and first comment),
        once the service has handled its creation; its id. Tests that share a service copy only seeded tickets
        that none of them changes, so that each copy starts where the seeded ticket started."""
        seeded = self.zendesk.ticket(like)
        ticket = self.zendesk.create_ticket(
            requester_id=seeded["requester_id"],
            subject=seeded["subject"],
            description=self.zendesk.comments(like)[0]["body"],
            email_cc_ids=seeded["email_cc_ids"],
            group_id=seeded["group_id"],
            assignee_id=seeded["assignee_id"],
            brand_id=seeded["brand_id"],
        )
        self.wait_until_idle()
        return int(ticket["id"])

    def swept(self) -> bool:
        return any("/incremental/" in entry["path"] for entry in self.zendesk.requests_log())

    def sweeps_done(self) -> int:
        """How many catch-up sweeps the worker has finished, from its log."""
        return self.logs().count("sweep done:")

    def decisions(self, ticket_id: int) -> list[str]:
        """What the worker decided each time it handled the ticket (escalated, ignored, ...), from its log."""
        return re.findall(rf"ticket {ticket_id}: ([a-z_]+) \(\d+ writes\)", self.logs())

    def queue_status(self) -> dict[str, Any]:
        """The service's queues as `doctor` reads them, read here in the test's process."""
        settings = load_settings(self.env)
        where = (settings.redis_url, settings.data_dir)
        if self._queues is None or self._queues[0] != where:
            self._queues = (where, Queues.from_settings(settings))
        return self._queues[1].status(details=False)

    def wait_until_idle(self) -> None:
        """Until no webhook is in flight and the service has nothing queued, running or waiting for a retry."""
        self.zendesk.wait_for_deliveries()
        wait_until(self.idle, what="the service to finish its work")

    def idle(self) -> bool:
        """No job queued, running or waiting for a retry: tickets, sweeps and notifications alike."""
        status = self.queue_status()
        waiting = status["pending"] + status["in_progress"] + status["scheduled"]
        return waiting + status["notifications"]["waiting"] == 0


@contextlib.contextmanager
def service_for(account: SandboxZendesk, server: SandboxServer, workdir: Path) -> Iterator[Service]:
    """The service's environment against `server`; whatever it started is stopped afterwards, also when a start
    failed half way (a test's own `stop` makes this a no-op)."""
    port = free_port()
    env = service_environment(
        zendesk_url=server.url,
        email=account.email,
        api_token=account.api_token,
        port=port,
        data_dir=workdir / "var",
        ESCALATIONS_RECONCILE_SECONDS="3600",
        ESCALATIONS_BACKOFF_SECONDS="0.25",  # a failed job's retries 0.25, 0.5, 1 s... later, not 2, 4, 8 s
        LOG_LEVEL="INFO",
    )
    service = Service(env, port, workdir, zendesk=account)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def service_env(zendesk: tuple[SandboxZendesk, SandboxServer], tmp_path: Path) -> Iterator[Service]:
    """The service's environment against the test's own sandbox, started by the test as it needs."""
    account, server = zendesk
    with service_for(account, server, tmp_path) as service:
        yield service


@pytest.fixture
def service(service_env: Service) -> Iterator[Service]:
    """Set up against the test's own sandbox and serve, as an admin would."""
    yield service_env.set_up_and_start()


@pytest.fixture(scope="module")
def module_service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One sandbox, and the service set up against it and serving (with the module's `SHARED_SERVICE_SETTINGS`
    added, if it has any), for the tests of a module that leave both as they found them; through `shared_service`."""
    from tests.contract.session import checked_sandbox

    settings: dict[str, str] = getattr(request.module, "SHARED_SERVICE_SETTINGS", {})
    account = SandboxZendesk()
    with checked_sandbox(account) as server, service_for(account, server, tmp_path_factory.mktemp("service")) as svc:
        yield svc.set_up_and_start(**settings)


@pytest.fixture
def shared_service(module_service: Service) -> Iterator[Service]:
    """The module's service, for a test that works on tickets of its own (`Service.new_ticket`), injects no fault
    it does not use up and changes no setting. Afterwards, it waits until no webhook is in flight and no job
    queued or running, so that nothing of one test runs into the next."""
    yield module_service
    module_service.wait_until_idle()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    from tests.skips import require_tool  # imported once registered as a plugin (pytest_plugins)

    require_tool("redis-server", "redis-server")
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def queue_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The queue's setting for each backend: SQLite in the data directory, or a real redis-server."""
    if request.param == "sqlite":
        return {}
    return {"REDIS_URL": request.getfixturevalue("redis_url")}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from tests.skips import require_tool  # imported once registered as a plugin (pytest_plugins)

    executable = require_tool(CHROMIUM, CHROMIUM)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
