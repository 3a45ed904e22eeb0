"""Durable storage for huey's queues, SQLite or Redis: jobs as JSON, acknowledged only once their work is done.

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
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from huey import Huey, RedisHuey, SqliteHuey
from huey.constants import EmptyData
from huey.registry import Message
from huey.serializer import Serializer
from huey.storage import RedisStorage, SqliteStorage
from redis.exceptions import TimeoutError as RedisTimeoutError

from escalations.config import LEASE_SECONDS

log = logging.getLogger(__name__)


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


def consumer_lease(consumer_id: str) -> str:
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
            keys = [self.consumers_key, self.lease_key(consumer_lease(consumer)), self.processing_key(consumer)]
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


def storage_of(queue: Huey) -> ReliableStorage:
    storage: ReliableStorage = queue.storage
    return storage
