"""Notifications for managers, end to end: one message per event, whatever happens.

`escalations serve` runs as real processes against the sandbox Zendesk, with
ESCALATION_NOTIFY pointing Apprise's JSON service at a local HTTP receiver.
Each test waits for events (the receiver's requests, the ticket's tags, the
worker's log), then checks that every event reached the receiver exactly once.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterator

import pytest

from escalations.service.notify import fingerprint
from escalations.service.records import NotificationDeliveries
from escalations.service.storage import make_huey
from tests.conftest import Service, metrics_page_with, wait_until
from tests.notification_receiver import Receiver
from tests.support.local_service import wait_for
from tests.test_end_to_end import ALICE, BOB, api_calls, emails_for, internal_notes, settled
from tests.test_follow_up import let_the_due_time_pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    target = Receiver().start()
    try:
        yield target
    finally:
        target.stop()


@pytest.fixture
def notifying(service_env: Service, receiver: Receiver) -> Service:
    """The service set up with the receiver as its one notification target; not started yet."""
    service_env.env.update({"ESCALATION_NOTIFY": receiver.url, "ESCALATION_TIMEZONE": "Europe/Paris"})
    service_env.run("setup")
    return service_env


def escalate(service: Service, ticket_id: int, customer: int, reason: str = "charged twice, nobody answers") -> None:
    service.zendesk.add_comment(ticket_id, author_id=customer, body=f"Escalation request: {reason}.")


def sent_lines(service: Service, event: str, ticket_id: int) -> list[str]:
    """The worker's log lines saying a notification was sent."""
    return re.findall(rf"notification {event} of ticket {ticket_id} sent to .*", service.logs())


def quiet(service: Service) -> bool:
    """Nothing queued, in flight or waiting for a retry: tickets and notifications alike."""
    return service.idle()


def test_an_escalation_is_announced_once_with_the_ticket_customer_reason_and_due_time(
    notifying: Service, receiver: Receiver
) -> None:
    notifying.start()
    try:
        zendesk = notifying.zendesk
        zendesk.reset_requests_log()
        escalate(notifying, 1, ALICE, "my card was charged twice and nobody answers")
        (message,) = wait_until(lambda: receiver.accepted(), what="the notification")
        assert settled(notifying, 1, 1)  # sent once the customer's confirmation (its claim) was written
        assert message.title == "Escalated: #1 Charged twice for my March invoice"
        assert f"\n{notifying.sandbox_url}/agent/tickets/1\n" in message.message
        assert "Customer: Alice Moreau" in message.message
        assert "Reason: my card was charged twice and nobody answers" in message.message
        assert re.search(r"Response due: \w+day, \w+ \d+, \d{4}, \d\d:\d\d \(Central European", message.message)
        tags = zendesk.ticket(1)["tags"]
        assert not [tag for tag in tags if tag.startswith("escalation_notif")]
        # The claim is the customer's confirmation: two reads and two writes, as without notifications.
        assert sorted(api_calls(zendesk, 1)) == sorted(
            [
                "GET /api/v2/tickets/1.json",
                "GET /api/v2/tickets/1/comments.json",
                "PUT /api/v2/tickets/1.json",
                "PUT /api/v2/tickets/1.json",
            ]
        )

        # The same webhook delivered twice more: each job decides again and finds nothing owed.
        zendesk.wait_for_deliveries()
        body = next(d for d in zendesk.deliveries() if d["final_status"] == 202)["body"].encode()
        for _ in range(2):
            assert notifying.deliver(body).status_code == 202
        wait_until(lambda: len(notifying.decisions(1)) >= 3, what="the duplicate deliveries to be decided")
        wait_until(lambda: quiet(notifying), what="the queues to drain")
        assert len(receiver.received()) == 1 and len(sent_lines(notifying, "escalated", 1)) == 1
    finally:
        notifying.stop()


def test_five_escalation_comments_at_once_announce_one_escalation_and_each_refusal_once(
    notifying: Service, receiver: Receiver
) -> None:
    notifying.start(ESCALATION_NOTIFY_EVENTS="escalated,refused")
    try:
        zendesk = notifying.zendesk
        threads = [
            threading.Thread(target=escalate, args=(notifying, 2, BOB, f"locked out for days (#{n})")) for n in range(5)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        zendesk.wait_for_deliveries()
        newest = max(c["id"] for c in zendesk.comments(2) if c["author_id"] == BOB)
        wait_until(
            lambda: settled(notifying, 2, 1) and str(newest) in str(zendesk.ticket(2)["custom_fields"]),
            what="all five comments to be answered",
        )
        wait_until(lambda: quiet(notifying), what="the queues to drain")
        refusals = [e for e in emails_for(zendesk, 2) if "higher severity" in e["body"]]
        assert len(internal_notes(zendesk, 2)) == 1
        assert len(receiver.accepted("Escalated:")) == 1
        assert len(receiver.accepted("Repeat escalation refused:")) == len(refusals)
        assert len(receiver.received()) == 1 + len(refusals)
    finally:
        notifying.stop()


def test_a_target_answering_500_is_retried_until_it_takes_the_message_once_and_never_holds_up_the_ticket(
    notifying: Service, receiver: Receiver
) -> None:
    receiver.fail_next(500, 500)
    notifying.start()
    try:
        escalate(notifying, 3, 10017)
        wait_until(lambda: settled(notifying, 3, 1), what="the confirmation")
        wait_until(lambda: receiver.accepted(), timeout=30, what="the notification once the target recovers")
        wait_until(lambda: quiet(notifying), what="the queues to drain")
        assert [r.status for r in receiver.received()] == [500, 500, 200]
        assert notifying.logs().count("notification escalated of ticket 3: JSON") >= 2  # the retries, logged
        metrics_page_with(
            f"{notifying.metrics_url}/metrics",
            'escalations_notifications_total{event="escalated",outcome="failed"} 2.0',
            'escalations_notifications_total{event="escalated",outcome="sent"} 1.0',
            'escalations_notifications_total{event="overdue",outcome="gave_up"} 0.0',
        )
    finally:
        notifying.stop()


def test_a_target_that_hangs_holds_only_the_notification_threads_and_five_escalations_go_through(
    service_env: Service, receiver: Receiver
) -> None:
    # Apprise waits up to a minute for this target's answer, far longer than the test.
    service_env.env["ESCALATION_NOTIFY"] = f"{receiver.url}?rto=60"
    service_env.run("setup")
    receiver.hold()
    service_env.start()
    try:
        for ticket_id in range(1, 6):  # one after the other: each notification queued before the next ticket
            requester = service_env.zendesk.ticket(ticket_id)["requester_id"]
            escalate(service_env, ticket_id, requester)
            wait_until(lambda t=ticket_id: settled(service_env, t, 1), what=f"ticket {ticket_id}'s confirmation")
        # Every ticket is done while the target holds the two notification threads (not the four ticket ones).
        wait_until(lambda: receiver.held() == 2, what="both notification threads to be held by the target")
        assert receiver.received() == []
        receiver.release()
        wait_until(lambda: len(receiver.accepted()) == 5, timeout=30, what="the five notifications")
        wait_until(lambda: quiet(service_env), what="the queues to drain")
        assert sorted(r.title.split(":")[1].split()[0] for r in receiver.received()) == ["#1", "#2", "#3", "#4", "#5"]
    finally:
        receiver.release()
        service_env.stop()


def test_a_service_killed_between_the_escalation_write_and_its_claim_announces_it_once_after_restart(
    notifying: Service, receiver: Receiver
) -> None:
    zendesk = notifying.zendesk
    notifying.start()
    # Every call takes a second: once the escalation record is written, the claim (the customer's
    # confirmation) is on its way, and Zendesk holds it and then refuses it: the service is killed meanwhile.
    zendesk.latency = 1.0
    escalate(notifying, 2, BOB)
    wait_until(lambda: "ticket 2: wrote escalation_record" in notifying.logs(), what="the escalation record")
    zendesk.inject_fault(status="hang", count=1, method="PUT", path_regex=r"/tickets/2\.json")
    notifying.stop(signal.SIGKILL)
    assert receiver.received() == [] and emails_for(zendesk, 2) == []

    def refused() -> bool:
        zendesk.faults.release_hanging()  # the held claim is answered 503 and never applied
        return any(e["method"] == "PUT" and e["status"] == 503 for e in zendesk.requests_log())

    # The claim the killed worker had sent is refused before the service restarts (in the unlikely case that it
    # was killed before sending it, the fault waits for the restarted service's first claim instead).
    refused_before_restart = wait_for(refused, timeout=10)
    assert "escalation_notify_escalated" in zendesk.ticket(2)["tags"]
    zendesk.latency = 0
    notifying.start()  # its catch-up sweep finds the owed notification by its tag

    def announced() -> bool:
        zendesk.faults.release_hanging()
        return bool(receiver.accepted())

    try:
        wait_until(announced, what="the notification after the restart")
        wait_until(lambda: settled(notifying, 2, 1), what="the confirmation")
        wait_until(lambda: quiet(notifying), timeout=30, what="the queues to drain")
        assert refused_before_restart or refused(), "no claim was held and refused: the crash was not tested"
        assert len(receiver.received()) == 1 and len(emails_for(zendesk, 2)) == 1
        assert not [tag for tag in zendesk.ticket(2)["tags"] if tag.startswith("escalation_notif")]
    finally:
        notifying.stop()


def test_a_service_killed_while_the_target_is_unreachable_sends_the_message_once_after_restart(
    notifying: Service, receiver: Receiver, queue_env: dict[str, str]
) -> None:
    notifying.env.update(queue_env)  # the retry waits in SQLite, or in a real redis-server
    receiver.stop()
    notifying.start()
    escalate(notifying, 1, ALICE)
    wait_until(lambda: "notification escalated of ticket 1: JSON" in notifying.logs(), what="a failed attempt")
    notifying.stop(signal.SIGKILL)
    receiver.start()
    notifying.start()  # the retry waits in the queue's storage
    try:
        wait_until(lambda: receiver.accepted(), timeout=30, what="the notification after the restart")
        wait_until(lambda: quiet(notifying), timeout=30, what="the queues to drain")
        assert len(receiver.received()) == 1 and len(emails_for(notifying.zendesk, 1)) == 1
    finally:
        notifying.stop()


def test_an_escalation_past_due_is_announced_once_by_the_sweep_with_how_long_it_is_overdue(
    notifying: Service, receiver: Receiver
) -> None:
    notifying.start(ESCALATIONS_RECONCILE_SECONDS="1")
    try:
        escalate(notifying, 4, 10018)
        wait_until(lambda: receiver.accepted("Escalated:"), what="the escalation's notification")
        let_the_due_time_pass(notifying, 4)
        (overdue,) = wait_until(lambda: receiver.accepted("Escalation overdue:"), what="the overdue notification")
        assert overdue.title == "Escalation overdue: #4 Parcel arrived damaged"
        assert re.search(r"Overdue by: \d+ (days?|weeks?|months?|years?)", overdue.message)
        marked = notifying.sweeps_done()
        wait_until(lambda: notifying.sweeps_done() >= marked + 2, timeout=60, what="two more sweeps")
        assert len(receiver.received()) == 2
    finally:
        notifying.stop()


def test_doctor_checks_each_url_by_position_without_showing_it_and_notify_test_sends_one_message(
    notifying: Service, receiver: Receiver
) -> None:
    good = notifying.run("doctor", check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "ok    notification target 1 of 1: JSON (json://…)" in good.stdout
    assert "managers are notified of: escalated, overdue" in good.stdout
    assert receiver.received() == []  # doctor sends nothing

    notifying.env["ESCALATION_NOTIFY"] = f"{receiver.url} slak://T0SECRET/B0SECRET/XOXSECRET,mailto://"
    bad = notifying.run("doctor", check=False)
    assert bad.returncode == 1
    assert "FAIL  ESCALATION_NOTIFY: URL 2 of 3 (a slak:// URL) is not one Apprise can send to" in bad.stdout
    assert "FAIL  ESCALATION_NOTIFY: URL 3 of 3 (a mailto:// URL)" in bad.stdout
    assert "SECRET" not in bad.stdout + bad.stderr
    other = notifying.run("notify-test", check=False)
    assert other.returncode == 2 and "SECRET" not in other.stderr
    assert other.stderr.count("\n") == 1 and "ESCALATION_NOTIFY: URL 2 of 3" in other.stderr

    # A notification that kept failing for an hour is listed until every target takes a test message.
    notifying.env["ESCALATION_NOTIFY"] = receiver.url
    queue = make_huey(None, notifying.data_dir, "escalations-notifications")
    given_up = {"event": "overdue", "ticket_id": 7, "target": fingerprint(receiver.url)}
    NotificationDeliveries(queue).record("d7", 12, "gave_up", **given_up)
    listed = notifying.run("doctor", check=False)
    assert listed.returncode == 1
    assert "FAIL  notification overdue of ticket 7 to target 1, JSON (json://…) kept failing and was given up" in (
        listed.stdout
    )
    tested = notifying.run("notify-test")
    assert "sent   target 1 of 1: JSON (json://…)" in tested.stdout
    assert "cleared 1 failed notification(s)" in tested.stdout
    (message,) = receiver.received()
    assert message.title == "Test: escalation notifications"
    assert notifying.run("doctor", check=False).returncode == 0
