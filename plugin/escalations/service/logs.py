"""Log lines an operator can use: one format in every process, with the ticket and the webhook invocation.

Every process of the service (the `serve` supervisor, gunicorn's web workers
with gunicorn's own error and access logs, the queue worker, the command line)
writes the same line, with the time in UTC:

    2026-11-27T15:04:05.123Z INFO worker escalations.service.handling [ticket=42 invocation=01JD…]: ticket 42: escalated

With LOG_FORMAT=json each record is one JSON object on one line, for log
shippers: `time`, `level`, `process`, `logger`, `message`, and `ticket_id`,
`invocation_id` and `exception` when there are.

The ticket (and the webhook invocation that asked for the work, carried with
the job through the queue) are context variables, set with `about_ticket`
for as long as the code works on that ticket; a filter copies them onto every
record, so no log call has to repeat them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from escalations.config import LogSettings

TICKET: ContextVar[int | None] = ContextVar("ticket", default=None)
INVOCATION: ContextVar[str | None] = ContextVar("invocation", default=None)


@contextlib.contextmanager
def about_ticket(ticket_id: int, invocation_id: str | None = None) -> Iterator[None]:
    """Mark every log record made inside the block as being about `ticket_id` (and `invocation_id`).

    Inside a block already about the same ticket, the invocation carries on
    unless another is given.
    """
    if invocation_id is None and TICKET.get() == ticket_id:
        invocation_id = INVOCATION.get()
    ticket_token, invocation_token = TICKET.set(ticket_id), INVOCATION.set(invocation_id)
    try:
        yield
    finally:
        INVOCATION.reset(invocation_token)
        TICKET.reset(ticket_token)


class TicketContext(logging.Filter):
    """Copies the ticket and invocation of the current context onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "ticket_id", None) is None:
            record.ticket_id = TICKET.get()
        if getattr(record, "invocation_id", None) is None:
            record.invocation_id = INVOCATION.get()
        return True


def _utc(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class TextFormatter(logging.Formatter):
    """`TIME LEVEL PROCESS LOGGER [ticket=… invocation=…]: MESSAGE`, then the traceback if any."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        context = []
        ticket_id, invocation_id = getattr(record, "ticket_id", None), getattr(record, "invocation_id", None)
        if ticket_id is not None:
            context.append(f"ticket={ticket_id}")
        if invocation_id is not None:
            context.append(f"invocation={invocation_id}")
        about = f" [{' '.join(context)}]" if context else ""
        line = f"{_utc(record)} {record.levelname} {self.process} {record.name}{about}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record),
            "level": record.levelname,
            "process": self.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("ticket_id", "invocation_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(settings: LogSettings, process: str) -> logging.Formatter:
    return JsonFormatter(process) if settings.format == "json" else TextFormatter(process)


def configure(settings: LogSettings, process: str, stream: TextIO | None = None) -> None:
    """Send every record of this process at `settings.level` or above to stderr (or `stream`), in the one format.

    Replaces whatever was configured before, so the last call wins (not the first, as with basicConfig).
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(settings, process))
    handler.addFilter(TicketContext())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level)


def adopt(logger: logging.Logger, settings: LogSettings, process: str) -> None:
    """Give the handlers of a logger that writes on its own (gunicorn's) the one format."""
    for handler in logger.handlers:
        handler.setFormatter(formatter(settings, process))
        handler.addFilter(TicketContext())
