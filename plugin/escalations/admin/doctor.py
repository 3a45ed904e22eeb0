"""`escalations doctor`: is everything in place, and if not, what to fix."""

from __future__ import annotations

import stat
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from escalations.config import ConfigError, Settings, load_settings
from escalations.core import fields
from escalations.core.messages import MessageRenderer
from escalations.core.tickets import parse_iso
from escalations.zendesk.desired import REQUEST, TRIGGER_ROLES, condition_key, describe_condition, desired_webhook
from escalations.zendesk.gateway import ZendeskError, ZendeskGateway, make_client
from escalations.zendesk.installation import find_installation, read_account
from escalations.zendesk.setup_plan import plan_setup
from escalations.zendesk.state import AccountState
from escalations.zendesk.state_store import FileStateStore, open_state_store, read_state


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


# The scopes the service's token needs: it reads tickets, fields, groups, search and the event export,
# and writes tickets; setup writes fields, groups, the webhook, triggers and views. `impersonate` lets
# `doctor --live` comment as its temporary customer.
NEEDED_SCOPES = ("read", "write")
LIVE_CHECK_SCOPE = "impersonate"


def missing_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes the service needs that a token lacks (a resource scope such as `tickets:read` is not enough:
    the service reads ticket fields, groups and the event export too)."""
    return [scope for scope in NEEDED_SCOPES if scope not in set(scopes)]


def unhonoured_conditions(
    trigger: Mapping[str, Any], owned: frozenset[str], exclude_tags: Iterable[str], excluded_brand_ids: Iterable[int]
) -> list[str]:
    """Conditions an admin added by hand to the request trigger that the catch-up sweep cannot honour.

    The sweep never sees the trigger: it answers every comment with the phrase on a ticket the policy
    does not keep out. A condition that keeps out tickets with excluded tags or of an excluded brand is
    honoured; any other condition the admin added to `all` narrows the trigger only.
    """
    tags = set(exclude_tags)
    brands = {str(brand) for brand in excluded_brand_ids}
    found = []
    for condition in (trigger.get("conditions") or {}).get("all") or []:
        key = condition_key("all", condition)
        if key in owned:
            continue
        _, name, operator, value = key.split("|", 3)
        if name == "current_tags" and operator == "not_includes" and set(value.split()) <= tags:
            continue
        if name == "brand_id" and operator == "is_not" and value in brands:
            continue
        found.append(describe_condition(key))
    return found


def run_doctor() -> int:
    checks = Checks()
    settings = load_settings()
    secret = settings.zendesk_oauth_token or settings.zendesk_api_token
    checks.ok(f"configuration read (Zendesk: {settings.zendesk_base_url}, {_credentials(settings)} {mask(secret)})")
    _permissions(checks, Path.cwd() / ".env", ".env")
    store = open_state_store(settings)
    if store.raw() is None:
        checks.fail(
            f"the escalation service is not installed on {settings.zendesk_base_url} "
            f"(no state in {store.where}): run 'escalations setup' to install it"
        )
        return 1
    try:
        state = read_state(store)
    except ConfigError as error:
        checks.fail(str(error))
        return 1
    checks.ok(f"state {store.where} (signing secret {mask(state.signing_secret)})")
    if len(state.accepted_secrets(datetime.now(UTC))) > 1:
        checks.ok(f"the previous signing secret is accepted until {state.previous_secret_until} (after a rotation)")
    if isinstance(store, FileStateStore):
        _permissions(checks, store.path, "state file")
    if state.zendesk_url != settings.zendesk_base_url:
        checks.fail(
            f"state was written for {state.zendesk_url}, not {settings.zendesk_base_url}: run 'escalations setup'"
        )

    gateway = ZendeskGateway(settings, state.field_ids, make_client(settings, ratelimit_budget=30))
    try:
        me = gateway.get_json("/api/v2/users/me.json")["user"]
        if me.get("role") == "admin":
            checks.ok(f"credentials: {_credentials(settings)} of {me.get('email')}, an admin")
        else:
            checks.fail(f"credentials: {me.get('email')} is not an admin: use an admin's token")
        if settings.uses_oauth:
            _check_scopes(checks, gateway)
        _check_objects(checks, gateway, state, settings)
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


def _credentials(settings: Settings) -> str:
    return "OAuth access token" if settings.uses_oauth else "API token"


def _check_scopes(checks: Checks, gateway: ZendeskGateway) -> None:
    """The OAuth token's scopes, from its own record (Show Token, `current`)."""
    token = gateway.get_json("/api/v2/oauth/tokens/current.json").get("token") or {}
    scopes = [str(scope) for scope in token.get("scopes") or []]
    missing = missing_scopes(scopes)
    if missing:
        checks.fail(
            f"the OAuth token lacks the scope {', '.join(repr(s) for s in missing)} "
            f"(it has {', '.join(scopes) or 'none'}): create a token with the scopes read and write "
            "(README, 'Sign in with an OAuth token')"
        )
    else:
        checks.ok(f"OAuth token scopes: {', '.join(scopes)}")
    if LIVE_CHECK_SCOPE not in scopes:
        checks.warn(
            f"the OAuth token has no '{LIVE_CHECK_SCOPE}' scope: 'escalations doctor --live' needs it to comment "
            "as its temporary customer"
        )


def _check_objects(checks: Checks, gateway: ZendeskGateway, state: AccountState, settings: Settings) -> None:
    account = read_account(gateway)
    found = find_installation(account, settings, state)
    missing = [f.title for f in fields.ESCALATION_FIELDS if found.fields.get(f.key) is None]
    if missing:
        checks.fail(f"ticket fields missing: {', '.join(missing)}: run 'escalations setup'")
    else:
        checks.ok(f"{len(fields.ESCALATION_FIELDS)} escalation ticket fields")
    for name, group in found.groups.items():
        if group is None:
            checks.fail(f"the managers' group '{name}' is gone: run 'escalations setup'")
        else:
            checks.ok(f"managers' group '{name}' ({group['id']})")
    _check_webhook(checks, gateway, found.webhook, state, settings.public_url)
    for role in TRIGGER_ROLES:
        trigger = found.triggers.get(role)
        if trigger is None:
            checks.fail(f"the {role.replace('_', ' ')} trigger is missing: run 'escalations setup'")
        elif not trigger.get("active"):
            checks.fail(f"trigger '{trigger.get('title')}' is inactive: activate it in Admin Center")
        else:
            checks.ok(f"trigger '{trigger.get('title')}'")
    try:
        plan = plan_setup(account, settings, state)
    except ConfigError as error:
        checks.fail(str(error))
        return
    changes = [step for step in plan.steps if step.action in ("update", "rename")]
    if changes:
        names = "; ".join(f"{step.kind} '{step.name}'" for step in changes)
        checks.warn(f"setup would change {names}: 'escalations setup --dry-run' shows how, 'escalations setup' does it")
    request = found.triggers.get(REQUEST)
    step = plan.step(f"trigger:{REQUEST}")
    if request is not None and step is not None:
        owned = frozenset(step.written) | frozenset(state.written.get(f"trigger:{REQUEST}", ()))
        by_hand = unhonoured_conditions(request, owned, settings.exclude_tags, plan.excluded_brand_ids)
        if by_hand:
            checks.warn(
                f"trigger '{request.get('title')}' has conditions added by hand that the catch-up sweep cannot "
                f"honour: {'; '.join(by_hand)}. A comment whose webhook is missed is answered whatever they say: "
                "keep tickets out with ESCALATION_EXCLUDE_TAGS or ESCALATION_EXCLUDE_BRANDS instead"
            )


def _check_webhook(
    checks: Checks,
    gateway: ZendeskGateway,
    webhook: Mapping[str, Any] | None,
    state: AccountState,
    public_url: str | None,
) -> None:
    if webhook is None:
        checks.fail("the webhook is gone: run 'escalations setup'")
        return
    if webhook.get("status") != "active":
        checks.fail("the webhook is inactive: activate it in Admin Center (setup keeps it as an admin set it)")
    if public_url and webhook.get("endpoint") != desired_webhook(public_url)["endpoint"]:
        checks.fail(f"the webhook calls {webhook.get('endpoint')}, not PUBLIC_URL: run 'escalations setup'")
    if str(webhook["id"]) != state.webhook_id:
        checks.fail("the webhook is not the one setup stored: run 'escalations setup'")
        return
    secret = gateway.get_json(f"/api/v2/webhooks/{state.webhook_id}/signing_secret")["signing_secret"]["secret"]
    if secret != state.signing_secret:
        checks.fail("the webhook's signing secret changed: run 'escalations setup' to store the new one")
    else:
        checks.ok(f"webhook {state.webhook_id} → {webhook.get('endpoint')}")


def _check_notification_targets(checks: Checks, settings: Settings) -> None:
    """Each ESCALATION_NOTIFY URL parses; nothing is sent (`escalations notify-test` sends a test message)."""
    if not settings.notify_urls:
        return
    from escalations.service import notify

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
    from escalations.service.queue import Queues

    queue = Queues.from_settings(settings).status()
    checks.ok(
        f"queue: {queue['pending']} pending, {queue['in_progress']} running, {queue['scheduled']} scheduled for retry"
    )
    sweep = queue["sweep"]
    if sweep:
        by = f" by {sweep['host']}" if sweep.get("host") else ""
        checks.ok(
            f"last sweep {sweep.get('last_run')}{by} (cursor {sweep.get('cursor')}, {sweep.get('tickets')} tickets)"
        )
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
    from escalations.service import notify

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
