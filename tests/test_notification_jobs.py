"""Notification jobs in this process, on a fake clock, sending through Apprise to a local receiver.

A job runs once and says what became of it; a retry is recorded with its
delay instead of being scheduled, and an hour of failures passes by moving
the clock. Crashes are played by running a job again as the queue would
after a worker died: never a second message.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from huey import Huey

from escalations.config import ConfigError, load_settings
from escalations.core.tickets import Notification
from escalations.service import notify
from escalations.service.notification_jobs import NotificationJob, NotificationJobs
from escalations.service.records import NotificationDeliveries
from escalations.service.runtime import BACKOFF_CAP, RETRY_FOR, NotificationDelivery
from escalations.service.storage import make_huey
from escalations.service.ticket_jobs import JobResult
from tests.conftest import FakeClock
from tests.notification_receiver import Receiver
from tests.test_worker import STARTED


@dataclass
class Sender:
    """One worker's notification jobs against the receiver: the jobs it ran and the ones it scheduled."""

    receiver: Receiver
    queue: Huey
    targets: dict[str, str]
    clock: FakeClock = field(default_factory=lambda: FakeClock(STARTED))
    scheduled: list[tuple[NotificationJob, float]] = field(default_factory=list)

    def run(self, job: NotificationJob) -> JobResult:
        jobs = NotificationJobs(
            lambda: self.targets,
            self.queue,
            schedule=lambda again, delay: self.scheduled.append((again, delay)),
            clock=self.clock,
            jitter=lambda low, high: high,
        )
        return jobs.run(job)

    def run_next(self) -> JobResult:
        job, delay = self.scheduled.pop()
        self.clock.now += delay
        return self.run(job)


@pytest.fixture
def sender(tmp_path: Path) -> Iterator[Sender]:
    receiver = Receiver().start()
    try:
        queue = make_huey(None, tmp_path, "escalations-notifications")
        yield Sender(receiver, queue, {notify.fingerprint(receiver.url): receiver.url})
    finally:
        receiver.stop()


def job(sender: Sender, delivery_id: str = "d1") -> NotificationJob:
    (target,) = sender.targets
    return NotificationJob(NotificationDelivery(delivery_id, target, "escalated", 42, "Escalated: #42 Export", "Body"))


def test_a_notification_is_sent_once_and_a_second_run_of_its_job_sends_nothing(sender: Sender) -> None:
    assert sender.run(job(sender)) == JobResult("sent")
    assert sender.run(job(sender)).outcome == "skipped"
    (message,) = sender.receiver.received()
    assert (message.title, message.message, message.status) == ("Escalated: #42 Export", "Body", 200)


def test_a_failing_target_is_retried_with_capped_backoff_then_given_up_after_an_hour_and_listed(
    sender: Sender,
) -> None:
    sender.receiver.fail_next(*[500] * 100)
    assert sender.run(job(sender)).outcome == "retried"
    delays = [sender.scheduled[-1][1]]
    while sender.clock.now - STARTED < RETRY_FOR - BACKOFF_CAP:
        assert sender.run_next().outcome == "retried"
        delays.append(sender.scheduled[-1][1])
    assert delays[:5] == [2.0, 4.0, 8.0, 16.0, 32.0] and max(delays) == BACKOFF_CAP
    assert sender.run_next().outcome == "gave_up" and sender.scheduled == []
    assert [message.status for message in sender.receiver.received()] == [500] * (len(delays) + 1)
    ((delivery, record),) = NotificationDeliveries(sender.queue).failed()
    assert delivery == "d1" and (record["state"], record["event"], record["ticket_id"]) == ("gave_up", "escalated", 42)


def test_an_attempt_cut_short_by_a_crash_is_not_made_again(sender: Sender) -> None:
    # The worker that made attempt 0 died while the target had the request: the target may have the message.
    NotificationDeliveries(sender.queue).record("d1", 0, "sending")
    assert sender.run(job(sender)).outcome == "interrupted"
    assert sender.receiver.received() == [] and sender.scheduled == []
    ((_, record),) = NotificationDeliveries(sender.queue).failed()
    assert record["state"] == "interrupted"


def test_a_retry_lost_in_a_crash_is_scheduled_again_and_a_stale_copy_sends_nothing(sender: Sender) -> None:
    sender.receiver.fail_next(500)
    first = job(sender)
    assert sender.run(first).outcome == "retried"
    # The worker died after recording the failure, before the queue knew of the retry: the first job runs again.
    assert sender.run(first) == JobResult("rescheduled", 2.0)
    (retry, _), (copy, _) = sender.scheduled
    assert retry == copy and retry.failures == 1
    assert sender.run(retry).outcome == "sent"
    assert sender.run(copy).outcome == "skipped"
    assert [message.status for message in sender.receiver.received()] == [500, 200]


def test_a_notification_whose_target_was_removed_from_the_settings_is_dropped(sender: Sender) -> None:
    delivery = job(sender)
    sender.targets.clear()
    assert sender.run(delivery).outcome == "dropped"
    assert sender.receiver.received() == []


def test_old_records_are_forgotten_after_a_week(sender: Sender) -> None:
    deliveries = NotificationDeliveries(sender.queue, sender.clock)
    deliveries.record("old", 0, "sent")
    sender.clock.now += NotificationDeliveries.KEEP_SECONDS + 1
    deliveries.record("new", 0, "sent")
    assert deliveries.prune() == 1
    assert deliveries.get("old") is None and deliveries.get("new") is not None


# The message and the settings


def test_a_notification_reads_ticket_link_customer_reason_and_due_time_in_the_accounts_timezone() -> None:
    overdue = Notification(
        "overdue",
        42,
        "Export fails",
        "Ana Customer",
        "production is down",
        datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        timedelta(hours=3, minutes=20),
    )
    title, body = notify.compose(overdue, "https://acme.zendesk.com", ZoneInfo("Europe/Berlin"))
    assert title == "Escalation overdue: #42 Export fails"
    assert body.splitlines() == [
        "Ticket #42 Export fails",
        "https://acme.zendesk.com/agent/tickets/42",
        "Customer: Ana Customer",
        "Reason: production is down",
        "Response due: Monday, November 30, 2026, 10:00 (Central European Standard Time)",
        "Overdue by: 3 hours",
    ]


def test_a_long_reason_is_cut_in_the_notification() -> None:
    long = Notification("escalated", 1, "S", "A", "x" * 2000, None)
    _, body = notify.compose(long, "https://acme.zendesk.com", ZoneInfo("UTC"))
    assert len(body) < 700 and body.endswith("…")


SETTINGS = {"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_EMAIL": "admin@acme.test", "ZENDESK_API_TOKEN": "token"}


def test_notification_urls_are_separated_by_spaces_or_commas_and_the_events_default_to_escalated_and_overdue() -> None:
    urls = "json://127.0.0.1:9/a, slack://T1/B2/C3  mailtos://user:pw@example.com?to=a@x.test,b@x.test"
    settings = load_settings({**SETTINGS, "ESCALATION_NOTIFY": urls})
    assert settings.notify_urls == (
        "json://127.0.0.1:9/a",
        "slack://T1/B2/C3",
        "mailtos://user:pw@example.com?to=a@x.test,b@x.test",
    )
    assert settings.notify_events == {"escalated", "overdue"}
    assert load_settings(SETTINGS).notify_urls == ()


def test_an_unknown_event_or_a_url_apprise_cannot_use_stops_with_one_line_naming_it_by_position() -> None:
    with pytest.raises(ConfigError, match=r"ESCALATION_NOTIFY_EVENTS: unknown event 'escalate' \(the events are"):
        load_settings({**SETTINGS, "ESCALATION_NOTIFY": "json://h/p", "ESCALATION_NOTIFY_EVENTS": "escalate"})
    with pytest.raises(ConfigError) as raised:
        notify.check_notify_urls(load_settings({**SETTINGS, "ESCALATION_NOTIFY": "json://h/p slakc://xoxb-SECRET/abc"}))
    assert str(raised.value) == "ESCALATION_NOTIFY: URL 2 of 2 (a slakc:// URL) is not one Apprise can send to"
    assert "SECRET" not in str(raised.value)


def test_reading_the_settings_leaves_apprise_unloaded_until_the_urls_are_checked() -> None:
    code = (
        "import sys; from escalations.config import load_settings; "
        "from escalations.service.notify import check_notify_urls; "
        f"settings = load_settings({ {**SETTINGS, 'ESCALATION_NOTIFY': 'json://h/p'}!r}); "
        "print('apprise' in sys.modules); check_notify_urls(settings); print('apprise' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["False", "True"]
