"""What the service asks of huey beyond its public interface, in this one place (tests/test_huey_adapter.py pins it).

- Job names: huey names a task's jobs after the module of the task's function. The jobs keep the names earlier
  versions queued them under (`plugin.queue.process_ticket`, ...), so that jobs queued before an upgrade still run.
- Signals: SIGTERM and SIGINT both mean "finish the jobs in flight, then stop". huey's consumer treats SIGINT, or a
  second signal (Ctrl-C reaches the whole process group, and `serve` forwards one more), as "stop now", which drops
  the job in flight. Its main loop acts on what its signal handler records in `_signum`, `_restart` and `_graceful`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from huey import Huey
from huey.api import TaskWrapper
from huey.consumer import Consumer

JOB_NAMES_MODULE = "plugin.queue"


def named_task(queue: Huey, function: Callable[..., None], name: str) -> TaskWrapper:
    """A huey task whose jobs are named `plugin.queue.<name>`, wherever `function` lives."""
    return TaskWrapper(queue, function, name=name, **{"__module__": JOB_NAMES_MODULE})


class FinishingConsumer(Consumer):  # type: ignore[misc]  # huey is untyped
    """A consumer that, on every SIGTERM or SIGINT, finishes the jobs in flight and then stops (never restarts)."""

    def __init__(self, queue: Huey, on_signal: Callable[[], None], **options: Any) -> None:
        self.on_signal = on_signal
        super().__init__(queue, **options)

    def _handle_signal(self, signum: int, _frame: object) -> None:
        self._signum = signum
        self._restart, self._graceful = False, True
        self.on_signal()
