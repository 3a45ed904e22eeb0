"""The README's first command, `./run.sh`, on a fresh clone of what is committed.

It creates the virtual environment, installs the project, starts the sandbox
and the service, and an escalation goes all the way through; Ctrl-C (SIGINT to
the process group, as a terminal sends it) stops everything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, free_port, wait_until
from tests.support.local_service import clean_environment

START_TIMEOUT = 180  # a fresh venv and `pip install --editable .` (about 10 s here) plus start-up
STOP_TIMEOUT = 15
REASON = "our exports fail since Monday and the month-end close is blocked."


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


GERMAN_PHRASE = "Eskalationsanfrage"


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh clone of the repository's committed HEAD, with no .venv, .env or var/."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and the project's git repository")
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=60)
    assert not (target / ".venv").exists() and not (target / ".env").exists()
    return target


@pytest.fixture
def first_run(clone: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, int, int, Path]]:
    """`./run.sh` on free ports (its metrics too), in its own process group; killed at the end if it is still
    there."""
    port, sandbox_port, metrics_port = free_port(), free_port(), free_port()
    while len({port, sandbox_port, metrics_port}) < 3:
        sandbox_port, metrics_port = free_port(), free_port()
    env = clean_environment(drop=("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"))
    venv_bin = str(ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env["ESCALATION_PHRASES"] = f"en=escalation request,de={GERMAN_PHRASE}|escalation request"
    env["METRICS_PORT"] = str(metrics_port)
    log_path = clone.parent / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["./run.sh", "--port", str(port), "--sandbox-port", str(sandbox_port)],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, port, sandbox_port, metrics_port, log_path
    finally:
        if group_alive(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def test_run_sh_on_a_fresh_clone_escalates_and_stops_on_ctrl_c(
    first_run: tuple[subprocess.Popen[bytes], int, int, int, Path], clone: Path
) -> None:
    process, port, sandbox_port, metrics_port, log_path = first_run
    service, sandbox = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"

    def log() -> str:
        return log_path.read_text(errors="replace")

    def running(check: Any) -> Any:
        if process.poll() is not None:
            raise AssertionError(f"./run.sh exited with {process.returncode}:\n{log()}")
        return check()

    started = time.monotonic()
    try:
        wait_until(lambda: running(lambda: answers(f"{service}/healthz")), START_TIMEOUT, 0.2, "/healthz")
        wait_until(lambda: running(lambda: answers(f"{sandbox}/")), 10, 0.2, "the sandbox's page")
        wait_until(lambda: running(lambda: answers(f"http://127.0.0.1:{metrics_port}/readyz")), 30, 0.2, "/readyz")
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- ./run.sh output ---\n{log()}") from error
    ready_after = time.monotonic() - started
    assert (clone / ".venv" / "bin" / "escalations").exists(), "run.sh did not create .venv"
    page = requests.get(f"{sandbox}/", timeout=5)
    assert "Zendesk sandbox" in page.text
    assert f"{sandbox}/" in log(), "the sandbox's URL is not printed for the user"

    state = requests.get(f"{sandbox}/__sandbox__/state", timeout=5).json()
    ticket = next(t for t in state["tickets"] if t["id"] == 1)
    # The customer view has the Help Center files `package-theme` builds from this configuration.
    customer = requests.Session()
    customer.get(f"{sandbox}/__sandbox__/hc/sign_in", params={"user_id": ticket["requester_id"]}, timeout=5)
    assert GERMAN_PHRASE in customer.get(f"{sandbox}/hc/en-us/requests/1", timeout=5).text
    answer = requests.post(
        f"{sandbox}/__sandbox__/tickets/1/comments",
        json={"author_id": ticket["requester_id"], "body": f"Escalation request: {REASON}", "public": True},
        timeout=5,
    )
    assert answer.status_code == 201, answer.text

    def escalated() -> bool:
        now = requests.get(f"{sandbox}/__sandbox__/state", timeout=5).json()
        tags = next(t for t in now["tickets"] if t["id"] == 1)["tags"]
        emailed = any(e["ticket_id"] == 1 for e in now["emails"])
        return "escalated" in tags and "escalation_confirmation_pending" not in tags and emailed

    try:
        wait_until(lambda: running(escalated), 30, 0.2, "the escalation of ticket 1")
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- ./run.sh output ---\n{log()}") from error
    managers = next(g["id"] for g in state["groups"] if g["name"] == "Support Managers")

    def deliveries_done() -> dict[str, Any] | None:
        """The account once every webhook delivery has its answer (the service's own reply fires one too)."""
        now: dict[str, Any] = requests.get(f"{sandbox}/__sandbox__/state", timeout=5).json()
        return now if all(d["final_status"] is not None for d in now["deliveries"]) else None

    final = wait_until(lambda: running(deliveries_done), 10, 0.1, "the webhook deliveries' answers")
    assert next(t for t in final["tickets"] if t["id"] == 1)["group_id"] == managers
    statuses = [d["final_status"] for d in final["deliveries"]]
    assert statuses.count(202) == 1 and set(statuses) <= {200, 202}  # 200: the service's own reply, not queued

    # Ctrl-C in the terminal: SIGINT to the whole foreground process group.
    interrupted = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"./run.sh still runs {STOP_TIMEOUT} s after Ctrl-C:\n{log()}") from None
    remaining = STOP_TIMEOUT - (time.monotonic() - interrupted)
    wait_until(lambda: not group_alive(process.pid), max(remaining, 0.5), 0.1, "every process to stop")
    assert not any(map(port_open, (port, sandbox_port, metrics_port))), "a port is still open after Ctrl-C"
    stopped_after = time.monotonic() - interrupted
    assert "Traceback" not in log(), log()
    print(f"./run.sh: ready in {ready_after:.1f} s, stopped {stopped_after:.1f} s after Ctrl-C")
