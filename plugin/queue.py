"""The durable queue of work: huey, light enough for the web processes to import.

SqliteHuey in the data directory by default (embedded, nothing to install),
RedisHuey when REDIS_URL is set so that several machines share the work. The
tasks' bodies live in `plugin.worker`, which only the worker process imports:
the web processes enqueue without loading Zenpy, the templates or the policy.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from huey.exceptions import TaskLockedException
from huey.storage import SqliteStorage

from plugin.config import read_environment


def now() -> datetime:
    return datetime.now(UTC)


class _WalNormalStorage(SqliteStorage):  # type: ignore[misc]
    """SQLite in WAL mode with synchronous=NORMAL instead of FULL.

    A committed job survives any crash of our processes (what "processes die"
    means here) without an fsync per webhook; only a power loss or an OS crash
    can lose the last commits, and the catch-up sweep finds those escalations
    again in Zendesk's event log. This halves the webhook's answer time.
    """

    def _create_connection(self) -> Any:
        connection = super()._create_connection()
        connection.execute("pragma synchronous=1")
        return connection


class _QueueHuey(SqliteHuey):  # type: ignore[misc]
    storage_class = _WalNormalStorage


def make_huey(environ: dict[str, str]) -> Huey:
    """Only the queue's location is needed to enqueue; the rest is read when a job runs."""
    redis_url = environ.get("REDIS_URL", "").strip()
    if redis_url:
        return RedisHuey("escalations", url=redis_url)
    data_dir = environ.get("ESCALATIONS_DATA_DIR", "").strip() or "var"
    directory = Path(data_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return _QueueHuey("escalations", filename=str(directory / "queue.sqlite3"), timeout=10)


huey = make_huey(read_environment())


@contextlib.contextmanager
def exclusive(name: str, seconds: int) -> Iterator[None]:
    """Hold a named lock across all workers; raise TaskLockedException when another holds it.

    With Redis the lock expires after `seconds`, so a lock left by a worker
    killed on another machine frees itself (plain SET NX EX: huey's own TTL
    locks need Redis 7.4). SQLite serves one machine: its locks are cleared
    when the consumer starts.
    """
    if not isinstance(huey, RedisHuey):
        with huey.lock_task(name):
            yield
        return
    connection = huey.storage.conn
    key, token = f"escalations.lock.{name}", uuid.uuid4().hex
    if not connection.set(key, token, nx=True, ex=seconds):
        raise TaskLockedException(f"{name} is locked")
    try:
        yield
    finally:
        if connection.get(key) == token.encode():
            connection.delete(key)


class ParkedTickets:
    """Tickets that kept failing; kept in the queue's own storage so every instance sees them."""

    PREFIX = "parked:"

    def __init__(self, queue: Huey) -> None:
        self.queue = queue

    def park(self, ticket_id: int, reason: str) -> None:
        self.queue.put(f"{self.PREFIX}{ticket_id}", {"since": now().isoformat(), "reason": reason})

    def release(self, ticket_id: int) -> None:
        self.queue.delete(f"{self.PREFIX}{ticket_id}")

    def items(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for key, raw in self.queue.storage.result_items().items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            if name.startswith(self.PREFIX):
                yield int(name[len(self.PREFIX) :]), self.queue.serializer.deserialize(raw)

    def ticket_ids(self) -> list[int]:
        return [ticket_id for ticket_id, _ in self.items()]


@huey.task()
def process_ticket(
    ticket_id: int, first_failure: float | None = None, failures: int = 0, invocation_id: str | None = None
) -> None:
    """Handle one ticket (see plugin.worker.process_ticket_job)."""
    from plugin.worker import process_ticket_job

    process_ticket_job(ticket_id, first_failure, failures, invocation_id)


@huey.task()
def sweep() -> None:
    """Catch up and follow up (see plugin.worker.sweep_job)."""
    from plugin.worker import sweep_job

    sweep_job()


def status(queue: Huey = huey) -> dict[str, Any]:
    """What `doctor` shows about the background work."""
    store = json.loads(json.dumps(queue.get("sweep", peek=True) or {}, default=str))
    return {
        "pending": queue.pending_count(),
        "scheduled": queue.scheduled_count(),
        "parked": list(ParkedTickets(queue).items()),
        "sweep": store,
    }
