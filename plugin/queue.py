"""The durable queue of work: huey, light enough for the web processes to import.

SQLite in the data directory by default (embedded, nothing to install), Redis
when REDIS_URL is set so that several machines share the work. `Queues` is
built from the settings where it is first needed; the jobs' work is given to
it by the worker process (`plugin.worker`), the only one that runs jobs: the
web processes enqueue without loading Zenpy, the templates or the policy.
Jobs and records are stored as JSON (`JobSerializer`): data, never code.

Nothing is lost when a worker dies mid-job, with either backend:

- a job is acknowledged after its work, not when it is taken: taking it moves
  it into the taking consumer's hands (Redis: LMOVE onto the consumer's own
  processing list; SQLite: a `taken` row naming the consumer), and only the
  end of its work removes it;
- every consumer holds a lease (ESCALATIONS_LEASE_SECONDS, 10 s by default,
  renewed while it runs); the jobs in the hands of a consumer whose lease has
  expired go back on the queue (`recover_abandoned`, which every running
  worker calls every second, or every third of a shorter lease);
- locks (`exclusive`) are leases too, renewed while the work runs, so a lock
  left by a killed worker frees itself within a lease;
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
import io
import json
import logging
import pickle
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper
from huey.constants import EmptyData
from huey.exceptions import TaskLockedException
from huey.registry import Message
from huey.serializer import Serializer
from huey.storage import RedisStorage, SqliteStorage
from redis.exceptions import TimeoutError as RedisTimeoutError

from plugin.config import LEASE_SECONDS, Settings

log = logging.getLogger(__name__)

RENEW_SECONDS = 2.0  # how often a held lease is renewed (more often for a lease shorter than three times this)


def now() -> datetime:
    return datetime.now(UTC)


# -- jobs as data -------------------------------------------------------------------------


class JobSerializer(Serializer):  # type: ignore[misc]
    """Jobs and records as JSON, so that whoever can write to the queue's storage cannot run code in a worker.

    A job is huey's message (the task's name, its arguments and huey's own
    bookkeeping: ids, times, retries); a record is a plain value (the sweep's
    cursor, a parked ticket, a notification's delivery). Both hold only what
    JSON holds, times as `{"$time": ISO 8601}`; anything else is refused when
    it is written. Jobs and records written by an earlier version, with
    pickle, are read with `OldPickles`, which accepts huey's message and
    times only.
    """

    def _serialize(self, data: Any) -> bytes:
        plain = _plain_job(data) if isinstance(data, Message) else data
        return json.dumps(plain, separators=(",", ":"), default=_plain_time).encode()

    def _deserialize(self, data: bytes) -> Any:
        if data[:1] == _PICKLE:
            return OldPickles(io.BytesIO(data)).load()
        return json.loads(data, object_hook=_revived)


_PICKLE = b"\x80"  # every pickle of protocol 2 or later (huey wrote protocol 5) starts with this byte
_JOB, _TIME = "$job", "$time"


def _plain_job(job: Message) -> dict[str, Any]:
    # A job's callbacks (huey's on_complete and on_error) are jobs too; everything else is a plain value.
    fields = zip(Message._fields, job, strict=True)
    return {_JOB: {name: _plain_job(value) if isinstance(value, Message) else value for name, value in fields}}


def _plain_time(value: Any) -> Any:
    """What json.dumps writes for a value JSON has no type for: a time; anything else is refused."""
    if isinstance(value, datetime):
        return {_TIME: value.isoformat()}
    raise TypeError(f"a {value.__class__.__name__} cannot be part of a job or a record")


def _revived(value: dict[str, Any]) -> Any:
    if len(value) == 1 and _JOB in value:
        job = value[_JOB]
        return Message(**{**job, "args": tuple(job.get("args") or ())})
    if len(value) == 1 and _TIME in value:
        return datetime.fromisoformat(value[_TIME])
    return value


class OldPickles(pickle.Unpickler):
    """Reads the jobs and records an earlier version pickled: huey's message, times and plain values, nothing else.

    A pickle naming any other class (the way pickle runs code) is refused
    with UnpicklingError before anything of it is built.
    """

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {("huey.registry", "Message"), ("datetime", "datetime"), ("datetime", "timedelta"), ("datetime", "timezone")}
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a job")
        return super().find_class(module, name)


class ReliableStorage(Protocol):
    """What the worker needs from the queue's storage beyond huey's own: leases and acknowledgements."""

    consumer_id: str
    lease_seconds: float

    def acknowledge(self) -> None: ...
    def recover_abandoned(self) -> int: ...
    def in_progress(self) -> int: ...
    def acquire_lease(self, name: str, token: str, seconds: float) -> bool: ...
    def renew_lease(self, name: str, token: str, seconds: float) -> bool: ...
    def release_lease(self, name: str, token: str) -> None: ...


def _consumer_lease(consumer_id: str) -> str:
    return f"consumer.{consumer_id}"


class GroupCommit:
    """Writes that arrive from several threads at once, done in one go: each caller returns once its own is done.

    The first caller to find no write under way writes everything waiting
    (its own and whatever arrives meanwhile, batch after batch); the others
    wait for it. A webhook answers only once its job is committed, and eight
    webhooks at once cost one SQLite transaction instead of eight in a row,
    each of which waits for the process's lock on the connection.
    """

    def __init__(self, write: Callable[[list[Any]], None]) -> None:
        self.write = write
        self._lock = threading.Lock()
        self._waiting: list[tuple[Any, _Written]] = []
        self._writing = False

    def add(self, item: Any) -> None:
        written = _Written()
        with self._lock:
            self._waiting.append((item, written))
            leading, self._writing = not self._writing, True
        if leading:
            self._write_all()
        written.wait()

    def _write_all(self) -> None:
        while True:
            with self._lock:
                batch, self._waiting = self._waiting, []
                if not batch:
                    self._writing = False
                    return
            error: BaseException | None = None
            try:
                self.write([item for item, _ in batch])
            except BaseException as failure:  # noqa: BLE001 - every caller of the batch gets it: none was written
                error = failure
            for _, written in batch:
                written.done(error)


class _Written:
    """One caller's wait for its write."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._error: BaseException | None = None

    def done(self, error: BaseException | None) -> None:
        self._error = error
        self._event.set()

    def wait(self) -> None:
        self._event.wait()
        if self._error is not None:
            raise self._error


class ReliableSqliteStorage(SqliteStorage):  # type: ignore[misc]
    """SQLite in WAL mode with synchronous=NORMAL, jobs acknowledged after their work, and leases.

    synchronous=NORMAL instead of FULL: a committed job survives any crash of
    our processes (what "processes die" means here) without an fsync per
    webhook; only a power loss or an OS crash can lose the last commits, and
    the catch-up sweep finds those escalations again in Zendesk's event log.
    This halves the webhook's answer time.
    """

    # AUTOINCREMENT: an id is never used twice, so a late acknowledgement (by a worker whose lease lapsed)
    # cannot remove the row of whoever recovered the job and took it again.
    table_taken = (
        "create table if not exists taken (id integer not null primary key autoincrement, queue text not null, "
        "consumer text not null, data blob not null, priority real not null default 0.0)"
    )
    table_lease = (
        "create table if not exists lease (queue text not null, name text not null, token text not null, "
        "expires_at real not null, primary key (queue, name))"
    )
    ddl: ClassVar[tuple[str, ...]] = (*SqliteStorage.ddl, table_taken, table_lease)

    def __init__(
        self, *args: Any, clock: Callable[[], float] = time.time, lease_seconds: float = LEASE_SECONDS, **kwargs: Any
    ) -> None:
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.consumer_id = uuid.uuid4().hex
        self._taken = threading.local()
        self._group_commit = GroupCommit(self._insert_tasks)
        super().__init__(*args, **kwargs)

    def initialize_schema(self) -> None:
        """Create the tables; a `taken` table of an earlier version, whose ids could be reused, is rebuilt."""
        with self.db(commit=True) as cursor:
            cursor.execute("select sql from sqlite_master where type = 'table' and name = 'taken'")
            row = cursor.fetchone()
            if row is not None and "autoincrement" not in str(row[0]).lower():
                cursor.execute("alter table taken rename to taken_before")
                cursor.execute(self.table_taken)
                cursor.execute(
                    "insert into taken (id, queue, consumer, data, priority) "
                    "select id, queue, consumer, data, priority from taken_before"
                )
                cursor.execute("drop table taken_before")
        super().initialize_schema()

    def _create_connection(self) -> Any:
        connection = super()._create_connection()
        connection.execute("pragma synchronous=1")
        return connection

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        """Add a job, committed when this returns; jobs added at the same moment share one transaction."""
        self._group_commit.add((bytes(data), float(priority or 0.0)))

    def _insert_tasks(self, tasks: list[tuple[bytes, float]]) -> None:
        rows = [(self.name, self.to_blob(data), priority) for data, priority in tasks]
        if len(rows) == 1:  # one statement in autocommit: its own transaction, without begin and commit around it
            self.sql("insert into task (queue, data, priority) values (?, ?, ?)", rows[0])
            return
        with self.db(commit=True) as cursor:
            cursor.executemany("insert into task (queue, data, priority) values (?, ?, ?)", rows)

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

    def pop_data(self, key: str) -> Any:
        """As huey's, but a key that is not there costs a read, not a write transaction: huey clears each job's
        revocation mark after it runs, and there hardly ever is one, while every webhook's enqueue waits for
        the write lock the worker holds."""
        if not self.has_data_for_key(key):
            return EmptyData
        return super().pop_data(key)

    def read_schedule(self, ts: datetime) -> list[bytes]:
        """Move every job whose delay is over back onto the queue in one transaction; none is left to enqueue.

        Asked every second: when nothing is due, it costs a read, not a write transaction.
        """
        params = (self.name, ts.timestamp())
        if not self.sql("select 1 from schedule where queue = ? and timestamp <= ? limit 1", params, results=True):
            return []
        with self.db(commit=True) as cursor:
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
# The jobs of a consumer whose lease is gone back on the queue, and the consumer unregistered; -1: it is alive.
_RECOVER = """
if redis.call('exists', KEYS[2]) == 1 then return -1 end
local moved = 0
while redis.call('lmove', KEYS[3], KEYS[4], 'LEFT', 'RIGHT') do moved = moved + 1 end
redis.call('srem', KEYS[1], ARGV[1])
return moved
"""


class ReliableRedisStorage(RedisStorage):  # type: ignore[misc]
    """Redis with jobs acknowledged after their work (a processing list per consumer), and leases."""

    def __init__(self, *args: Any, lease_seconds: float = LEASE_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lease_seconds = lease_seconds
        self.consumer_id = uuid.uuid4().hex
        self.consumers_key = f"huey.consumers.{self.name}"
        self._taken = threading.local()
        self._schedule_to_queue = self.conn.register_script(_SCHEDULE_TO_QUEUE)
        self._renew = self.conn.register_script(_RENEW)
        self._release = self.conn.register_script(_RELEASE)
        self._recover = self.conn.register_script(_RECOVER)

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
            # Check, move and unregister in one step: a consumer that takes its lease again meanwhile keeps
            # its jobs and its registration, so the jobs it takes later can still be recovered.
            keys = [self.consumers_key, self.lease_key(_consumer_lease(consumer)), self.processing_key(consumer)]
            recovered += max(0, int(self._recover(keys=[*keys, self.queue_key], args=[consumer])))
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
    """Acknowledges each job once huey is done with it: run, retried, rescheduled or failed.

    A job it cannot read (not JSON, a pickle naming a class other than a
    job's, a task it does not know) is refused: logged, acknowledged and
    never run.
    """

    def dequeue(self) -> Any:
        data = self.storage.dequeue()
        if data is None:
            return None
        try:
            return self.deserialize_task(data)
        except Exception as refused:  # noqa: BLE001 - whatever it is, it is not a job of ours
            log.error("a job that is not one of ours was refused and dropped (%s)", refused)
            self.storage.acknowledge()
            return None

    def execute(self, task: Any, timestamp: datetime | None = None) -> Any:
        try:
            return super().execute(task, timestamp)
        finally:
            self.storage.acknowledge()


class _SqliteQueue(_AcknowledgingHuey, SqliteHuey):  # type: ignore[misc]
    storage_class = ReliableSqliteStorage


class _RedisQueue(_AcknowledgingHuey, RedisHuey):  # type: ignore[misc]
    storage_class = ReliableRedisStorage


def make_huey(
    redis_url: str | None,
    data_dir: Path,
    name: str = "escalations",
    clock: Callable[[], float] = time.time,
    lease_seconds: float = LEASE_SECONDS,
) -> Huey:
    """One queue: in Redis when there is a URL, otherwise in SQLite in the data directory (created if missing).

    `clock` times the SQLite leases; Redis expires its leases by its own clock.
    """
    if redis_url:
        return _RedisQueue(name, url=redis_url, serializer=JobSerializer(), lease_seconds=lease_seconds)
    directory = Path(data_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return _SqliteQueue(
        name,
        filename=str(directory / "queue.sqlite3"),
        timeout=10,
        serializer=JobSerializer(),
        clock=clock,
        lease_seconds=lease_seconds,
    )


@dataclass(frozen=True)
class Work:
    """What runs each kind of job: given by the worker process, which alone runs them."""

    process_ticket: Callable[..., None]
    sweep: Callable[..., None]
    send_notification: Callable[..., None]


class Queues:
    """The service's queues: the tickets' work, and the managers' notifications apart.

    Built from the settings where they are first needed (no queue exists
    before: importing this module touches nothing). The web front and the
    admin commands only enqueue and read counts; the worker gives the `Work`
    that runs the jobs. The tasks keep the names earlier versions queued them
    under (`plugin.queue.process_ticket`, ...), so that jobs queued before an
    upgrade still run.
    """

    def __init__(self, tickets: Huey, notifications: Huey, work: Work | None = None) -> None:
        self.tickets = tickets
        self.notifications = notifications
        self.work = work
        self._process_ticket = TaskWrapper(tickets, self.process_ticket_task, name="process_ticket")
        self._sweep = TaskWrapper(tickets, self.sweep_task, name="sweep")
        self._send_notification = TaskWrapper(notifications, self.send_notification_task, name="send_notification")

    @classmethod
    def from_settings(cls, settings: Settings, work: Work | None = None) -> Queues:
        def queue(name: str) -> Huey:
            return make_huey(settings.redis_url, settings.data_dir, name, lease_seconds=settings.lease_seconds)

        return cls(queue("escalations"), queue("escalations-notifications"), work)

    # -- enqueueing ------------------------------------------------------------------------------

    def process_ticket(
        self,
        ticket_id: int,
        invocation_id: str | None = None,
        first_failure: float | None = None,
        failures: int = 0,
        delay: float | None = None,
    ) -> None:
        """Queue a ticket's job (after `delay` seconds, for a retry)."""
        self._queue(self._process_ticket, (ticket_id, first_failure, failures, invocation_id), delay)

    def sweep(self, retry_if_locked: bool = True, forced: bool = False, delay: float | None = None) -> None:
        """Queue a catch-up sweep; `forced`: whenever the last one ran (at start, or the retry of one)."""
        self._queue(self._sweep, (retry_if_locked, forced), delay)

    def send_notification(
        self,
        delivery_id: str,
        target: str,
        event: str,
        ticket_id: int,
        title: str,
        body: str,
        first_failure: float | None = None,
        failures: int = 0,
        delay: float | None = None,
    ) -> None:
        """Queue one notification to one target."""
        arguments = (delivery_id, target, event, ticket_id, title, body, first_failure, failures)
        self._queue(self._send_notification, arguments, delay)

    @staticmethod
    def _queue(task: TaskWrapper, arguments: tuple[Any, ...], delay: float | None) -> None:
        if delay is None:
            task(*arguments)
        else:
            task.schedule(args=arguments, delay=delay)

    # -- the jobs, as huey runs them ------------------------------------------------------------

    def process_ticket_task(
        self, ticket_id: int, first_failure: float | None = None, failures: int = 0, invocation_id: str | None = None
    ) -> None:
        self._work().process_ticket(ticket_id, first_failure, failures, invocation_id)

    def sweep_task(self, retry_if_locked: bool = True, forced: bool = False) -> None:
        self._work().sweep(retry_if_locked, forced)

    def send_notification_task(
        self,
        delivery_id: str,
        target: str,
        event: str,
        ticket_id: int,
        title: str,
        body: str,
        first_failure: float | None = None,
        failures: int = 0,
    ) -> None:
        self._work().send_notification(delivery_id, target, event, ticket_id, title, body, first_failure, failures)

    def _work(self) -> Work:
        if self.work is None:
            raise RuntimeError("jobs run in the worker (escalations worker), which gives the queues their work")
        return self.work

    # -- what doctor and /metrics show ---------------------------------------------------------

    def status(self, details: bool = True) -> dict[str, Any]:
        """What `doctor` shows about the background work; without `details`, no list of failed notifications
        (which reads every delivery record), for `/metrics`, which is scraped often and shows only counts."""
        store = json.loads(json.dumps(self.tickets.get("sweep", peek=True) or {}, default=str))
        notifications = self.notifications
        pending, scheduled = notifications.pending_count(), notifications.scheduled_count()
        sending = storage_of(notifications).in_progress()
        notification_status: dict[str, Any] = {
            "pending": pending,
            "in_progress": sending,
            "scheduled": scheduled,
            "waiting": pending + sending + scheduled,
        }
        if details:
            notification_status["failed"] = NotificationDeliveries(notifications).failed()
        return {
            "pending": self.tickets.pending_count(),
            "in_progress": storage_of(self.tickets).in_progress(),
            "scheduled": self.tickets.scheduled_count(),
            "parked": list(ParkedTickets(self.tickets).items()),
            "sweep": store,
            "notifications": notification_status,
        }


def storage_of(queue: Huey) -> ReliableStorage:
    storage: ReliableStorage = queue.storage
    return storage


class Lease:
    """A named lease held by this process and renewed every RENEW_SECONDS until released."""

    def __init__(self, queue: Huey, name: str, seconds: float | None = None) -> None:
        self.storage = storage_of(queue)
        self.name = name
        self.seconds = seconds if seconds is not None else self.storage.lease_seconds
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
def exclusive(name: str, queue: Huey, seconds: float | None = None) -> Iterator[None]:
    """Hold a named lock across all workers; raise TaskLockedException when another holds it.

    The lock is a lease renewed while the block runs: a lock left by a worker
    that died frees itself within `seconds` (the queue's lease by default).
    """
    lease = Lease(queue, f"lock.{name}", seconds)
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

    def __init__(self, queue: Huey, interval: float = 1.0, seconds: float | None = None) -> None:
        self.storage = storage_of(queue)
        self.seconds = seconds if seconds is not None else self.storage.lease_seconds
        self.interval = min(interval, self.seconds / 3)
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
                self.storage.register_consumer()  # again at every beat: a recovery may have unregistered it
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
