"""`escalations doctor`: is everything in place, and if not, what to fix."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plugin import escalation_fields as fields
from plugin.config import ConfigError, Settings, load_settings
from plugin.messages import MessageRenderer
from plugin.policy import parse_iso
from plugin.provisioning import (
    MANAGER_REPLY_TRIGGER_TITLE,
    SOLVED_TRIGGER_TITLE,
    TRIGGER_TITLE,
    desired_webhook,
)
from plugin.state import load_state
from plugin.zendesk import ZendeskError, ZendeskGateway, all_items, make_client


class Checks:
    def __init__(self) -> None:
        self.failures = 0

    def ok(self, what: str) -> None:
        print(f"ok    {what}")

    def warn(self, what: str) -> None:
        print(f"warn  {what}")

    def fail(self, what: str) -> None:
        self.failures += 1
        print(f"FAIL  {what}")


def mask(secret: str) -> str:
    return f"{secret[:2]}…{secret[-2:]}" if len(secret) > 8 else "…"


def _permissions(checks: Checks, path: Path, what: str) -> None:
    if path.is_file() and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        checks.warn(f"{what} {path} is readable by others: chmod 600 {path}")


def run_doctor() -> int:
    checks = Checks()
    settings = load_settings()
    checks.ok(f"configuration read (Zendesk: {settings.zendesk_base_url}, token {mask(settings.zendesk_api_token)})")
    _permissions(checks, Path.cwd() / ".env", ".env")
    try:
        state = load_state(settings.state_file)
    except ConfigError as error:
        checks.fail(str(error))
        return 1
    checks.ok(f"state {settings.state_file} (signing secret {mask(state.signing_secret)})")
    _permissions(checks, settings.state_file, "state file")
    if state.zendesk_url != settings.zendesk_base_url:
        checks.fail(
            f"state was written for {state.zendesk_url}, not {settings.zendesk_base_url}: run 'escalations setup'"
        )

    gateway = ZendeskGateway(settings, state.field_ids, make_client(settings, ratelimit_budget=30))
    try:
        me = gateway.get_json("/api/v2/users/me.json")["user"]
        if me.get("role") == "admin":
            checks.ok(f"credentials: {me.get('email')} is an admin")
        else:
            checks.fail(f"credentials: {me.get('email')} is not an admin: use an admin's API token")
        _check_objects(checks, gateway, state, settings.public_url)
        if settings.schedule:
            calendar = gateway.business_calendar(settings.schedule)
            checks.ok(f"business-hours schedule {settings.schedule!r} ({calendar.timezone.key})")
    except ZendeskError as error:
        checks.fail(f"Zendesk: {error}")
    except ConfigError as error:
        checks.fail(str(error))

    renderer = MessageRenderer(settings.timezone, settings.templates_dir, settings.phrases)
    for problem in renderer.problems:
        checks.fail(f"template override: {problem}")
    if not renderer.problems:
        checks.ok(f"message templates (overrides from {settings.templates_dir})")
    _check_notification_targets(checks, settings)
    _check_queue(checks, settings)
    print("all good" if not checks.failures else f"{checks.failures} problem(s) found")
    return 1 if checks.failures else 0


def _check_objects(checks: Checks, gateway: ZendeskGateway, state, public_url: str | None) -> None:  # type: ignore[no-untyped-def]
    existing = {item["id"]: item for item in all_items(gateway, "/api/v2/ticket_fields.json", "ticket_fields")}
    missing = [f.title for f in fields.ESCALATION_FIELDS if state.field_ids.get(f.key) not in existing]
    if missing:
        checks.fail(f"ticket fields missing: {', '.join(missing)}: run 'escalations setup'")
    else:
        checks.ok(f"{len(fields.ESCALATION_FIELDS)} escalation ticket fields")
    groups = {item["id"] for item in all_items(gateway, "/api/v2/groups.json", "groups")}
    if state.manager_group_id in groups:
        checks.ok(f"managers' group {state.manager_group_id}")
    else:
        checks.fail("the managers' group is gone: run 'escalations setup'")
    webhooks = {item["id"]: item for item in all_items(gateway, "/api/v2/webhooks", "webhooks")}
    webhook = webhooks.get(state.webhook_id)
    if webhook is None:
        checks.fail("the webhook is gone: run 'escalations setup'")
    else:
        if webhook.get("status") != "active":
            checks.fail("the webhook is inactive: activate it in Admin Center or run 'escalations setup'")
        if public_url and webhook.get("endpoint") != desired_webhook(public_url)["endpoint"]:
            checks.fail(f"the webhook calls {webhook.get('endpoint')}, not PUBLIC_URL: run 'escalations setup'")
        secret = gateway.get_json(f"/api/v2/webhooks/{state.webhook_id}/signing_secret")["signing_secret"]["secret"]
        if secret != state.signing_secret:
            checks.fail("the webhook's signing secret changed: run 'escalations setup' to store the new one")
        else:
            checks.ok(f"webhook {state.webhook_id} → {webhook.get('endpoint')}")
    active = {t.get("title") for t in all_items(gateway, "/api/v2/triggers.json", "triggers") if t.get("active")}
    for title in (TRIGGER_TITLE, MANAGER_REPLY_TRIGGER_TITLE, SOLVED_TRIGGER_TITLE):
        if title in active:
            checks.ok(f"trigger '{title}'")
        else:
            checks.fail(f"trigger '{title}' is missing or inactive: run 'escalations setup'")


def _check_notification_targets(checks: Checks, settings: Settings) -> None:
    """Each ESCALATION_NOTIFY URL parses; nothing is sent (`escalations notify-test` sends a test message)."""
    if not settings.notify_urls:
        return
    from plugin import notify

    problems = notify.url_problems(settings.notify_urls)
    for problem in problems:
        checks.fail(f"ESCALATION_NOTIFY: {problem}")
    total = len(settings.notify_urls)
    for position, url in enumerate(settings.notify_urls, start=1):
        if not any(problem.startswith(f"URL {position} of") for problem in problems):
            checks.ok(f"notification target {position} of {total}: {notify.describe(url)}")
    events = ", ".join(event for event in fields.NOTIFY_EVENTS if event in settings.notify_events)
    checks.ok(f"managers are notified of: {events} (escalations notify-test sends a test message)")


def _check_queue(checks: Checks, settings: Settings) -> None:
    from plugin.queue import status

    queue = status()
    checks.ok(f"queue: {queue['pending']} pending, {queue['scheduled']} scheduled for retry")
    sweep = queue["sweep"]
    if sweep:
        checks.ok(f"last sweep {sweep.get('last_run')} (cursor {sweep.get('cursor')}, {sweep.get('tickets')} tickets)")
        if sweep_is_stale(sweep.get("last_run"), settings.reconcile_seconds, datetime.now(UTC)):
            checks.warn(
                f"the last sweep is older than {STALE_SWEEP_INTERVALS} sweep intervals "
                f"({STALE_SWEEP_INTERVALS} × {settings.reconcile_seconds:g} s): escalations whose webhook was lost "
                "are not caught up and none is marked overdue; is 'escalations worker' (or serve) running?"
            )
    else:
        checks.warn("no sweep has run yet (it runs when 'escalations serve' starts)")
    for ticket_id, parked in queue["parked"]:
        checks.fail(f"ticket {ticket_id} parked since {parked.get('since')}: {parked.get('reason')}")
    notifications = queue["notifications"]
    if settings.notify_urls or notifications["waiting"] or notifications["failed"]:
        checks.ok(f"notifications: {notifications['waiting']} queued, sending or waiting for a retry")
    _report_failed_notifications(checks, settings, notifications["failed"])


STALE_SWEEP_INTERVALS = 3  # the alert rule "sweep stale" uses the same bound


def sweep_is_stale(last_run: object, interval: float, now: datetime) -> bool:
    """A completed sweep is stale when it started more than STALE_SWEEP_INTERVALS intervals before `now`
    (one missed sweep is a slow one; three mean none is running)."""
    if not isinstance(last_run, str) or not last_run:
        return False  # no sweep yet: doctor says so on its own line
    return (now - parse_iso(last_run)).total_seconds() > STALE_SWEEP_INTERVALS * interval


def _report_failed_notifications(checks: Checks, settings: Settings, failed: list[tuple[str, dict[str, Any]]]) -> None:
    """Deliveries that gave up or were cut short by a crash; cleared when every target takes a test message."""
    if not failed:
        return
    from plugin import notify

    targets = {notify.fingerprint(url): (position, url) for position, url in enumerate(settings.notify_urls, 1)}
    for _, record in failed:
        known = targets.get(str(record.get("target")))
        target = f"target {known[0]}, {notify.describe(known[1])}" if known else "a target no longer configured"
        at = datetime.fromtimestamp(float(record.get("at") or 0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        what = "kept failing and was given up" if record.get("state") == "gave_up" else "was cut short by a crash"
        checks.fail(
            f"notification {record.get('event')} of ticket {record.get('ticket_id')} to {target} {what} at {at}"
            " (fix the target, then 'escalations notify-test' clears this)"
        )
