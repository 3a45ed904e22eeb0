"""Following an escalation after it was made: overdue once, acknowledged by a manager's reply, resolved on solve.

The service runs as real processes with a short sweep interval; time passing is
played by moving the ticket's response-due field into the past, as if the
clock had run on, never by sleeping for hours.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import Service, wait_until
from tests.test_end_to_end import ALICE, BOB, deliveries_for, internal_notes, settled

MAYA = 10012  # an agent in the seeded "Support Managers" group (Tom Becker in the sandbox)


SHARED_SERVICE_SETTINGS = {"ESCALATIONS_RECONCILE_SECONDS": "1"}  # a sweep every second


@pytest.fixture
def watched(shared_service: Service) -> Service:
    """The module's service, sweeping every second; each test works on a new ticket like a seeded one."""
    return shared_service


def escalate(service: Service, ticket_id: int, customer: int) -> None:
    service.zendesk.add_comment(ticket_id, author_id=customer, body="Escalation request: nothing works since Monday.")
    wait_until(lambda: settled(service, ticket_id, 1), what="the escalation")
    # The worker logs its decision just after the last write lands: wait for the line too.
    wait_until(lambda: "escalated" in service.decisions(ticket_id), what="the worker's decision to escalate")


def field_id(service: Service, key: str) -> int:
    return int(json.loads((service.data_dir / "state.json").read_text())["field_ids"][key])


def status_of(service: Service, ticket_id: int) -> str | None:
    wanted = field_id(service, "status")
    return next(f["value"] for f in service.zendesk.ticket(ticket_id)["custom_fields"] if f["id"] == wanted)


def let_the_due_time_pass(service: Service, ticket_id: int) -> None:
    due = field_id(service, "response_due")
    service.zendesk.api_update_ticket(ticket_id, {"custom_fields": [{"id": due, "value": "2026-01-05T09:00:00Z"}]})


def test_an_escalation_past_due_is_marked_overdue_once_with_one_note_for_the_managers(watched: Service) -> None:
    ticket = watched.new_ticket(like=1)
    escalate(watched, ticket, ALICE)
    let_the_due_time_pass(watched, ticket)
    wait_until(lambda: "escalation_overdue" in watched.zendesk.ticket(ticket)["tags"], what="the overdue mark")
    marked = watched.sweeps_done()
    wait_until(lambda: watched.sweeps_done() >= marked + 2, timeout=60, what="two more sweeps")  # none notes it again
    notes = internal_notes(watched.zendesk, ticket)
    assert len(notes) == 2 and "overdue" in notes[1]["body"].lower()
    assert status_of(watched, ticket) == "escalation_status_requested"


def test_solving_the_ticket_resolves_the_escalation_and_a_later_attempt_is_still_refused(watched: Service) -> None:
    ticket = watched.new_ticket(like=2)
    escalate(watched, ticket, BOB)
    watched.zendesk.set_status(ticket, "solved")
    wait_until(lambda: status_of(watched, ticket) == "escalation_status_resolved", what="the escalation to be resolved")
    watched.zendesk.add_comment(ticket, author_id=BOB, body="Escalation request: it is broken again!")
    wait_until(lambda: settled(watched, ticket, 2), what="the refusal")
    assert "escalation_blocked" in watched.zendesk.ticket(ticket)["tags"]
    assert status_of(watched, ticket) == "escalation_status_resolved"


def test_a_managers_public_reply_acknowledges_the_escalation_and_stops_the_clock(watched: Service) -> None:
    ticket = watched.new_ticket(like=4)
    escalate(watched, ticket, 10018)
    watched.zendesk.add_comment(ticket, author_id=MAYA, body="Hello Deepak, I am the Support Manager on your case.")
    wait_until(lambda: status_of(watched, ticket) == "escalation_status_acknowledged", what="the acknowledgement")
    values = {f["id"]: f["value"] for f in watched.zendesk.ticket(ticket)["custom_fields"]}
    assert values[field_id(watched, "acknowledged_by")] == str(MAYA)
    let_the_due_time_pass(watched, ticket)
    due = watched.sweeps_done()
    wait_until(lambda: watched.sweeps_done() >= due + 2, timeout=60, what="two sweeps after the due time")
    assert "escalation_overdue" not in watched.zendesk.ticket(ticket)["tags"]
    assert len(internal_notes(watched.zendesk, ticket)) == 1


def test_the_engineers_own_reply_does_not_acknowledge_the_escalation(watched: Service) -> None:
    ticket = watched.new_ticket(like=5)
    escalate(watched, ticket, ALICE)
    before = len(watched.decisions(ticket))
    watched.zendesk.add_comment(ticket, author_id=10011, body="Hi Alice, I am still on it.")
    watched.zendesk.wait_for_deliveries()
    reply = deliveries_for(watched.zendesk, ticket)[-1]["invocation_id"]  # the staff-reply trigger's call

    def decided_on_the_reply() -> list[str]:
        return re.findall(rf"invocation={reply}\]: ticket {ticket}: ([a-z_]+) \(", watched.logs())

    assert wait_until(decided_on_the_reply, what="the worker to decide on the reply") == ["ignored"]
    # Each later decision (the webhook's, and any sweep's) found nothing to do.
    assert set(watched.decisions(ticket)[before:]) == {"ignored"}
    assert status_of(watched, ticket) == "escalation_status_requested"


def test_with_a_zendesk_schedule_the_response_is_due_after_24_scheduled_hours(service_env: Service) -> None:
    from datetime import datetime

    from escalations.core.calendar import WorkingCalendar, response_due
    from escalations.core.tickets import parse_iso

    service_env.env["ESCALATION_SCHEDULE"] = "Support office hours"
    service_env.run("setup")
    service_env.start()
    try:
        escalate(service_env, 1, ALICE)
    finally:
        service_env.stop()
    values = {f["id"]: f["value"] for f in service_env.zendesk.ticket(1)["custom_fields"]}
    requested_at = parse_iso(values[field_id(service_env, "requested_at")])
    schedule = service_env.zendesk.schedules()[0]
    calendar = WorkingCalendar.from_zendesk_schedule(schedule, service_env.zendesk.schedule_holidays(schedule["id"]))
    due = parse_iso(values[field_id(service_env, "response_due")])
    assert due == response_due(requested_at, calendar)
    assert due - requested_at > datetime(2026, 1, 3) - datetime(2026, 1, 1)  # three 8-hour days, at least


def test_a_schedule_that_does_not_exist_is_reported_by_doctor(service_env: Service) -> None:
    service_env.run("setup")
    service_env.env["ESCALATION_SCHEDULE"] = "Night shift"
    doctor = service_env.run("doctor", check=False)
    assert doctor.returncode == 1
    assert "ESCALATION_SCHEDULE: no schedule named 'Night shift'" in doctor.stdout
