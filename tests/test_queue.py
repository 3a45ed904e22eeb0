"""The queue keeps a job until its work is done, and a lock or a claim no longer than its holder lives.

Each test runs against both backends: SQLite in a temporary directory and a
real redis-server. "Consumers" are queue objects with consumer ids of their
own, as two worker processes would have.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from huey import Huey
from huey.exceptions import TaskLockedException

from plugin.queue import ConsumerPresence, Lease, ReliableRedisStorage, exclusive, make_huey, storage_of
from tests.conftest import wait_until


@pytest.fixture(params=["sqlite", "redis"])
def new_consumer(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Huey]:
    """Makes a consumer of one shared queue (the same SQLite file, or the same Redis database)."""
    environ = {"ESCALATIONS_DATA_DIR": str(tmp_path)}
    if request.param == "redis":
        environ = {"REDIS_URL": request.getfixturevalue("redis_url")}
    made: list[Huey] = []

    def make() -> Huey:
        queue = make_huey(environ)
        made.append(queue)
        return queue

    return make


def claim(queue: Huey, seconds: float) -> Lease:
    """Hold the consumer lease of `queue` for `seconds`, unrenewed: a worker that then dies."""
    storage = storage_of(queue)
    lease = Lease(queue, f"consumer.{storage.consumer_id}", seconds)
    assert storage.acquire_lease(lease.name, lease.token, seconds)
    if isinstance(storage, ReliableRedisStorage):
        storage.register_consumer()
    return lease


def test_a_job_taken_by_a_worker_that_died_goes_back_on_the_queue_once_its_lease_expires(
    new_consumer: Callable[[], Huey],
) -> None:
    dying, survivor = new_consumer(), new_consumer()
    claim(dying, 0.5)
    claim(survivor, 30)
    dying.storage.enqueue(b"job-1")
    assert dying.storage.dequeue() == b"job-1"
    assert dying.pending_count() == 0 and storage_of(survivor).in_progress() == 1
    assert storage_of(survivor).recover_abandoned() == 0  # its holder's lease is still running
    wait_until(lambda: storage_of(survivor).recover_abandoned() == 1, timeout=5, what="the lease to expire")
    assert survivor.storage.dequeue() == b"job-1"
    assert storage_of(survivor).recover_abandoned() == 0  # moved once, not twice


def test_an_acknowledged_job_is_gone_and_never_comes_back(new_consumer: Callable[[], Huey]) -> None:
    worker, other = new_consumer(), new_consumer()
    claim(worker, 0.3)
    worker.storage.enqueue(b"job-1")
    assert worker.storage.dequeue() == b"job-1"
    storage_of(worker).acknowledge()
    time.sleep(0.4)  # the lease is over: anything still in the worker's hands would now come back
    assert storage_of(other).recover_abandoned() == 0
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


def test_a_lock_left_by_a_worker_that_died_frees_itself_when_its_lease_runs_out(
    new_consumer: Callable[[], Huey],
) -> None:
    dead, alive = new_consumer(), new_consumer()
    assert storage_of(dead).acquire_lease("lock.sweep", uuid.uuid4().hex, 0.5)  # then never renewed
    with pytest.raises(TaskLockedException), exclusive("sweep", alive):
        pass
    time.sleep(0.6)
    with exclusive("sweep", alive):
        pass


def test_a_lock_held_while_the_work_runs_is_renewed_and_outlives_its_lease(new_consumer: Callable[[], Huey]) -> None:
    holder, other = new_consumer(), new_consumer()
    with exclusive("sweep", holder, seconds=0.6):
        time.sleep(1.5)  # two and a half leases
        with pytest.raises(TaskLockedException), exclusive("sweep", other):
            pass
    with exclusive("sweep", other):
        pass
