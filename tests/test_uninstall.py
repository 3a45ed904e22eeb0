"""`escalations uninstall` takes the service out of the account and keeps the record of past escalations."""

from __future__ import annotations

import subprocess
import sys

from escalations.admin.uninstall import plan_uninstall
from escalations.core import fields
from escalations.zendesk.installation import Installation
from escalations.zendesk.state import load_state
from tests.conftest import Service, wait_until
from tests.test_end_to_end import ALICE, emails_for, settled


def uninstall(service: Service, *options: str, answers: str = "") -> subprocess.CompletedProcess[str]:
    """`escalations uninstall OPTIONS`, answering its questions with `answers`."""
    return subprocess.run(
        [sys.executable, "-m", "escalations.admin.cli", "uninstall", *options],
        env=service.env,
        cwd=service.workdir,
        input=answers,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_triggers_go_before_the_webhook_they_call_and_the_record_stays_unless_asked() -> None:
    found = Installation(
        groups={"Support Managers": {"id": 20, "name": "Support Managers"}},
        fields={fields.STATUS: {"id": 501, "title": "Escalation status"}, fields.REASON: None},
        webhook={"id": "01J", "name": "Escalation requests"},
        triggers={
            "request": {"id": 31, "title": "Notify"},
            "staff_reply": None,
            "solved": {"id": 33, "title": "Solved"},
        },
        views={"escalated": {"id": 41, "title": "Escalated tickets"}, "overdue": None},
    )
    plan = plan_uninstall(found, delete_fields=False)
    assert [(r.kind, r.path) for r in plan.removals] == [
        ("trigger", "/api/v2/triggers/31.json"),
        ("trigger", "/api/v2/triggers/33.json"),
        ("webhook", "/api/v2/webhooks/01J"),
        ("view", "/api/v2/views/41.json"),
    ]
    assert plan.kept[0].startswith("1 escalation ticket fields: they hold the record of every past escalation")
    assert plan.kept[1].startswith("managers' group 'Support Managers'")
    with_fields = plan_uninstall(found, delete_fields=True)
    assert with_fields.removals[-1].path == "/api/v2/ticket_fields/501.json"
    assert len(with_fields.kept) == 1


def test_a_dry_run_or_a_no_removes_nothing(service_env: Service) -> None:
    service_env.run("setup")
    zendesk = service_env.zendesk
    zendesk.reset_requests_log()
    dry = uninstall(service_env, "--dry-run")
    assert dry.returncode == 0 and "remove     webhook: Escalation requests" in dry.stdout
    assert dry.stdout.rstrip().endswith("dry run: nothing was removed")
    declined = uninstall(service_env, answers="n\n")
    assert declined.returncode == 1 and "nothing was removed" in declined.stdout
    unanswered = uninstall(service_env)  # no terminal, no answer: a no
    assert unanswered.returncode == 1
    assert {entry["method"] for entry in zendesk.requests_log()} == {"GET"}
    assert (service_env.data_dir / "state.json").is_file()


def test_deleting_the_fields_asks_again_with_the_number_of_tickets_that_hold_a_record(service: Service) -> None:
    zendesk = service.zendesk
    zendesk.add_comment(1, author_id=ALICE, body="Escalation request: we were charged twice.")
    wait_until(lambda: settled(service, 1, 1), what="the escalation")
    service.stop()
    kept = uninstall(service, "--yes", "--delete-fields", answers="yes\n")
    assert kept.returncode == 1 and "1 tickets hold an escalation record in these fields" in kept.stdout
    assert len(zendesk.business_rules("trigger")) == 3  # the second question was not answered 'delete'

    removed = uninstall(service, "--yes", "--delete-fields", answers="delete\n")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not [f for f in zendesk.ticket_fields() if f["title"].startswith("Escalation")]
    assert zendesk.business_rules("trigger") == [] and zendesk.webhooks() == []


def test_uninstall_then_setup_brings_the_service_back_and_a_case_escalated_before_is_still_refused(
    service: Service,
) -> None:
    zendesk = service.zendesk
    zendesk.add_comment(1, author_id=ALICE, body="Escalation request: we were charged twice.")
    wait_until(lambda: settled(service, 1, 1), what="the escalation")
    before = load_state(service.data_dir / "state.json")
    service.stop()

    result = uninstall(service, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removed    webhook: Escalation requests" in result.stdout
    assert "kept       10 escalation ticket fields: they hold the record of every past escalation" in result.stdout
    assert "remove the Help Center snippet from each brand's theme" in result.stdout
    assert zendesk.business_rules("trigger") == [] and zendesk.business_rules("view") == [] and zendesk.webhooks() == []
    assert "Support Managers" in {group["name"] for group in zendesk.groups()}
    doctor = service.run("doctor", check=False)
    assert doctor.returncode == 1 and "the escalation service is not installed on" in doctor.stdout

    service.run("setup")
    again = load_state(service.data_dir / "state.json")
    assert again.field_ids == before.field_ids and again.webhook_id != before.webhook_id
    service.start()
    zendesk.add_comment(1, author_id=ALICE, body="Escalation request: still charged twice!")
    wait_until(lambda: settled(service, 1, 2), what="the answer to the repeat")
    assert "escalation_blocked" in zendesk.ticket(1)["tags"]
    values = fields.recorded_values(zendesk.ticket(1)["custom_fields"], again.field_ids)
    assert values[fields.REFUSED_REPEATS] in (1, "1") and len(emails_for(zendesk, 1)) == 2
