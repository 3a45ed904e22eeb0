"""The queue keeps a job until its work is done, and a lock or a claim no longer than its holder lives.

Each test runs against both backends: SQLite in a temporary directory and a
real redis-server. "Consumers" are queue objects with consumer ids of their
own, as two worker processes would have. Time passes for the leases only when
a test says so: SQLite's leases are timed by a fake clock, and Redis's, which
Redis expires itself, are shortened by as much.
"""

from __future__ import annotations

import json
import logging
import pickle
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from huey import Huey
from huey.exceptions import TaskLockedException
from huey.serializer import Serializer

from escalations.service.leases import ConsumerPresence, Lease, exclusive
from escalations.service.queue import Queues, Work
from escalations.service.storage import ReliableRedisStorage, make_huey, storage_of
from tests.conftest import FakeClock, wait_until

# Every lease of the queue loses ARGV[2] ms of its time to live; one with none left is gone (PEXPIRE <= 0 deletes).
_PASS_TIME = """
for _, key in ipairs(redis.call('keys', ARGV[1])) do
  local left = redis.call('pttl', key)
  if left > 0 then redis.call('pexpire', key, left - tonumber(ARGV[2])) end
end
return 0
"""


@dataclass
class SharedQueue:
    """One queue (the same SQLite file, or the same Redis database) and the time its leases see."""

    environ: dict[str, str]
    clock: FakeClock = field(default_factory=lambda: FakeClock(1_000_000.0))

    def consumer(self) -> Huey:
        return make_huey(
            self.environ.get("REDIS_URL"), Path(self.environ.get("ESCALATIONS_DATA_DIR", ".")), clock=self.clock
        )

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
    monkeypatch.setattr(
        "escalations.service.leases.RENEW_SECONDS", 0.01
    )  # the renewer's pace; the leases' time is the test's
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
    # The socket gives up (1 s) before the blocking read does (5 s): redis-py raises its own TimeoutError. (Not
    # shorter: the next command connects again, and its handshake must fit in the socket's time on a busy machine.)
    storage = ReliableRedisStorage("timeouts", url=f"{redis_url}?socket_timeout=1", read_timeout=5)
    assert storage.dequeue() is None
    ReliableRedisStorage("timeouts", url=redis_url).enqueue(b"job")
    assert storage.dequeue() == b"job"


def test_the_status_for_metrics_leaves_out_the_list_of_failed_notifications(tmp_path: Path) -> None:
    from escalations.service.queue import Queues
    from escalations.service.records import NotificationDeliveries

    queues = Queues(make_huey(None, tmp_path), make_huey(None, tmp_path, "notifications"))
    NotificationDeliveries(queues.notifications).record("d1", 0, "gave_up", event="escalated", ticket_id=7, target="t")

    storage_of(queues.notifications).enqueue(b"a notification to send")

    assert [delivery for delivery, _ in queues.status()["notifications"]["failed"]] == ["d1"]
    assert queues.status(details=False)["notifications"] == {
        "pending": 1,
        "in_progress": 0,
        "scheduled": 0,
        "waiting": 1,
    }


def test_a_late_acknowledgement_never_removes_the_job_another_worker_recovered(shared: SharedQueue) -> None:
    slow, survivor, last = shared.consumer(), shared.consumer(), shared.consumer()
    claim(slow, 30)
    slow.storage.enqueue(b"job-1")
    assert slow.storage.dequeue() == b"job-1"
    shared.pass_time(30)  # the slow worker's lease lapses while it still works on the job
    claim(survivor, 30)
    assert storage_of(survivor).recover_abandoned() == 1
    assert survivor.storage.dequeue() == b"job-1"
    storage_of(slow).acknowledge()  # the slow worker finishes after all
    shared.pass_time(30)  # and the survivor dies with the job in its hands
    claim(last, 3600)
    assert storage_of(last).recover_abandoned() == 1
    assert last.storage.dequeue() == b"job-1"


class Interrupted:
    """A Redis connection that lets `meanwhile` happen once, just before the first command other than `reads`."""

    def __init__(self, connection: object, meanwhile: Callable[[], None], reads: tuple[str, ...]) -> None:
        self._connection = connection
        self._meanwhile = meanwhile
        self._reads = reads

    def __getattr__(self, name: str) -> object:
        command = getattr(self._connection, name)
        if name in self._reads or not callable(command):
            return command

        def interrupted(*args: object, **kwargs: object) -> object:
            self.happen()
            return command(*args, **kwargs)

        return interrupted

    def happen(self) -> None:
        meanwhile, self._meanwhile = self._meanwhile, lambda: None
        meanwhile()


def test_a_worker_that_comes_back_while_its_jobs_are_recovered_keeps_every_later_job_recoverable(
    redis_url: str,
) -> None:
    shared = SharedQueue({"REDIS_URL": redis_url})
    paused, recovering, last = shared.consumer(), shared.consumer(), shared.consumer()
    for job in (b"job-1", b"job-2", b"job-3"):
        paused.storage.enqueue(job)
    claim(paused, 30)
    assert paused.storage.dequeue() == b"job-1"
    shared.pass_time(30)  # the worker pauses past its lease

    def comes_back() -> None:  # it renews its claim and takes the next job
        claim(paused, 30)
        paused.storage.dequeue()

    storage = storage_of(recovering)
    connection = Interrupted(storage.conn, comes_back, reads=("smembers", "exists"))
    storage.conn = connection
    storage.recover_abandoned()
    connection.happen()  # a recovery that left no moment in between: it comes back right after
    paused.storage.dequeue()  # and takes one more job
    shared.pass_time(30)  # then dies for good

    claim(last, 3600)
    storage_of(last).recover_abandoned()
    waiting = last.storage.conn.lrange(last.storage.queue_key, 0, -1)
    assert sorted(set(waiting)) == [b"job-1", b"job-2", b"job-3"]  # nothing stranded with the dead worker


def test_a_ticket_parked_again_stays_parked_since_the_first_time(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from escalations.service.records import ParkedTickets

    moments = iter([datetime(2026, 11, 27, 9, 0, tzinfo=UTC), datetime(2026, 11, 27, 15, 0, tzinfo=UTC)])
    parked = ParkedTickets(make_huey(None, tmp_path), clock=lambda: next(moments))
    parked.park(7, "Zendesk answered 503")
    parked.park(7, "Zendesk answered 422")
    assert list(parked.items()) == [(7, {"since": "2026-11-27T09:00:00+00:00", "reason": "Zendesk answered 422"})]


def test_importing_the_service_modules_creates_no_file_and_reads_no_settings(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support.local_service import clean_environment, source_root

    (tmp_path / ".env").write_text("ESCALATIONS_DATA_DIR=data\n")
    environment = {**clean_environment(), "PYTHONPATH": str(source_root())}
    modules = ("service.queue", "service.web", "service.worker", "admin.doctor", "admin.cli")
    imports = "import " + ", ".join(f"escalations.{module}" for module in modules)
    subprocess.run([sys.executable, "-c", imports], cwd=tmp_path, env=environment, check=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == [".env"]


# Jobs as data: JSON, and the pickles of an earlier version read with a restricted unpickler


@dataclass
class Worked:
    """The work the queues' jobs were given: every ticket job run, with its arguments."""

    tickets: list[tuple[object, ...]] = field(default_factory=list)

    def work(self) -> Work:
        def ignore(*_arguments: object) -> None:
            return None

        return Work(lambda *arguments: self.tickets.append(arguments), ignore, ignore)


def queues_in(tmp_path: Path, worked: Worked) -> Queues:
    return Queues(make_huey(None, tmp_path), make_huey(None, tmp_path, "notifications"), worked.work())


def run_next(queues: Queues) -> bool:
    """Take the next job and run it as the consumer does; False when nothing runnable was taken."""
    task = queues.tickets.dequeue()
    if task is None:
        return False
    queues.tickets.execute(task)
    return True


def test_a_job_is_stored_as_json_and_runs_with_its_arguments(tmp_path: Path) -> None:
    worked = Worked()
    queues = queues_in(tmp_path, worked)
    queues.process_ticket(42, "01JDQ8ZK6W0V3M2N7P5R4S1T9X")
    (stored,) = queues.tickets.storage.enqueued_items()
    job = json.loads(bytes(stored))["$job"]
    assert (job["name"], job["args"]) == ("plugin.queue.process_ticket", [42, None, 0, "01JDQ8ZK6W0V3M2N7P5R4S1T9X"])
    assert run_next(queues)
    assert worked.tickets == [(42, None, 0, "01JDQ8ZK6W0V3M2N7P5R4S1T9X")]
    assert storage_of(queues.tickets).in_progress() == 0


def test_a_job_queued_by_the_previous_version_in_pickle_still_runs_once(tmp_path: Path) -> None:
    worked = Worked()
    queues = queues_in(tmp_path, worked)
    earlier = Queues(make_huey(None, tmp_path / "earlier"), make_huey(None, tmp_path / "earlier", "notifications"))
    message = earlier.tickets._registry.create_message(earlier._process_ticket.s(7, 1_800_000_000.0, 2, "01J"))
    queues.tickets.storage.enqueue(Serializer().serialize(message))  # huey's default: pickle
    queues.tickets.storage.put_data("sweep", Serializer().serialize({"cursor": 1_800_000_000, "tickets": 3}))
    assert run_next(queues) and not run_next(queues)
    assert worked.tickets == [(7, 1_800_000_000.0, 2, "01J")]
    assert queues.tickets.get("sweep", peek=True) == {"cursor": 1_800_000_000, "tickets": 3}


class Intrusion:
    """What a pickle can carry: a call, made as it is read."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def test_a_pickle_carrying_any_other_class_is_refused_and_never_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    worked = Worked()
    queues = queues_in(tmp_path, worked)
    marker = tmp_path / "intrusion"
    earlier = Queues(make_huey(None, tmp_path / "earlier"), make_huey(None, tmp_path / "earlier", "notifications"))
    message = earlier.tickets._registry.create_message(earlier._process_ticket.s(Intrusion(marker)))
    queues.tickets.storage.enqueue(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
    with caplog.at_level(logging.ERROR, logger="escalations.service.storage"):
        assert not run_next(queues)
    assert not marker.exists() and worked.tickets == []
    assert "builtins.exec is not part of a job" in caplog.text
    assert queues.tickets.pending_count() == 0 and storage_of(queues.tickets).in_progress() == 0  # dropped


def test_jobs_added_while_a_commit_is_under_way_share_the_next_one_and_each_returns_once_written() -> None:
    from escalations.service.storage import GroupCommit

    writing, release = threading.Event(), threading.Event()
    batches: list[list[str]] = []

    def write(items: list[str]) -> None:
        batches.append(items)
        if len(batches) == 1:
            writing.set()
            release.wait(10)

    commits = GroupCommit(write)
    returned: list[str] = []
    first = threading.Thread(target=lambda: (commits.add("job-1"), returned.append("job-1")))
    first.start()
    assert writing.wait(10)
    others = [
        threading.Thread(target=lambda name=name: (commits.add(name), returned.append(name)))
        for name in ("job-2", "job-3", "job-4")
    ]
    for thread in others:
        thread.start()
    wait_until(lambda: len(commits._waiting) == 3, what="three jobs waiting for the commit under way")
    assert returned == []  # none returns before its own job is written
    release.set()
    for thread in (first, *others):
        thread.join(10)
    assert batches == [["job-1"], ["job-2", "job-3", "job-4"]]
    assert sorted(returned) == ["job-1", "job-2", "job-3", "job-4"]


def test_a_commit_that_fails_fails_every_job_it_carried_and_the_next_ones_are_written() -> None:
    from escalations.service.storage import GroupCommit

    def write(items: list[str]) -> None:
        if "refused" in items:
            raise sqlite3.OperationalError("disk I/O error")

    commits = GroupCommit(write)
    with pytest.raises(sqlite3.OperationalError):
        commits.add("refused")
    commits.add("accepted")  # nothing is left in a bad state
