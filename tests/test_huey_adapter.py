"""What the service relies on in huey's internals (escalations.service.huey_adapter): pinned here, so that a huey
upgrade that changes it fails these tests rather than the service."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest
from huey import MemoryHuey
from huey.consumer import ConsumerStopped

from escalations.service.huey_adapter import FinishingConsumer, named_task

HANDLED: list[int] = []


def process_ticket(ticket_id: int) -> None:
    """A job function living in this module, not in plugin.queue."""
    HANDLED.append(ticket_id)


def test_jobs_keep_the_names_earlier_versions_queued_them_under() -> None:
    queue = MemoryHuey("names", immediate=False)
    task = named_task(queue, process_ticket, "process_ticket")
    task(42)
    stored = queue.storage.dequeue()
    assert queue.serializer.deserialize(stored).name == "plugin.queue.process_ticket"
    queue.execute(queue.deserialize_task(stored))  # and a job stored under that name runs its task
    assert task.name == "process_ticket" and HANDLED == [42]


@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """The consumer sets the process's SIGTERM, SIGINT and SIGHUP handlers: put pytest's back afterwards."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_every_stop_signal_finishes_the_job_in_flight_and_stops_without_restarting(
    signal_handlers: None, signum: signal.Signals
) -> None:
    queue = MemoryHuey("signals", immediate=False)
    started, finish, finished = threading.Event(), threading.Event(), threading.Event()

    def slow_job() -> None:
        started.set()
        finish.wait(10)
        finished.set()

    job = named_task(queue, slow_job, "slow_job")
    told: list[bool] = []
    consumer = FinishingConsumer(
        queue, on_signal=lambda: told.append(True), workers=1, worker_type="thread", graceful_signal="TERM"
    )
    consumer.start()
    job()
    assert started.wait(10)
    os.kill(os.getpid(), signum)
    os.kill(os.getpid(), signum)  # a second one too: Ctrl-C reaches the process group, and `serve` forwards one
    assert told == [True, True]
    threading.Timer(0.2, finish.set).start()
    with pytest.raises(ConsumerStopped):
        consumer.loop()  # what run() does: the loop reads the decision and stops gracefully, joining the workers
    assert finished.is_set()
    assert consumer._restart is False  # run() would otherwise exec the process again
