"""Make the Zendesk account match what the service needs: a plan first, then the writes.

The desired objects (the managers' groups, the escalation ticket fields, the
webhook, the triggers that call it and the views) are described once as data
in `desired`. `installation.read_account` reads what the account has (reads
only); `setup_plan.plan_setup` compares the two and returns, object by object,
what setup would do: create, update (each differing key, old → new), rename or
keep. It is a pure function: `escalations setup --dry-run` prints the plan and
writes nothing, `escalations setup` hands it to `apply_plan`, here.

Setup owns only what the service needs in its own objects:
- in triggers and views, the conditions and actions it wrote, compared by
  content after normalising (`"true"` and `true`, a missing `operator` and
  `is`, the order of tags and of conditions), so that a second setup on an
  unchanged account sends no write; conditions and actions an admin added,
  and the title, position, category and active flag, stay as the admin left
  them. What setup wrote is remembered in the state (`written`), and what
  every earlier release wrote is known here, so a condition setup no longer
  wants is removed and an admin's never is;
- in ticket fields, whether customers see them (never editable by them) and
  the drop-down values the service writes;
- in the webhook, where and how it calls the service.

Objects are found by what makes them ours, not by their title: the id the
state remembers, then a mark that survives a rename (a field's agent-only
description and a view's description carry `[escalations:<role>]`; a trigger's
webhook call names its role in its body), and for an account set up by an
earlier release, the title that release gave it. The webhook is found by its
endpoint, or as the webhook our triggers call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from escalations.config import ConfigError, Settings
from escalations.core.tickets import iso
from escalations.zendesk.desired import TRIGGER_ROLES, VIEW_ROLES
from escalations.zendesk.gateway import ZendeskGateway
from escalations.zendesk.installation import read_account
from escalations.zendesk.setup_plan import Difference, Pending, Plan, plan_setup
from escalations.zendesk.state import AccountState


def _resolved(value: Any, ids: Mapping[str, int | str]) -> Any:
    """`value` with each Pending id replaced by the id its object was created with."""
    if isinstance(value, Pending):
        return ids[value.role]
    if isinstance(value, Mapping):
        return {key: _resolved(item, ids) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_resolved(item, ids) for item in value]
    return value


_SINGULAR = {
    "group": "group",
    "ticket field": "ticket_field",
    "webhook": "webhook",
    "trigger": "trigger",
    "view": "view",
}
PAST = {"create": "created", "update": "updated", "rename": "renamed", "keep": "unchanged"}


@dataclass
class ProvisioningReport:
    lines: list[str]

    def say(self, action: str, kind: str, name: str, differences: Iterable[Difference] = ()) -> None:
        self.lines.append(f"{action:<10} {kind}: {name}")
        self.lines.extend(f"             {difference}" for difference in differences)


def describe_plan(plan: Plan) -> list[str]:
    """The plan as `setup --dry-run` prints it: one line an object, the differences under it."""
    report = ProvisioningReport([])
    for step in plan.steps:
        report.say(step.action, step.kind, step.name, step.differences)
    counts = {action: sum(step.action == action for step in plan.steps) for action in PAST}
    summary = ", ".join(f"{counts[action]} to {action}" for action in ("create", "update", "rename") if counts[action])
    report.lines.append(f"dry run: nothing was written ({summary or 'nothing to change'}; {counts['keep']} unchanged)")
    return report.lines


def apply_plan(
    gateway: ZendeskGateway,
    plan: Plan,
    settings: Settings,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[AccountState, ProvisioningReport]:
    """Make the writes the plan holds, in order; the state `serve` needs, and a line per object."""
    report = ProvisioningReport([])
    ids: dict[str, int | str] = {}
    objects: dict[str, Mapping[str, Any]] = {}
    written: dict[str, list[str]] = {}
    for step in plan.steps:
        if step.request is not None:
            method, path, body = step.request
            answer = gateway.request_json(method, path, payload=_resolved(body, ids))
            created = answer.get(_SINGULAR[step.kind]) if step.action == "create" else None
            if isinstance(created, Mapping):
                objects[step.role] = created
                ids[step.role] = created["id"]
        if step.role not in ids:
            ids[step.role] = _resolved(step.object_id, ids)
            objects[step.role] = step.found or {}
        if step.kind in ("trigger", "view"):
            written[step.role] = list(step.written)
        report.say(PAST[step.action], step.kind, step.name, step.differences)
    return _state(gateway, settings, plan, ids, objects["webhook"], written, clock), report


def _state(
    gateway: ZendeskGateway,
    settings: Settings,
    plan: Plan,
    ids: Mapping[str, int | str],
    webhook: Mapping[str, Any],
    written: dict[str, list[str]],
    clock: Callable[[], datetime],
) -> AccountState:
    """The state `serve` needs, from the ids of our objects; the signing secret is read from Zendesk."""
    webhook_id = str(ids["webhook"])
    secret = gateway.get_json(f"/api/v2/webhooks/{webhook_id}/signing_secret")["signing_secret"]["secret"]
    field_ids = {role.removeprefix("field:"): int(i) for role, i in ids.items() if role.startswith("field:")}
    return AccountState(
        zendesk_url=settings.zendesk_base_url,
        field_ids=field_ids,
        manager_group_id=int(ids[f"group:{settings.escalation_group}"]),
        webhook_id=webhook_id,
        signing_secret=secret,
        service_user_id=plan.service_user_id,
        active_since=str(webhook.get("created_at") or iso(clock())),
        trigger_ids={role: int(ids[f"trigger:{role}"]) for role in TRIGGER_ROLES},
        view_ids={role: int(ids[f"view:{role}"]) for role in VIEW_ROLES},
        brand_group_ids={brand: int(ids[group]) for brand, group in plan.brand_groups.items()},
        excluded_brand_ids=plan.excluded_brand_ids,
        written=written,
    )


def provision(
    gateway: ZendeskGateway,
    settings: Settings,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    state: AccountState | None = None,
) -> tuple[AccountState, ProvisioningReport]:
    """Read, plan and apply: make the account match; return what `serve` needs and a line per object."""
    plan = plan_setup(read_account(gateway), settings, state)
    return apply_plan(gateway, plan, settings, clock)


def recover_state(
    gateway: ZendeskGateway, settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> AccountState:
    """The state setup would store, found by reading the account only, as setup finds its objects
    (`read_account`, `plan_setup`), and the signing secret from the webhook's signing-secret endpoint.

    For a host that finds the shared state gone: nothing is created or changed
    in Zendesk. An object setup would have to create is a ConfigError asking
    for setup; what setup would update is left as it is.
    """
    plan = plan_setup(read_account(gateway), settings)
    missing = next((step for step in plan.steps if isinstance(step.object_id, Pending | type(None))), None)
    if missing is not None:
        raise ConfigError(f"the {missing.kind} {missing.name!r} is missing in Zendesk: run 'escalations setup'")
    ids = {step.role: step.object_id for step in plan.steps if isinstance(step.object_id, int | str)}
    written = {step.role: list(step.written) for step in plan.steps if step.kind in ("trigger", "view")}
    webhook = plan.step("webhook")
    return _state(gateway, settings, plan, ids, (webhook.found if webhook else None) or {}, written, clock)
