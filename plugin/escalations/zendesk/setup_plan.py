"""The setup plan: what setup would do to each object to make the account match, decided without a call.

`plan_setup` is pure: `escalations setup --dry-run` prints the plan, `escalations setup` hands it to
`provisioning.apply_plan`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from escalations.config import ConfigError, Settings
from escalations.core import fields
from escalations.zendesk.desired import (
    LEGACY_CONDITIONS,
    LEGACY_VIEW_COLUMNS,
    TRIGGER_ROLES,
    VIEW_ROLES,
    as_text,
    condition_key,
    describe_condition,
    desired_field,
    desired_follow_up_triggers,
    desired_trigger,
    desired_views,
    desired_webhook,
    mark,
    merge_actions,
    merge_conditions,
    view_columns,
)
from escalations.zendesk.installation import Account, find_installation
from escalations.zendesk.state import AccountState


@dataclass(frozen=True)
class Pending:
    """The id of an object the plan creates, known once it is created."""

    role: str

    def __str__(self) -> str:
        return f"(the new {self.role.split(':')[0]})"


@dataclass(frozen=True)
class Difference:
    """One key setup would change: what it is, what it would be."""

    key: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.key}: {self.old or '(none)'} → {self.new or '(none)'}"


@dataclass(frozen=True)
class Step:
    """What setup does to one object."""

    action: str  # create, update, rename or keep
    kind: str  # group, ticket field, webhook, trigger, view
    name: str
    role: str  # what the object is for: group:<name>, field:<key>, webhook, trigger:<role>, view:<role>
    object_id: int | str | Pending | None = None
    differences: tuple[Difference, ...] = ()
    request: tuple[str, str, Mapping[str, Any]] | None = None  # method, path and body (ids may be Pending)
    written: tuple[str, ...] = ()  # the conditions setup owns in it once this step is done
    found: Mapping[str, Any] | None = None  # the object as the account has it


@dataclass(frozen=True)
class Plan:
    """Everything setup would do, in the order it does it."""

    steps: tuple[Step, ...]
    service_user_id: int
    brand_groups: Mapping[int, str] = field(default_factory=dict)  # brand id -> its managers' group role
    excluded_brand_ids: tuple[int, ...] = ()

    @property
    def writes(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.request is not None)

    def step(self, role: str) -> Step | None:
        return next((step for step in self.steps if step.role == role), None)


def _brand_ids(brands: Sequence[Mapping[str, Any]], names: Iterable[str], setting: str) -> dict[str, int]:
    """Brand ids by the names a setting gives; ConfigError naming a brand the account does not have."""
    by_name = {str(brand.get("name") or "").casefold(): int(brand["id"]) for brand in brands}
    found: dict[str, int] = {}
    for name in names:
        if name.casefold() not in by_name:
            there = ", ".join(repr(str(brand.get("name"))) for brand in brands) or "none"
            raise ConfigError(f"{setting}: no brand named {name!r} in Zendesk (there are: {there})")
        found[name] = by_name[name.casefold()]
    return found


def plan_setup(account: Account, settings: Settings, state: AccountState | None = None) -> Plan:
    """What setup would do to make the account match: pure, no call to Zendesk."""
    if not settings.public_url:
        raise ConfigError("PUBLIC_URL is not set: Zendesk needs the service's public address for the webhook")
    if account.me.get("role") != "admin":
        raise ConfigError(
            f"the API user ({account.me.get('email')}) must be an admin to set up fields, webhooks and triggers"
        )
    known = state if state is not None and state.zendesk_url == settings.zendesk_base_url else None
    found = find_installation(account, settings, state)
    brand_groups = _brand_ids(
        account.brands, (brand for brand, _ in settings.group_by_brand), "ESCALATION_GROUP_BY_BRAND"
    )
    excluded = _brand_ids(account.brands, settings.exclude_brands, "ESCALATION_EXCLUDE_BRANDS")
    steps: list[Step] = []
    for name in settings.manager_group_names:
        group = found.groups[name]
        if group is None:
            body = {"group": {"name": name, "description": "Reviews customer escalations."}}
            steps.append(
                Step(
                    "create",
                    "group",
                    name,
                    f"group:{name}",
                    Pending(f"group:{name}"),
                    request=("POST", "/api/v2/groups.json", body),
                )
            )
        else:
            steps.append(Step("keep", "group", name, f"group:{name}", group["id"], found=group))
    _refuse_clashing_fields(account.ticket_fields, found.fields)
    steps += _field_steps(found.fields)
    field_ids = {step.role.removeprefix("field:"): step.object_id for step in steps if step.role.startswith("field:")}
    webhook_step = _webhook_step(found.webhook, desired_webhook(settings.public_url))
    steps.append(webhook_step)
    webhook_id = webhook_step.object_id
    desired_triggers = dict(
        zip(
            TRIGGER_ROLES,
            [
                desired_trigger(webhook_id, settings.phrases.all, settings.exclude_tags, tuple(excluded.values())),
                *desired_follow_up_triggers(webhook_id),
            ],
            strict=True,
        )
    )
    for role, desired in desired_triggers.items():
        written = frozenset(known.written.get(f"trigger:{role}", ())) if known else frozenset()
        steps.append(_trigger_step(role, found.triggers[role], desired, written))
    for role, desired in zip(VIEW_ROLES, desired_views(field_ids), strict=True):
        written = frozenset(known.written.get(f"view:{role}", ())) if known else frozenset()
        steps.append(_view_step(role, found.views[role], desired, written))
    return Plan(
        tuple(steps),
        service_user_id=int(account.me["id"]),
        brand_groups={brand_groups[brand]: f"group:{group}" for brand, group in settings.group_by_brand},
        excluded_brand_ids=tuple(excluded.values()),
    )


def _refuse_clashing_fields(
    ticket_fields: Sequence[Mapping[str, Any]], found: Mapping[str, Mapping[str, Any] | None]
) -> None:
    """A field setup would create, whose title another field of another type already has: the admin decides."""
    ours = {item.get("id") for item in found.values() if item is not None}
    for escalation_field in fields.ESCALATION_FIELDS:
        if found[escalation_field.key] is not None:
            continue
        clash = next(
            (
                item
                for item in ticket_fields
                if item.get("title") == escalation_field.title and item.get("id") not in ours
            ),
            None,
        )
        if clash is not None:
            raise ConfigError(
                f"ticket field '{escalation_field.title}' exists with type {clash.get('type')}, expected "
                f"{escalation_field.type}: rename or delete it in Zendesk, then run setup again"
            )


def _field_steps(found: Mapping[str, Mapping[str, Any] | None]) -> list[Step]:
    """The fields, created or updated; a number field of an earlier release moved aside first.

    Zendesk cannot change a field's type. An account set up when user ids went in
    number fields keeps those fields under a new title (values and all) and gets
    the text fields beside them; readers fall back to the old field's value.
    """
    steps: list[Step] = []
    for position, escalation_field in enumerate(fields.ESCALATION_FIELDS):
        key, desired = escalation_field.key, desired_field(escalation_field, position)
        earlier_title = fields.EARLIER_NUMBER_FIELDS.get(key)
        if earlier_title is not None:
            earlier = found[fields.earlier_key(key)]
            if earlier is not None:
                steps.append(_earlier_field_step(fields.earlier_key(key), earlier, earlier_title))
        existing = found[key]
        role = f"field:{key}"
        if existing is None:
            body = {"ticket_field": desired}
            steps.append(
                Step(
                    "create",
                    "ticket field",
                    escalation_field.title,
                    role,
                    Pending(role),
                    request=("POST", "/api/v2/ticket_fields.json", body),
                )
            )
            continue
        changes, differences = _field_changes(existing, desired)
        name = str(existing.get("title") or escalation_field.title)
        if not changes:
            steps.append(Step("keep", "ticket field", name, role, existing["id"], found=existing))
            continue
        path = f"/api/v2/ticket_fields/{existing['id']}.json"
        steps.append(
            Step(
                "update",
                "ticket field",
                name,
                role,
                existing["id"],
                tuple(differences),
                ("PUT", path, {"ticket_field": changes}),
                found=existing,
            )
        )
    return steps


def _earlier_field_step(role_key: str, earlier: Mapping[str, Any], title: str) -> Step:
    """An earlier release's number field: renamed and marked once, kept afterwards."""
    role = f"field:{role_key}"
    if earlier.get("title") == title or mark(role) in str(earlier.get("agent_description") or ""):
        return Step("keep", "ticket field", str(earlier.get("title")), role, earlier["id"], found=earlier)
    change = {"title": title, "agent_description": _with_mark(earlier.get("agent_description"), role)}
    path = f"/api/v2/ticket_fields/{earlier['id']}.json"
    return Step(
        "rename",
        "ticket field",
        f"{earlier.get('title')} → {title} (its values stay readable)",
        role,
        earlier["id"],
        (Difference("title", str(earlier.get("title")), title),),
        ("PUT", path, {"ticket_field": change}),
        found=earlier,
    )


def _with_mark(text: object, role: str) -> str:
    return f"{str(text or '').strip()} {mark(role)}".strip()


def _field_changes(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[dict[str, Any], list[Difference]]:
    """What setup owns in a field and would change: portal visibility, our drop-down values, the mark."""
    changes: dict[str, Any] = {}
    differences: list[Difference] = []
    for key in ("visible_in_portal", "editable_in_portal"):
        if bool(existing.get(key)) != desired[key]:
            changes[key] = desired[key]
            differences.append(Difference(key, as_text(bool(existing.get(key))), as_text(desired[key])))
    if "custom_field_options" in desired:
        options = [dict(option) for option in existing.get("custom_field_options") or []]
        values = {option.get("value") for option in options}
        missing = [option for option in desired["custom_field_options"] if option["value"] not in values]
        if missing:
            changes["custom_field_options"] = [
                {"name": option.get("name"), "value": option.get("value")} for option in options
            ] + missing
            differences.append(Difference("custom_field_options", "", ", ".join(option["value"] for option in missing)))
    role_mark = desired["agent_description"].rsplit(" ", 1)[-1]
    if role_mark not in str(existing.get("agent_description") or ""):
        changes["agent_description"] = f"{str(existing.get('agent_description') or '').strip()} {role_mark}".strip()
        differences.append(Difference("agent_description", "", f"… {role_mark}"))
    return changes, differences


WEBHOOK_OWNED_KEYS = ("endpoint", "http_method", "request_format")


def _webhook_step(existing: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> Step:
    if existing is None:
        return Step(
            "create",
            "webhook",
            desired["endpoint"],
            "webhook",
            Pending("webhook"),
            request=("POST", "/api/v2/webhooks", {"webhook": desired}),
        )
    changes = {key: desired[key] for key in WEBHOOK_OWNED_KEYS if existing.get(key) != desired[key]}
    differences = [Difference(key, as_text(existing.get(key)), as_text(value)) for key, value in changes.items()]
    subscriptions = list(existing.get("subscriptions") or [])
    if "conditional_ticket_events" not in subscriptions:
        changes["subscriptions"] = [*subscriptions, "conditional_ticket_events"]
        differences.append(Difference("subscriptions", as_text(subscriptions), as_text(changes["subscriptions"])))
    name = str(existing.get("name") or desired["name"])
    if not changes:
        return Step("keep", "webhook", name, "webhook", existing["id"], found=existing)
    path = f"/api/v2/webhooks/{existing['id']}"
    return Step(
        "update",
        "webhook",
        name,
        "webhook",
        existing["id"],
        tuple(differences),
        ("PATCH", path, {"webhook": changes}),
        found=existing,
    )


def _owned(role: str, desired_keys: Iterable[str], written: frozenset[str]) -> frozenset[str]:
    """What setup counts as its own in an object: what it wrote there, and what earlier releases wrote."""
    return frozenset(desired_keys) | written | LEGACY_CONDITIONS.get(role, frozenset())


def _desired_keys(conditions: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(condition_key(group, c) for group in ("all", "any") for c in conditions.get(group) or [])


def _condition_differences(removed: list[str], added: list[str]) -> list[Difference]:
    differences = []
    for group in ("all", "any"):
        gone = [describe_condition(key) for key in removed if key.startswith(f"{group}|")]
        new = [describe_condition(key) for key in added if key.startswith(f"{group}|")]
        if gone or new:
            differences.append(Difference(f"conditions.{group}", "; ".join(gone), "; ".join(new)))
    return differences


def _trigger_step(
    role: str, existing: Mapping[str, Any] | None, desired: Mapping[str, Any], written: frozenset[str]
) -> Step:
    key = f"trigger:{role}"
    wanted = _desired_keys(desired["conditions"])
    if existing is None:
        return Step(
            "create",
            "trigger",
            desired["title"],
            key,
            Pending(key),
            request=("POST", "/api/v2/triggers.json", {"trigger": desired}),
            written=wanted,
        )
    conditions, removed, added = merge_conditions(
        existing.get("conditions") or {}, desired["conditions"], _owned(key, wanted, written)
    )
    actions, actions_changed = merge_actions(existing.get("actions") or [], desired["actions"])
    differences = _condition_differences(removed, added)
    if actions_changed:
        differences.append(
            Difference("actions", "a call of an earlier webhook or body", "the webhook call setup writes")
        )
    title = str(existing.get("title") or desired["title"])
    if not differences:
        return Step("keep", "trigger", title, key, existing["id"], written=wanted, found=existing)
    # Update Trigger replaces both the conditions and the actions ("Include all your conditions and actions
    # when updating any condition or action", spec line 12245), and wants the title: the admin's is sent back.
    changes: dict[str, Any] = {"title": title, "conditions": conditions, "actions": actions}
    path = f"/api/v2/triggers/{existing['id']}.json"
    return Step(
        "update",
        "trigger",
        title,
        key,
        existing["id"],
        tuple(differences),
        ("PUT", path, {"trigger": changes}),
        wanted,
        existing,
    )


def _view_step(
    role: str, existing: Mapping[str, Any] | None, desired: Mapping[str, Any], written: frozenset[str]
) -> Step:
    key = f"view:{role}"
    conditions = {"all": desired["all"], "any": desired["any"]}
    wanted = _desired_keys(conditions)
    if existing is None:
        return Step(
            "create",
            "view",
            desired["title"],
            key,
            Pending(key),
            request=("POST", "/api/v2/views.json", {"view": desired}),
            written=wanted,
        )
    merged, removed, added = merge_conditions(
        existing.get("conditions") or {}, conditions, _owned(key, wanted, written)
    )
    differences = _condition_differences(removed, added)
    columns = view_columns(existing)
    wanted_columns = [str(column) for column in desired["output"]["columns"]]
    kept_columns = [column for column in columns if column not in LEGACY_VIEW_COLUMNS]
    new_columns = kept_columns + [column for column in wanted_columns if column not in kept_columns]
    changes: dict[str, Any] = {}
    if removed or added:
        changes.update(merged)
    if mark(key) not in str(existing.get("description") or ""):
        changes["description"] = _with_mark(existing.get("description"), key)
        differences.append(Difference("description", "", f"… {mark(key)}"))
    if new_columns != columns:
        execution = existing.get("execution") or {}
        output = {k: execution[k] for k in ("sort_by", "sort_order", "group_by", "group_order") if execution.get(k)}
        output.setdefault("sort_by", desired["output"]["sort_by"])
        changes["output"] = {**output, "columns": [_column(column, desired) for column in new_columns]}
        differences.append(Difference("columns", ", ".join(columns), ", ".join(new_columns)))
    title = str(existing.get("title") or desired["title"])
    if not changes:
        return Step("keep", "view", title, key, existing["id"], written=wanted, found=existing)
    path = f"/api/v2/views/{existing['id']}.json"
    return Step(
        "update",
        "view",
        title,
        key,
        existing["id"],
        tuple(differences),
        ("PUT", path, {"view": changes}),
        wanted,
        existing,
    )


def _column(column: str, desired: Mapping[str, Any]) -> object:
    """A column as written: a custom field by its id (a number, or the field the plan creates)."""
    return next(
        (c for c in desired["output"]["columns"] if str(c) == column), int(column) if column.isdigit() else column
    )
