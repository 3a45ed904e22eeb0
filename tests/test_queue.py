"""The queue keeps a job until its work is done, and a lock or a claim no longer than its holder lives.

Each test runs against both backends: SQLite in a temporary directory and a
real redis-server. "Consumers" are queue objects with consumer ids of their
own, as two worker processes would have. Time passes for the leases only when
a test says so: SQLite's leases are timed by a fake clock, and Redis's, which
Redis expires itself, are shortened by as much.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from huey import Huey
from huey.exceptions import TaskLockedException

from plugin.queue import ConsumerPresence, Lease, ReliableRedisStorage, exclusive, make_huey, storage_of
from tests.conftest import wait_until

# Every lease of the queue loses ARGV[2] ms of its time to live; one with none left is gone (PEXPIRE <= 0 deletes).
_PASS_TIME = """
for _, key in ipairs(redis.call('keys', ARGV[1])) do
  local left = redis.call('pttl', key)
  if left > 0 then redis.call('pexpire', key, left - tonumber(ARGV[2])) end
end
return 0
"""


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class SharedQueue:
    """One queue (the same SQLite file, or the same Redis database) and the time its leases see."""

    environ: dict[str, str]
    clock: FakeClock = field(default_factory=FakeClock)

    def consumer(self) -> Huey:
        return make_huey(self.environ, clock=self.clock)

    def pass_time(self, seconds: float) -> None:
        """Let `seconds` go by for every lease of the queue, held or abandoned."""
        if "REDIS_URL" not in self.environ:
            self.clock.now += seconds
            return
        storage = self.consumer().storage
        storage.conn.eval(_PASS_TIME, 0, storage.lease_key("*"), int(seconds * 1000))


@pytest.fixture(params=["sqlite", "redis"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> SharedQueue:
    environ = {"ESCALATIONS_DATA_DIR": str(tmp_path)}
    if request.param == "redis":
        environ = {"REDIS_URL": request.getfixturevalue("redis_url")}
    return SharedQueue(environ)


@pytest.fixture
def new_consumer(shared: SharedQueue) -> Callable[[], Huey]:
    """Makes a consumer of the shared queue."""
    return shared.consumer


def claim(queue: Huey, seconds: float) -> Lease:
    """Hold the consumer lease of `queue` for `seconds`, unrenewed: a worker that then dies."""
    storage = storage_of(queue)
    lease = Lease(queue, f"consumer.{storage.consumer_id}", seconds)
    assert storage.acquire_lease(lease.name, lease.token, seconds)
    if isinstance(storage, ReliableRedisStorage):
        storage.register_consumer()
    return lease


@dataclass
class Renewals:
    """The lease renewals of one consumer: those that found their lease still held, and those that did not."""

    kept: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def spy_on_renewals(queue: Huey) -> Renewals:
    """From now on, record the lease renewals of `queue`."""
    storage = queue.storage
    renew = storage.renew_lease
    renewals = Renewals()

    def renew_lease(name: str, token: str, seconds: float) -> bool:
        renewed = bool(renew(name, token, seconds))
        (renewals.kept if renewed else renewals.lost).append(name)
        return renewed

    storage.renew_lease = renew_lease
    return renewals


def test_a_job_taken_by_a_worker_that_died_goes_back_on_the_queue_once_its_lease_expires(shared: SharedQueue) -> None:
    dying, survivor = shared.consumer(), shared.consumer()
    claim(dying, 30)
    claim(survivor, 3600)
    dying.storage.enqueue(b"job-1")
    assert dying.storage.dequeue() == b"job-1"
    assert dying.pending_count() == 0 and storage_of(survivor).in_progress() == 1
    shared.pass_time(20)
    assert storage_of(survivor).recover_abandoned() == 0  # its holder's lease is still running
    shared.pass_time(10)
    assert storage_of(survivor).recover_abandoned() == 1  # and now it is over
    assert survivor.storage.dequeue() == b"job-1"
    assert storage_of(survivor).recover_abandoned() == 0  # moved once, not twice


def test_an_acknowledged_job_is_gone_and_never_comes_back(shared: SharedQueue) -> None:
    worker, other = shared.consumer(), shared.consumer()
    lease = claim(worker, 30)
    worker.storage.enqueue(b"job-1")
    assert worker.storage.dequeue() == b"job-1"
    storage_of(worker).acknowledge()
    shared.pass_time(30)
    assert not storage_of(worker).renew_lease(lease.name, lease.token, 30)  # its lease is over: what is still
    assert storage_of(other).recover_abandoned() == 0  # in the worker's hands would come back now
    assert worker.pending_count() == 0 and storage_of(worker).in_progress() == 0


def test_a_running_consumer_keeps_its_jobs_and_gives_them_back_when_it_stops(
    new_consumer: Callable[[], Huey],
) -> None:
    worker, other = new_consumer(), new_consumer()
    presence = ConsumerPresence(worker, interval=0.1)
    presence.start()
    try:
        worker.storage.enqueue(b"job-1")
        assert worker.storage.dequeue() == b"job-1"
        assert storage_of(other).recover_abandoned() == 0
    finally:
        presence.stop()
    assert other.pending_count() == 1 and storage_of(other).in_progress() == 0


def test_a_job_whose_delay_is_over_is_moved_back_on_the_queue_in_one_step(new_consumer: Callable[[], Huey]) -> None:
    queue = new_consumer()
    queue.storage.add_to_schedule(b"retry-1", queue._get_timestamp() - timedelta(seconds=1))
    queue.storage.add_to_schedule(b"later-1", queue._get_timestamp() + timedelta(hours=1))
    assert queue.storage.read_schedule(queue._get_timestamp()) == []  # nothing left for the scheduler to enqueue
    assert queue.pending_count() == 1 and queue.scheduled_count() == 1
    assert queue.storage.dequeue() == b"retry-1"


def test_a_lock_is_held_by_one_worker_at_a_time(new_consumer: Callable[[], Huey]) -> None:
    first, second = new_consumer(), new_consumer()
    with exclusive("ticket-1", first):
        with pytest.raises(TaskLockedException), exclusive("ticket-1", second):
            pass
        with exclusive("ticket-2", second):
            pass
    with exclusive("ticket-1", second):
        pass


def test_a_lock_left_by_a_worker_that_died_frees_itself_when_its_lease_runs_out(shared: SharedQueue) -> None:
    dead, alive = shared.consumer(), shared.consumer()
    assert storage_of(dead).acquire_lease("lock.sweep", uuid.uuid4().hex, 30)  # then never renewed
    with pytest.raises(TaskLockedException), exclusive("sweep", alive):
        pass
    shared.pass_time(20)
    with pytest.raises(TaskLockedException), exclusive("sweep", alive):  # not before its lease is over
        pass
    shared.pass_time(10)
    with exclusive("sweep", alive):
        pass


def test_a_lock_held_while_the_work_runs_is_renewed_and_outlives_its_lease(
    shared: SharedQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("plugin.queue.RENEW_SECONDS", 0.01)  # the renewer's pace; the leases' time is the test's
    holder, other = shared.consumer(), shared.consumer()
    renewals = spy_on_renewals(holder)
    with exclusive("sweep", holder, seconds=30):
        for _ in range(5):  # 100 s in all: over three leases
            shared.pass_time(20)  # less than a lease: the next renewal finds it still held
            wanted = len(renewals.kept) + 2  # one renewal may have begun before the time passed, not the next one
            wait_until(
                lambda wanted=wanted: len(renewals.kept) >= wanted, timeout=10, what="the lock's lease to be renewed"
            )
        with pytest.raises(TaskLockedException), exclusive("sweep", other):
            pass
        assert renewals.lost == []  # held throughout by its renewals, never lapsed and taken again
    with exclusive("sweep", other):
        pass


def test_a_redis_read_that_times_out_is_an_empty_queue_not_an_error(redis_url: str) -> None:
    # The socket gives up (0.2 s) before the blocking read does (2 s): redis-py raises its own TimeoutError.
    storage = ReliableRedisStorage("timeouts", url=f"{redis_url}?socket_timeout=0.2", read_timeout=2)
    assert storage.dequeue() is None
    storage.enqueue(b"job")
    assert storage.dequeue() == b"job"


def test_the_status_for_metrics_leaves_out_the_list_of_failed_notifications(tmp_path: Path) -> None:
    from plugin.queue import NotificationDeliveries, status

    environ = {"ESCALATIONS_DATA_DIR": str(tmp_path)}
    tickets, notifications = make_huey(environ), make_huey(environ, "notifications")
    NotificationDeliveries(notifications).record("d1", 0, "gave_up", event="escalated", ticket_id=7, target="t")

    assert [delivery for delivery, _ in status(tickets, notifications)["notifications"]["failed"]] == ["d1"]
    assert status(tickets, notifications, details=False)["notifications"]["failed"] == []
