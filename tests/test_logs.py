"""Log lines an operator can use: time in UTC, level, process and logger on every line, the ticket and the
webhook invocation on every line about a ticket, and one JSON object per line for log shippers."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from escalations.config import LogSettings
from escalations.service import logs
from tests.conftest import Service, wait_until
from tests.test_end_to_end import ALICE, settled

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
TEXT_LINE = re.compile(rf"^{TIME} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ \S+(?: \[[^]]+\])?: ")
INVOCATION = "01JDQ8ZK6W0V3M2N7P5R4S1T9X"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """A stream for `logs.configure` to write to; the root logger is put back as it was afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield io.StringIO()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_text_line_has_the_utc_time_level_process_logger_and_the_ticket_it_is_about(captured: io.StringIO) -> None:
    logs.configure(LogSettings("INFO", "text"), "worker", captured)
    log = logging.getLogger("escalations.service.handling")
    log.info("before")
    with logs.about_ticket(42, INVOCATION):
        log.info("ticket 42: escalated (2 writes)")
    log.debug("not at INFO")
    first, second = captured.getvalue().splitlines()
    assert TEXT_LINE.match(first) and first.endswith(" INFO worker escalations.service.handling: before")
    assert TEXT_LINE.match(second)
    about_the_ticket = f"[ticket=42 invocation={INVOCATION}]: ticket 42: escalated (2 writes)"
    assert second.endswith(f" INFO worker escalations.service.handling {about_the_ticket}")


def test_a_json_line_is_one_object_with_the_same_facts_and_the_traceback(captured: io.StringIO) -> None:
    logs.configure(LogSettings("INFO", "json"), "web", captured)
    with logs.about_ticket(7):
        try:
            raise ValueError("boom\non two lines")
        except ValueError:
            logging.getLogger("escalations.service.web").exception("request failed")
    (line,) = captured.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["process"] == "web" and entry["logger"] == "escalations.service.web"
    assert entry["message"] == "request failed" and entry["ticket_id"] == 7 and "invocation_id" not in entry
    assert re.fullmatch(TIME, entry["time"])
    assert "ValueError: boom" in entry["exception"]


def test_the_last_configuration_wins_not_the_first(captured: io.StringIO) -> None:
    logging.basicConfig(level="WARNING", format="%(levelname)s %(message)s", force=True)
    logs.configure(LogSettings("INFO", "json"), "worker", captured)
    logs.configure(LogSettings("DEBUG", "text"), "worker", captured)
    logging.getLogger("huey.consumer").debug("consumer started")
    (line,) = captured.getvalue().splitlines()
    assert TEXT_LINE.match(line) and line.endswith("huey.consumer: consumer started")


def test_the_invocation_carries_on_for_the_same_ticket_and_not_to_another() -> None:
    with logs.about_ticket(1, "inv-1"):
        with logs.about_ticket(1):
            assert (logs.TICKET.get(), logs.INVOCATION.get()) == (1, "inv-1")
        with logs.about_ticket(2):
            assert (logs.TICKET.get(), logs.INVOCATION.get()) == (2, None)
        assert (logs.TICKET.get(), logs.INVOCATION.get()) == (1, "inv-1")
    assert (logs.TICKET.get(), logs.INVOCATION.get()) == (None, None)


def test_every_process_of_the_service_logs_json_lines_and_a_webhooks_lines_name_its_invocation(
    service_env: Service,
) -> None:
    service_env.env["LOG_FORMAT"] = "json"
    service_env.env["LOG_LEVEL"] = "DEBUG"  # the web front's own line about an accepted webhook is at DEBUG
    service_env.run("setup")
    service_env.start()
    try:
        service_env.zendesk.add_comment(1, author_id=ALICE, body="Escalation request: charged twice.")
        wait_until(lambda: settled(service_env, 1, 1), what="the escalation")
        wait_until(lambda: service_env.decisions(1), what="the worker's decision in its log")
    finally:
        service_env.stop()
    invocation = service_env.zendesk.deliveries()[0]["invocation_id"]
    entries = [json.loads(line) for line in service_env.logs().splitlines() if line.strip()]
    assert {entry["process"] for entry in entries} == {"serve", "web", "worker"}
    assert all({"time", "level", "process", "logger", "message"} <= entry.keys() for entry in entries)
    assert {
        "gunicorn.error",
        "gunicorn.access",
        "huey.consumer",
        "escalations.service.web",
        "escalations.service.handling",
    } <= {entry["logger"] for entry in entries}
    about_the_webhook = [entry for entry in entries if entry.get("invocation_id") == invocation]
    assert {entry["logger"] for entry in about_the_webhook} >= {
        "escalations.service.web",
        "escalations.service.handling",
    }
    assert all(entry["ticket_id"] == 1 for entry in about_the_webhook)
    assert any(
        entry["logger"] == "gunicorn.access" and f"invocation={invocation}" in entry["message"] for entry in entries
    )
