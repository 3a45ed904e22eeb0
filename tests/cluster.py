"""Several hosts of the service: a real redis-server they share, and a round-robin proxy in front of them.

The proxy is the simplest load balancer: each new connection goes to the
next host in turn, and to the one after it when that host does not answer
(a host that was killed). Zendesk opens a new connection for each webhook,
so deliveries alternate between the hosts. The tests and the benchmark
(`python -m benchmarks.run --hosts 2`) use both.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support.local_service import free_port, wait_for


class RoundRobinProxy:
    """Forwards each TCP connection on its port to the next of `backends` (ports on loopback) that accepts it."""

    def __init__(self, backends: Sequence[int], port: int | None = None) -> None:
        self.backends = list(backends)
        self.port = port if port is not None else free_port()
        self._turns = itertools.count()
        self._turn_lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=128)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="round-robin proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RoundRobinProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name="proxied connection", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._turn_lock:
            first = next(self._turns)
        for offset in range(len(self.backends)):
            port = self.backends[(first + offset) % len(self.backends)]
            try:
                backend = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                continue  # that host is down: the next one
            backend.settimeout(None)
            pump = threading.Thread(target=_pipe, args=(backend, client), name="proxied answer", daemon=True)
            pump.start()
            _pipe(client, backend)
            pump.join()
            backend.close()
            break
        client.close()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    """Copy `source` to `target` until `source` ends, then end `target`'s side as well."""
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port of loopback, nothing saved to disk; its URL."""
    import redis

    server = shutil.which("redis-server")
    if server is None:
        raise FileNotFoundError("redis-server is not installed (Debian package redis-server; .ci/run installs it)")
    port = free_port()
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*command, "--dir", str(directory)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        if not wait_for(lambda: _pings(redis.Redis.from_url(url)), timeout=10):
            raise RuntimeError("redis-server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _pings(client: object) -> bool:
    try:
        return bool(client.ping())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - not up yet
        return False
