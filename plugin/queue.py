"""The durable queue of work: huey, light enough for the web processes to import.

SQLite in the data directory by default (embedded, nothing to install), Redis
when REDIS_URL is set so that several machines share the work. The tasks'
bodies live in `plugin.worker`, which only the worker process imports: the web
processes enqueue without loading Zenpy, the templates or the policy.

Nothing is lost when a worker dies mid-job, with either backend:

- a job is acknowledged after its work, not when it is taken: taking it moves
  it into the taking consumer's hands (Redis: LMOVE onto the consumer's own
  processing list; SQLite: a `taken` row naming the consumer), and only the
  end of its work removes it;
- every consumer holds a lease (`LEASE_SECONDS`, renewed while it runs); the
  jobs in the hands of a consumer whose lease has expired go back on the queue
  (`recover_abandoned`, which every running worker calls every second);
- locks (`exclusive`) are leases too, renewed while the work runs, so a lock
  left by a killed worker frees itself within `LEASE_SECONDS`;
- a retry's delay ends with the job moved back on the queue in one step.

The work is idempotent (the ticket records what has been handled), so a job
that runs again after a crash finds nothing left to do, or finishes it.

Notifications for managers have a queue of their own (`notifications`, in the
same SQLite file or Redis), worked by a few threads of their own, so that a
slow or failing target never holds up ticket work. Sending is not idempotent:
`NotificationDeliveries` records each attempt before it is made, so a job
that runs again after a crash never sends twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from huey import Huey, RedisHuey, SqliteHuey
from huey.exceptions import TaskLockedException
from huey.storage import RedisStorage, SqliteStorage
from redis.exceptions import TimeoutError as RedisTimeoutError

from plugin.config import read_environment

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0  # how long a lock or a consumer's claim on its jobs outlives its last renewal
RENEW_SECONDS = 2.0  # how often a held lease is renewed


def now() -> datetime:
    return datetime.now(UTC)


class ReliableStorage(Protocol):
    """What the worker needs from the queue's storage beyond huey's own: leases and acknowledgements."""

    consumer_id: str

    def acknowledge(self) -> None: ...
    def recover_abandoned(self) -> int: ...
    def in_progress(self) -> int: ...
    def acquire_lease(self, name: str, token: str, seconds: float) -> bool: ...
    def renew_lease(self, name: str, token: str, seconds: float) -> bool: ...
    def release_lease(self, name: str, token: str) -> None: ...


def _consumer_lease(consumer_id: str) -> str:
    return f"consumer.{consumer_id}"


class ReliableSqliteStorage(SqliteStorage):  # type: ignore[misc]
    """SQLite in WAL mode with synchronous=NORMAL, jobs acknowledged after their work, and leases.

    synchronous=NORMAL instead of FULL: a committed job survives any crash of
    our processes (what "processes die" means here) without an fsync per
    webhook; only a power loss or an OS crash can lose the last commits, and
    the catch-up sweep finds those escalations again in Zendesk's event log.
    This halves the webhook's answer time.
    """

    table_taken = (
        "create table if not exists taken (id integer not null primary key, queue text not null, "
        "consumer text not null, data blob not null, priority real not null default 0.0)"
    )
    table_lease = (
        "create table if not exists lease (queue text not null, name text not null, token text not null, "
        "expires_at real not null, primary key (queue, name))"
    )
    ddl: ClassVar[tuple[str, ...]] = (*SqliteStorage.ddl, table_taken, table_lease)

    def __init__(self, *args: Any, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        self.clock = clock
        self.consumer_id = uuid.uuid4().hex
        self._taken = threading.local()
        super().__init__(*args, **kwargs)

    def _create_connection(self) -> Any:
        connection = super()._create_connection()
        connection.execute("pragma synchronous=1")
        return connection

    def dequeue(self) -> bytes | None:
        if not self.sql("select 1 from task where queue = ? limit 1", (self.name,), results=True):
            return None
        with self.db(commit=True) as cursor:
            cursor.execute(
                "select id, data, priority from task where queue = ? order by priority desc, id limit 1", (self.name,)
            )
            row = cursor.fetchone()
            if row is None:
                return None
            task_id, data, priority = row
            cursor.execute("delete from task where id = ?", (task_id,))
            cursor.execute(
                "insert into taken (queue, consumer, data, priority) values (?, ?, ?, ?)",
                (self.name, self.consumer_id, data, priority),
            )
            self._taken.id = cursor.lastrowid
        return bytes(data)

    def acknowledge(self) -> None:
        taken, self._taken.id = getattr(self._taken, "id", None), None
        if taken is not None:
            self.sql("delete from taken where id = ?", (taken,), commit=True)

    def recover_abandoned(self) -> int:
        abandoned = (
            "from taken where queue = ? and not exists (select 1 from lease where lease.queue = taken.queue "
            "and lease.name = 'consumer.' || taken.consumer and lease.expires_at > ?)"
        )
        params = (self.name, self.clock())
        if not self.sql(f"select 1 {abandoned} limit 1", params, results=True):
            return 0
        with self.db(commit=True) as cursor:
            cursor.execute(f"insert into task (queue, data, priority) select queue, data, priority {abandoned}", params)
            cursor.execute(f"delete {abandoned}", params)
            return int(cursor.rowcount)

    def in_progress(self) -> int:
        return int(self.sql("select count(*) from taken where queue = ?", (self.name,), results=True)[0][0])

    def read_schedule(self, ts: datetime) -> list[bytes]:
        """Move every job whose delay is over back onto the queue in one transaction; none is left to enqueue."""
        with self.db(commit=True) as cursor:
            params = (self.name, ts.timestamp())
            cursor.execute(
                "insert into task (queue, data, priority) select queue, data, 0 from schedule "
                "where queue = ? and timestamp <= ? order by timestamp, id",
                params,
            )
            cursor.execute("delete from schedule where queue = ? and timestamp <= ?", params)
        return []

    def acquire_lease(self, name: str, token: str, seconds: float) -> bool:
        with self.db(commit=True) as cursor:
            cursor.execute("select token, expires_at from lease where queue = ? and name = ?", (self.name, name))
            row = cursor.fetchone()
            moment = self.clock()
            if row is not None and row[0] != token and row[1] > moment:
                return False
            cursor.execute(
                "insert or replace into lease (queue, name, token, expires_at) values (?, ?, ?, ?)",
                (self.name, name, token, moment + seconds),
            )
            return True

    def renew_lease(self, name: str, token: str, seconds: float) -> bool:
        with self.db(commit=True) as cursor:
            cursor.execute(
                "update lease set expires_at = ? where queue = ? and name = ? and token = ? and expires_at > ?",
                (self.clock() + seconds, self.name, name, token, self.clock()),
            )
            return bool(cursor.rowcount == 1)

    def release_lease(self, name: str, token: str) -> None:
        self.sql("delete from lease where queue = ? and name = ? and token = ?", (self.name, name, token), commit=True)


# Redis: move the jobs whose delay is over onto the queue in one step.
_SCHEDULE_TO_QUEUE = """
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1])
for _, job in ipairs(due) do redis.call('lpush', KEYS[2], job) end
if #due > 0 then redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1]) end
return #due
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class ReliableRedisStorage(RedisStorage):  # type: ignore[misc]
    """Redis with jobs acknowledged after their work (a processing list per consumer), and leases."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.consumer_id = uuid.uuid4().hex
        self.consumers_key = f"huey.consumers.{self.name}"
        self._taken = threading.local()
        self._schedule_to_queue = self.conn.register_script(_SCHEDULE_TO_QUEUE)
        self._renew = self.conn.register_script(_RENEW)
        self._release = self.conn.register_script(_RELEASE)

    def processing_key(self, consumer_id: str) -> str:
        return f"huey.processing.{self.name}.{consumer_id}"

    def lease_key(self, name: str) -> str:
        return f"huey.lease.{self.name}.{name}"

    def dequeue(self) -> bytes | None:
        mine = self.processing_key(self.consumer_id)
        if self.blocking:
            try:  # blmove answers None when the wait runs out; a socket timeout is the same "nothing yet"
                data = self.conn.blmove(self.queue_key, mine, self.read_timeout, "RIGHT", "LEFT")
            except RedisTimeoutError:
                data = None
        else:
            data = self.conn.lmove(self.queue_key, mine, "RIGHT", "LEFT")
        self._taken.data = data
        return data  # type: ignore[no-any-return]

    def acknowledge(self) -> None:
        taken, self._taken.data = getattr(self._taken, "data", None), None
        if taken is not None:
            self.conn.lrem(self.processing_key(self.consumer_id), 1, taken)

    def register_consumer(self) -> None:
        """Make this process a consumer whose jobs come back if it stops renewing its lease."""
        self.conn.sadd(self.consumers_key, self.consumer_id)

    def unregister_consumer(self) -> None:
        self.conn.srem(self.consumers_key, self.consumer_id)

    def recover_abandoned(self) -> int:
        recovered = 0
        for raw in self.conn.smembers(self.consumers_key):
            consumer = raw.decode() if isinstance(raw, bytes) else str(raw)
            if self.conn.exists(self.lease_key(_consumer_lease(consumer))):
                continue
            # One job at a time, each move atomic: two workers recovering at once never duplicate a job.
            while self.conn.lmove(self.processing_key(consumer), self.queue_key, "LEFT", "RIGHT") is not None:
                recovered += 1
            self.conn.srem(self.consumers_key, consumer)
        return recovered

    def in_progress(self) -> int:
        members = self.conn.smembers(self.consumers_key)
        return sum(int(self.conn.llen(self.processing_key(m.decode()))) for m in members)

    def read_schedule(self, ts: datetime) -> list[bytes]:
        self._schedule_to_queue(keys=[self.schedule_key, self.queue_key], args=[self.convert_ts(ts)])
        return []

    def acquire_lease(self, name: str, token: str, seconds: float) -> bool:
        return bool(self.conn.set(self.lease_key(name), token, nx=True, px=int(seconds * 1000)))

    def renew_lease(self, name: str, token: str, seconds: float) -> bool:
        return bool(self._renew(keys=[self.lease_key(name)], args=[token, int(seconds * 1000)]))

    def release_lease(self, name: str, token: str) -> None:
        self._release(keys=[self.lease_key(name)], args=[token])


class _AcknowledgingHuey(Huey):  # type: ignore[misc]
    """Acknowledges each job once huey is done with it: run, retried, rescheduled or failed."""

    def execute(self, task: Any, timestamp: datetime | None = None) -> Any:
        try:
            return super().execute(task, timestamp)
        finally:
            self.storage.acknowledge()


class _SqliteQueue(_AcknowledgingHuey, SqliteHuey):  # type: ignore[misc]
    storage_class = ReliableSqliteStorage


class _RedisQueue(_AcknowledgingHuey, RedisHuey):  # type: ignore[misc]
    storage_class = ReliableRedisStorage


def make_huey(environ: dict[str, str], name: str = "escalations", clock: Callable[[], float] = time.time) -> Huey:
    """Only the queue's location is needed to enqueue; the rest is read when a job runs.

    `clock` times the SQLite leases; Redis expires its leases by its own clock.
    """
    redis_url = environ.get("REDIS_URL", "").strip()
    if redis_url:
        return _RedisQueue(name, url=redis_url)
    data_dir = environ.get("ESCALATIONS_DATA_DIR", "").strip() or "var"
    directory = Path(data_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return _SqliteQueue(name, filename=str(directory / "queue.sqlite3"), timeout=10, clock=clock)


_environment = read_environment()
huey = make_huey(_environment)
notifications = make_huey(_environment, "escalations-notifications")  # the managers' notifications, apart


def storage_of(queue: Huey) -> ReliableStorage:
    storage: ReliableStorage = queue.storage
    return storage


class Lease:
    """A named lease held by this process and renewed every RENEW_SECONDS until released."""

    def __init__(self, queue: Huey, name: str, seconds: float = LEASE_SECONDS) -> None:
        self.storage = storage_of(queue)
        self.name = name
        self.seconds = seconds
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> bool:
        if not self.storage.acquire_lease(self.name, self.token, self.seconds):
            return False
        self._renewer = threading.Thread(target=self._keep, name=f"lease {self.name}", daemon=True)
        self._renewer.start()
        return True

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            self.storage.release_lease(self.name, self.token)
        except Exception:  # unreachable: the lease runs out by itself; the work is done either way
            log.warning("could not release the lease %s", self.name, exc_info=True)

    def _keep(self) -> None:
        while not self._stop.wait(min(RENEW_SECONDS, self.seconds / 3)):
            try:
                kept = self.storage.renew_lease(self.name, self.token, self.seconds) or self.storage.acquire_lease(
                    self.name, self.token, self.seconds
                )
            except Exception:  # the storage is briefly unreachable: try again at the next renewal
                log.warning("could not renew the lease %s", self.name, exc_info=True)
                continue
            if not kept:
                log.warning("the lease %s expired and another worker holds it now", self.name)


@contextlib.contextmanager
def exclusive(name: str, queue: Huey | None = None, seconds: float = LEASE_SECONDS) -> Iterator[None]:
    """Hold a named lock across all workers; raise TaskLockedException when another holds it.

    The lock is a lease renewed while the block runs: a lock left by a worker
    that died frees itself within `seconds`.
    """
    lease = Lease(queue if queue is not None else huey, f"lock.{name}", seconds)
    if not lease.acquire():
        raise TaskLockedException(f"{name} is locked")
    try:
        yield
    finally:
        lease.release()


class ConsumerPresence:
    """This worker's claim on the jobs it has taken, and the recovery of other, dead workers' jobs.

    Every `interval` (and at `start`) it renews the worker's consumer lease
    (taking it again if it lapsed) and puts back on the queue the jobs held by
    consumers whose lease has expired. A storage that is briefly unreachable
    is tried again at the next beat. `stop` gives the lease up and puts back
    whatever this worker leaves unfinished, at once.
    """

    def __init__(self, queue: Huey, interval: float = 1.0, seconds: float = LEASE_SECONDS) -> None:
        self.storage = storage_of(queue)
        self.interval = interval
        self.seconds = seconds
        self.name = _consumer_lease(self.storage.consumer_id)
        self.token = uuid.uuid4().hex
        self._held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._run, name="queue presence", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.storage.release_lease(self.name, self.token)
            self.storage.recover_abandoned()
            if isinstance(self.storage, ReliableRedisStorage):
                self.storage.unregister_consumer()
        except Exception:  # unreachable: the lease runs out by itself
            log.warning("could not give up the consumer lease", exc_info=True)

    def beat(self) -> None:
        """Renew (or take) this worker's lease, then recover what dead workers had taken."""
        try:
            if not (self._held and self.storage.renew_lease(self.name, self.token, self.seconds)):
                self._held = self.storage.acquire_lease(self.name, self.token, self.seconds)
                if self._held and isinstance(self.storage, ReliableRedisStorage):
                    self.storage.register_consumer()
            recovered = self.storage.recover_abandoned()
        except Exception:  # the storage is briefly unreachable: try again at the next beat
            log.warning("could not renew the consumer lease or look for abandoned jobs", exc_info=True)
            return
        if recovered:
            log.warning("%d job(s) taken by a worker that stopped are back on the queue", recovered)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()


def _records(queue: Huey, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records kept in the queue's result store under `prefix`, by the rest of their key."""
    for key, raw in queue.storage.result_items().items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name.startswith(prefix):
            yield name[len(prefix) :], queue.serializer.deserialize(raw)


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


@huey.task()
def process_ticket(
    ticket_id: int, first_failure: float | None = None, failures: int = 0, invocation_id: str | None = None
) -> None:
    """Handle one ticket (see plugin.worker.process_ticket_job)."""
    from plugin.worker import process_ticket_job

    process_ticket_job(ticket_id, first_failure, failures, invocation_id)


@huey.task()
def sweep(retry_if_locked: bool = True) -> None:
    """Catch up and follow up (see plugin.worker.sweep_job)."""
    from plugin.worker import sweep_job

    sweep_job(retry_if_locked)


@notifications.task()
def send_notification(
    delivery_id: str,
    target: str,
    event: str,
    ticket_id: int,
    title: str,
    body: str,
    first_failure: float | None = None,
    failures: int = 0,
) -> None:
    """Send one notification to one target (see plugin.worker.send_notification_job)."""
    from plugin.worker import send_notification_job

    send_notification_job(delivery_id, target, event, ticket_id, title, body, first_failure, failures)


def status(queue: Huey = huey, notification_queue: Huey = notifications, details: bool = True) -> dict[str, Any]:
    """What `doctor` shows about the background work; without `details`, no list of failed notifications
    (which reads every delivery record), for `/metrics`, which is scraped often and shows only counts."""
    store = json.loads(json.dumps(queue.get("sweep", peek=True) or {}, default=str))
    pending, scheduled = notification_queue.pending_count(), notification_queue.scheduled_count()
    sending = storage_of(notification_queue).in_progress()
    return {
        "pending": queue.pending_count(),
        "in_progress": storage_of(queue).in_progress(),
        "scheduled": queue.scheduled_count(),
        "parked": list(ParkedTickets(queue).items()),
        "sweep": store,
        "notifications": {
            "pending": pending,
            "scheduled": scheduled,
            "waiting": pending + sending + scheduled,
            "failed": NotificationDeliveries(notification_queue).failed() if details else [],
        },
    }
