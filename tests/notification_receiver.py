"""A notification target for the tests: a local HTTP server that Apprise's JSON service posts to.

It records every request and what it answered; it can answer errors for a
while, hold requests without answering (a target that hangs), or be down
(nothing listening on its port) and come back on the same port.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.local_service import free_port

HOLD_SECONDS = 60.0


@dataclass(frozen=True)
class Received:
    title: str
    message: str
    status: int  # what the receiver answered

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class Receiver:
    """Apprise's `json://127.0.0.1:PORT/notify` points here."""

    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._failures: deque[int] = deque()
        self._server: ThreadingHTTPServer | None = None
        self._release = threading.Event()
        self._release.set()
        self._held = 0

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/notify"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
                with receiver._lock:
                    receiver._held += 1
                receiver._release.wait(HOLD_SECONDS)
                with receiver._lock:
                    receiver._held -= 1
                    status = receiver._failures.popleft() if receiver._failures else 200
                    receiver._received.append(
                        Received(str(payload.get("title", "")), str(payload.get("message", "")), status)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Nothing listens on the port any more: sending fails with a connection error."""
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, then 200 again."""
        with self._lock:
            self._failures.extend(statuses)

    def hold(self) -> None:
        """Take requests but answer none until `release` (or HOLD_SECONDS): a target that hangs."""
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def held(self) -> int:
        """Requests taken and not answered yet."""
        with self._lock:
            return self._held

    def received(self) -> list[Received]:
        """The requests answered so far."""
        with self._lock:
            return list(self._received)

    def accepted(self, headline: str = "") -> list[Received]:
        """The messages the receiver took (answered 2xx), those whose title starts with `headline`."""
        return [r for r in self.received() if r.accepted and r.title.startswith(headline)]
