"""Leases in the queue's storage: a lock held across all workers (`exclusive`), and each worker's presence.

A lease is renewed while its holder runs and lapses by itself when the holder dies, so a killed worker's
lock frees itself, and the jobs it had taken go back on the queue (`ConsumerPresence`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator

from huey import Huey
from huey.exceptions import TaskLockedException

from escalations.service.storage import ReliableRedisStorage, consumer_lease, storage_of

log = logging.getLogger(__name__)


RENEW_SECONDS = 2.0  # how often a held lease is renewed (more often for a lease shorter than three times this)


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
        self.name = consumer_lease(self.storage.consumer_id)
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
