"""The private listener: `/metrics`, `/readyz` and `/healthz` for Prometheus and the process manager.

The webhook's port is public (Zendesk calls it from the internet); these
routes are not for the internet, so they are served apart, on
METRICS_BIND:METRICS_PORT (127.0.0.1:9810 by default). Each process that runs
on its own serves them: the queue worker (`escalations worker`, and under
`escalations serve`, where every process counts its metrics into
PROMETHEUS_MULTIPROC_DIR and the worker's page adds them up) and the `web`
command's supervisor, which adds up gunicorn's processes the same way.

It is the standard library's WSGI server with a thread per request, run in a
thread of a process that never forks: gunicorn's master forks its workers, and
a thread running there at a fork could leave a lock held in the child.
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from escalations.config import ConfigError, PrivateListenerSettings, Settings, load_private_listener_settings
from escalations.zendesk.state_store import open_state_store, read_state

if TYPE_CHECKING:
    from huey import Huey

    from escalations.service.queue import Queues

log = logging.getLogger(__name__)

Page = tuple[bytes, str]  # a body and its content type


def readiness(settings: Settings, queues: Sequence[Huey]) -> dict[str, Any]:
    """Whether this process can do its work: the account state reads back for this account, and the queue's
    storage answers (each queue, the tickets' and the notifications', is counted: a real round trip to SQLite
    or Redis)."""
    report: dict[str, Any] = {}
    try:
        state = read_state(open_state_store(settings))
    except ConfigError as error:
        report.update(state=False, state_error=str(error))
    else:
        report["state"] = state.zendesk_url == settings.zendesk_base_url
        if not report["state"]:
            report["state_error"] = (
                f"the state was written for {state.zendesk_url}, not {settings.zendesk_base_url}: "
                "run 'escalations setup'"
            )
    try:
        report["queue_pending"] = sum(int(queue.pending_count()) for queue in queues)
        report["queue"] = True
    except Exception as error:  # noqa: BLE001 - readiness reports any failure of the storage as not ready
        report.update(queue=False, queue_error=error.__class__.__name__)
    return {"ready": bool(report["state"] and report["queue"]), **report}


def private_app(metrics: Callable[[], Page], ready: Callable[[], Mapping[str, Any]]) -> Any:
    """The WSGI app of the three routes; anything else is 404, any method but GET 405."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path not in ("/metrics", "/readyz", "/healthz"):
            return _answer(start_response, "404 Not Found", *_json({"error": "not_found"}))
        if environ.get("REQUEST_METHOD") != "GET":
            return _answer(start_response, "405 Method Not Allowed", *_json({"error": "method_not_allowed"}))
        try:
            if path == "/metrics":
                return _answer(start_response, "200 OK", *metrics())
            if path == "/readyz":
                report = ready()
                status = "200 OK" if report.get("ready") else "503 Service Unavailable"
                return _answer(start_response, status, *_json(report))
        except Exception:  # a failed scrape is logged and answered, never a dead listener thread
            log.exception("%s failed", path)
            return _answer(start_response, "500 Internal Server Error", *_json({"error": "internal"}))
        return _answer(start_response, "200 OK", *_json({"status": "ok"}))

    return app


def _json(document: Mapping[str, Any]) -> Page:
    return json.dumps(document).encode(), "application/json"


def _answer(start_response: StartResponse, status: str, body: bytes, content_type: str) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


class _ThreadedServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in flight never holds up the process's stop


class _ThreadedServerIPv6(_ThreadedServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No log line per request: Prometheus scrapes every few seconds."""

    def log_message(self, format: str, *args: Any) -> None:
        return


class PrivateListener:
    """The three routes on their own address, served by a thread of this process until `stop`."""

    def __init__(
        self, settings: PrivateListenerSettings, metrics: Callable[[], Page], ready: Callable[[], Mapping[str, Any]]
    ) -> None:
        self.settings = settings
        self.app = private_app(metrics, ready)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> PrivateListener:
        """Listen, or raise ConfigError when the address cannot be had (a port in use, an unknown address)."""
        server_class = _ThreadedServerIPv6 if ":" in self.settings.bind else _ThreadedServer
        try:
            self._server = make_server(
                self.settings.bind, self.settings.port, self.app, server_class, handler_class=_QuietHandler
            )
        except OSError as error:
            raise ConfigError(
                f"METRICS_BIND/METRICS_PORT: cannot listen on {self.address} ({error.strerror or error}): "
                "set METRICS_PORT to a free port"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="private listener", daemon=True
        )
        self._thread.start()
        log.info("metrics and readiness on http://%s (/metrics, /readyz, /healthz)", self.address)
        return self

    @property
    def address(self) -> str:
        bind = self.settings.bind
        return f"[{bind}]:{self.settings.port}" if ":" in bind else f"{bind}:{self.settings.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()


def start_private_listener(
    settings: Settings, multiprocess_dir: Path | None = None, queues: Queues | None = None
) -> PrivateListener:
    """The listener for this process: the metrics of every process counting into `multiprocess_dir` (by
    default PROMETHEUS_MULTIPROC_DIR, else this process's own), the queue's gauges, and readiness; `queues`:
    the process's own, or built from the settings."""
    from escalations.service.metrics import exposition
    from escalations.service.queue import Queues

    read = queues if queues is not None else Queues.from_settings(settings)

    def metrics() -> Page:
        return exposition(lambda: read.status(details=False), settings.reconcile_seconds, multiprocess_dir, time.time)

    def ready() -> Mapping[str, Any]:
        return readiness(settings, (read.tickets, read.notifications))

    return PrivateListener(load_private_listener_settings(), metrics, ready).start()
