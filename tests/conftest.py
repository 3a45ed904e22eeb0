"""Shared fixtures: a sandbox Zendesk over real HTTP, and the real service processes against it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from playwright.sync_api import Browser, sync_playwright

from plugin.config import load_settings
from plugin.sandbox import SandboxServer, SandboxZendesk
from plugin.signature import sign
from plugin.state import AccountState
from plugin.web import create_app

pytest_plugins = ("tests.contract.session",)  # Zendesk's spec checked on every sandbox exchange

ROOT = Path(__file__).resolve().parents[1]

# Debian's Chromium, driven by Playwright (browser downloads are not available here).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# The web app alone, for the webhook route's own tests.
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
SECRET = "webhook-secret"
WEBHOOK_ID = "01HWEBHOOK0000000000000000"


@pytest.fixture
def queued() -> list[int]:
    return []


@pytest.fixture
def client(tmp_path: Path, queued: list[int]) -> FlaskClient:
    settings = load_settings(
        {
            "ZENDESK_SUBDOMAIN": "acme",
            "ZENDESK_EMAIL": "admin@acme.test",
            "ZENDESK_API_TOKEN": "token",
            "ESCALATIONS_DATA_DIR": str(tmp_path),
            "ESCALATIONS_WEBHOOK_MAX_BYTES": "2048",
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
    return create_app(settings, state, queued.append, clock=lambda: NOW).test_client()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll until `check()` is truthy; fail the test with `what` when it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def zendesk() -> Iterator[tuple[SandboxZendesk, SandboxServer]]:
    from tests.contract.session import zendesk_contract

    account = SandboxZendesk()
    server = SandboxServer(account, contract=zendesk_contract()).start()
    try:
        yield account, server
    finally:
        server.stop()


@dataclass
class Service:
    """The escalation service as an admin runs it: `escalations setup`, then `escalations serve`."""

    zendesk: SandboxZendesk
    sandbox_url: str
    env: dict[str, str]
    port: int
    data_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "plugin.cli", *args],
            env=self.env,
            cwd=self.data_dir.parent,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"escalations {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self, **extra_env: str) -> subprocess.Popen[bytes]:
        self.zendesk.reset_requests_log()
        log = open(self.data_dir.parent / f"serve-{self.port}-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "plugin.cli", "serve", "--port", str(self.port), "--workers", "1"],
            env={**self.env, **extra_env},
            cwd=self.data_dir.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        wait_until(self.healthy, timeout=20, what="the service to answer /healthz")
        wait_until(self.swept, timeout=20, what="the catch-up sweep the worker runs at start")
        return process

    def swept(self) -> bool:
        return any("/incremental/" in entry["path"] for entry in self.zendesk.requests_log())

    def deliver(self, body: bytes) -> requests.Response:
        """POST a webhook body signed the way Zendesk signs it, with the secret setup stored."""
        state = json.loads((self.data_dir / "state.json").read_text())
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return requests.post(
            f"{self.url}/webhooks/zendesk",
            data=body,
            timeout=5,
            headers={
                "Content-Type": "application/json",
                "X-Zendesk-Webhook-Id": state["webhook_id"],
                "X-Zendesk-Webhook-Signature-Timestamp": stamp,
                "X-Zendesk-Webhook-Signature": sign(state["signing_secret"], stamp, body),
            },
        )

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=0.5).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
        wait_until(lambda: not self.healthy(), timeout=10, what="the service to stop")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.data_dir.parent.glob("serve-*.log")))


@pytest.fixture
def service_env(zendesk: tuple[SandboxZendesk, SandboxServer], tmp_path: Path) -> Service:
    account, server = zendesk
    port = free_port()
    data_dir = tmp_path / "var"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ZENDESK_", "ESCALATION", "ZENPY_", "REDIS_URL", "PUBLIC_URL"))
    }
    env.update(
        {
            "ZENDESK_SUBDOMAIN": "sandbox",
            "ZENDESK_EMAIL": account.email if hasattr(account, "email") else "admin@sandbox.test",
            "ZENDESK_API_TOKEN": getattr(account, "api_token", "sandbox-token"),
            "ZENDESK_API_URL": server.url,
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "ESCALATIONS_DATA_DIR": str(data_dir),
            "ESCALATIONS_RECONCILE_SECONDS": "3600",
            "PYTHONPATH": str(ROOT),
            "LOG_LEVEL": "INFO",
        }
    )
    return Service(account, server.url, env, port, data_dir)


@pytest.fixture
def service(service_env: Service) -> Iterator[Service]:
    """Set up against the sandbox and serve, as an admin would."""
    service_env.run("setup")
    service_env.start()
    try:
        yield service_env
    finally:
        service_env.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
