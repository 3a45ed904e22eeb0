"""The service run as local processes, the way an admin runs it: setup, serve, stop.

`escalations demo` runs the real commands (`escalations setup`, `escalations
serve`) as child processes in a directory of its own, against the sandbox
Zendesk: an environment with none of the caller's own settings in it, a free
port, the commands, and a clean stop of the whole process group. The tests and
the benchmark build on it (tests/support/local_service.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

# The service's own settings: never inherited from whoever starts it, so that a developer's
# .env, a Redis URL or a log format in the shell cannot change what a demo or a test runs.
SETTING_PREFIXES = (
    "ZENDESK_",
    "ESCALATION",
    "ZENPY_",
    "REDIS_URL",
    "PUBLIC_URL",
    "LOG_",
    "PROMETHEUS_MULTIPROC_DIR",
    "METRICS_",
)


def source_root() -> Path:
    """The folder holding the `escalations` package, for PYTHONPATH."""
    return Path(__file__).resolve().parents[2]


def clean_environment(environ: Mapping[str, str] | None = None, *, drop: Sequence[str] = ()) -> dict[str, str]:
    """`environ` (the process's by default) without the service's settings or names starting with `drop`."""
    prefixes = (*SETTING_PREFIXES, *drop)
    source = os.environ if environ is None else environ
    return {key: value for key, value in source.items() if not key.startswith(prefixes)}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_environment(
    *, zendesk_url: str, email: str, api_token: str, port: int, data_dir: Path, **settings: str
) -> dict[str, str]:
    """A clean environment for the service against `zendesk_url`, serving on `port` (its metrics on a free port
    of their own), plus `settings`."""
    env = clean_environment()
    metrics_port = free_port()
    while metrics_port == port:
        metrics_port = free_port()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source_root()), env.get("PYTHONPATH")]))
    env.update(
        {
            "ZENDESK_SUBDOMAIN": "sandbox",
            "ZENDESK_EMAIL": email,
            "ZENDESK_API_TOKEN": api_token,
            "ZENDESK_API_URL": zendesk_url,
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "ESCALATIONS_DATA_DIR": str(data_dir),
            "METRICS_PORT": str(metrics_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(settings)
    return env


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll `check` until it is truthy (returned) or `timeout` seconds pass (None)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result or None
        time.sleep(interval)


@dataclass
class LocalService:
    """One instance of the service: its environment, port and working directory, and its processes.

    The data directory is `workdir/var` unless the environment says otherwise;
    commands run with `workdir` as their current directory.
    """

    env: dict[str, str]
    port: int
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `escalations ARGS` to completion; with `check`, a failure raises with its output."""
        result = subprocess.run(
            [sys.executable, "-m", "escalations.admin.cli", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise CommandFailed(f"escalations {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def spawn(self, command: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start `command` in its own process group, output to `log`; it is stopped with the others."""
        with open(log, "ab") as output:
            process = subprocess.Popen(
                list(command),
                env=dict(self.env if env is None else env),
                cwd=self.workdir,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def serve(self, *options: str, **extra_env: str) -> subprocess.Popen[bytes]:
        """`escalations serve` on this instance's port, logging to `workdir/serve-PORT-N.log`; not waited for."""
        log = self.workdir / f"serve-{self.port}-{len(self.processes)}.log"
        command = [sys.executable, "-m", "escalations.admin.cli", "serve", "--port", str(self.port), *options]
        return self.spawn(command, log, {**self.env, **extra_env})

    def healthy(self) -> bool:
        """True when the web front answers /healthz."""
        try:
            return requests.get(f"{self.url}/healthz", timeout=0.5).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Send `sig` to every process group started here, as Ctrl-C or a process manager would; SIGKILL after
        `timeout` seconds; return once the web front no longer answers."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
        for process in self.processes:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # anything of the group left behind
        self.processes.clear()
        wait_for(lambda: not self.healthy(), timeout=10)

    def logs(self) -> str:
        """Everything the `serve` processes of this directory wrote."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("serve-*.log")))


class CommandFailed(Exception):
    """An `escalations` command exited with an error; the message holds its output."""
