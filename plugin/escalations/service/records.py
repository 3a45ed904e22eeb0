"""What the queues' storage keeps beside the jobs: the parked tickets, and what became of each notification delivery.

Read by `doctor` and `/metrics` (`Queues.status`), written by the ticket and notification jobs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from huey import Huey


def now() -> datetime:
    return datetime.now(UTC)


def _records(queue: Huey, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records kept in the queue's result store under `prefix`, by the rest of their key."""
    for key, raw in queue.storage.result_items().items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name.startswith(prefix):
            yield name[len(prefix) :], queue.serializer.deserialize(raw)


class ParkedTickets:
    """Tickets that kept failing; kept in the queue's own storage so every instance sees them."""

    PREFIX = "parked:"

    def __init__(self, queue: Huey, clock: Callable[[], datetime] = now) -> None:
        self.queue = queue
        self.clock = clock

    def park(self, ticket_id: int, reason: str) -> None:
        """Park the ticket with the reason it failed this time; parked again, it keeps the time it was first."""
        key = f"{self.PREFIX}{ticket_id}"
        since = (self.queue.get(key, peek=True) or {}).get("since") or self.clock().isoformat()
        self.queue.put(key, {"since": since, "reason": reason})

    def release(self, ticket_id: int) -> None:
        self.queue.delete(f"{self.PREFIX}{ticket_id}")

    def items(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for name, record in _records(self.queue, self.PREFIX):
            yield int(name), record

    def ticket_ids(self) -> list[int]:
        return [ticket_id for ticket_id, _ in self.items()]


class NotificationDeliveries:
    """What became of each notification delivery (one event to one target), beside its jobs.

    A delivery's record says which attempt was made last and how it ended:
    `sending` is written before the target is called, then `sent`, `failed`
    (a retry is scheduled), `gave_up` or `interrupted`. A job finding its own
    attempt still `sending` belongs to a worker that died while sending: the
    target may have the message, so it is not sent again. Records are kept
    for KEEP_SECONDS; `doctor` lists the deliveries that gave up or were
    interrupted.
    """

    PREFIX = "notification:"
    KEEP_SECONDS = 7 * 86400.0
    FAILED = ("gave_up", "interrupted")

    def __init__(self, queue: Huey, clock: Callable[[], float] = time.time) -> None:
        self.queue = queue
        self.clock = clock

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        record = self.queue.get(f"{self.PREFIX}{delivery_id}", peek=True)
        return dict(record) if record else None

    def record(self, delivery_id: str, attempt: int, state: str, **details: Any) -> None:
        self.queue.put(
            f"{self.PREFIX}{delivery_id}", {"attempt": attempt, "state": state, "at": self.clock(), **details}
        )

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return _records(self.queue, self.PREFIX)

    def failed(self) -> list[tuple[str, dict[str, Any]]]:
        """The deliveries that gave up or were interrupted, newest first."""
        found = [(delivery, record) for delivery, record in self.items() if record.get("state") in self.FAILED]
        return sorted(found, key=lambda item: -float(item[1].get("at") or 0))

    def forget_failures(self) -> int:
        """Forget the deliveries that gave up or were interrupted (once the targets work again)."""
        failed = self.failed()
        for delivery, _ in failed:
            self.queue.delete(f"{self.PREFIX}{delivery}")
        return len(failed)

    def prune(self) -> int:
        """Forget the records older than KEEP_SECONDS."""
        oldest = self.clock() - self.KEEP_SECONDS
        old = [delivery for delivery, record in self.items() if float(record.get("at") or 0) < oldest]
        for delivery in old:
            self.queue.delete(f"{self.PREFIX}{delivery}")
        return len(old)
