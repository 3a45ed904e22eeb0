"""Instruments for the benchmark: a timed sandbox Zendesk, a webhook client, memory of a process tree, statistics."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from escalations.core.signature import sign
from escalations.sandbox import SandboxZendesk
from escalations.sandbox.server import create_sandbox_app

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# -- statistics --------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` (0..1) percentile with linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def summary(values: Sequence[float]) -> dict[str, float]:
    """Count, p50, p95, p99 and max."""
    return {
        "count": len(values),
        "p50": percentile(values, 0.50),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else float("nan"),
    }


# -- the sandbox, with the times the benchmark needs -------------------------------------


@dataclass(frozen=True)
class Call:
    """One API request the sandbox served, with when it started and ended (time.monotonic)."""

    method: str
    path: str
    status: int
    start: float
    end: float


class CallLog:
    """Every API request the sandbox served, and how many are in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self.in_flight = 0
        self.last_activity = time.monotonic()

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.last_activity = time.monotonic()

    def finished(self, call: Call) -> None:
        with self._lock:
            self.in_flight -= 1
            self.last_activity = call.end
            self._calls.append(call)

    def since(self, moment: float) -> list[Call]:
        """The calls that started at or after `moment`."""
        with self._lock:
            return [call for call in self._calls if call.start >= moment]

    def idle_for(self) -> float:
        """Seconds since the last request started or ended; 0 while one is in flight."""
        with self._lock:
            return 0.0 if self.in_flight else time.monotonic() - self.last_activity


class TimedZendesk(SandboxZendesk):
    """The sandbox account, also noting when each reply the service writes is stored."""

    def __init__(self) -> None:
        super().__init__()
        self.reply_times: dict[int, list[float]] = defaultdict(list)

    def _send_emails(self, ticket: dict[str, Any], comment: dict[str, Any], author: dict[str, Any]) -> None:
        super()._send_emails(ticket, comment, author)
        if comment["public"] and author["role"] != "end-user":
            self.reply_times[ticket["id"]].append(time.monotonic())


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def _timed(app: WSGIApplication, calls: CallLog) -> WSGIApplication:
    """Note the start, end and status of every API request."""

    def wrapped(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if not path.startswith("/api/v2"):
            return app(environ, start_response)
        status: list[int] = []

        def note_status(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(int(line.split()[0]))
            return start_response(line, headers, exc_info)

        calls.started()
        start = time.monotonic()
        body = b"".join(app(environ, note_status))
        calls.finished(Call(environ["REQUEST_METHOD"], path, status[0] if status else 0, start, time.monotonic()))
        return [body]

    return wrapped


class TimedSandbox:
    """The sandbox Zendesk over HTTP on loopback, with a log of timed API requests."""

    def __init__(self) -> None:
        self.zendesk = TimedZendesk()
        self.calls = CallLog()
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1",
            0,
            _timed(create_sandbox_app(self.zendesk), self.calls),
            threaded=True,
            request_handler=_QuietHandler,
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox", daemon=True
        )

    def start(self) -> TimedSandbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.zendesk.faults.release_hanging()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


# -- webhooks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """Signs webhook bodies the way Zendesk does, for the service's webhook."""

    secret: str
    webhook_id: str

    def headers(self, body: bytes) -> dict[str, str]:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "Content-Type": "application/json",
            "User-Agent": "Zendesk Webhook",
            "X-Zendesk-Webhook-Id": self.webhook_id,
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
            "X-Zendesk-Webhook-Signature": sign(self.secret, stamp, body),
        }


def webhook_body(ticket_id: int) -> bytes:
    """The body the trigger created by `escalations setup` sends."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"ticket_id": str(ticket_id), "updated_at": stamp, "actor_id": "0"}).encode()


def post_webhook(port: int, signer: Signer, ticket_id: int, timeout: float = 15.0) -> tuple[float, int]:
    """POST one signed webhook on a new connection, as Zendesk does; (seconds to the full answer, status)."""
    body = webhook_body(ticket_id)
    headers = signer.headers(body)
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/webhooks/zendesk", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        status = answer.status
    except OSError:
        status = 0
    finally:
        connection.close()
    return time.perf_counter() - started, status


# -- memory of a process tree -------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found.extend(int(child) for child in text.split())
    except OSError:
        pass
    return found


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants that are still alive."""
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        if Path(f"/proc/{pid}").exists():
            tree.append(pid)
            pending.extend(_children(pid))
    return tree


def _kilobytes(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _label(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(part.decode(errors="replace") for part in argv if part)
    if "escalations.admin.cli serve" in text:
        return "escalations serve (supervisor)"
    if "escalations.admin.cli worker" in text:
        return "queue worker (huey, 4 threads)"
    if "gunicorn" in text:
        return "gunicorn"
    return text[:60]


@dataclass
class Memory:
    """RSS and PSS of a process tree, sampled in the background; kilobytes."""

    root: int
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    peak_rss: int = 0
    peak_breakdown: list[tuple[str, int]] = field(default_factory=list)

    def sample(self) -> tuple[int, int]:
        """Sum the tree's RSS and PSS now, and keep the sample."""
        rows = []
        for pid in process_tree(self.root):
            rss = _kilobytes(f"/proc/{pid}/status", "VmRSS:")
            pss = _kilobytes(f"/proc/{pid}/smaps_rollup", "Pss:")
            rows.append((pid, rss, pss))
        rss_total, pss_total = sum(row[1] for row in rows), sum(row[2] for row in rows)
        if rss_total > self.peak_rss:
            self.peak_rss = rss_total
            self.peak_breakdown = sorted(((_label(pid), rss) for pid, rss, _ in rows), key=lambda item: -item[1])
        self.samples.append((time.monotonic(), rss_total, pss_total))
        return rss_total, pss_total

    def between(self, start: float, end: float) -> list[tuple[float, int, int]]:
        return [sample for sample in self.samples if start <= sample[0] <= end]


class MemorySampler:
    """Samples several process trees every `interval` seconds until stopped."""

    def __init__(self, trees: Iterable[Memory], interval: float = 0.25) -> None:
        self.trees = list(trees)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for tree in self.trees:
                tree.sample()


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `check` until it is true or `timeout` seconds pass; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()
