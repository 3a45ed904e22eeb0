"""Make the Zendesk account match what the service needs: a plan first, then the writes.

The desired objects (the managers' groups, the escalation ticket fields, the
webhook, the triggers that call it and the views) are described once as data
below. `read_account` reads what the account has (reads only); `plan_setup`
compares the two and returns, object by object, what setup would do: create,
update (each differing key, old → new), rename or keep. It is a pure function:
`escalations setup --dry-run` prints the plan and writes nothing, `escalations
setup` hands it to `apply_plan`.

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

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from escalations.config import ConfigError, Settings
from escalations.core import fields
from escalations.core.policy import iso
from escalations.core.text import DEFAULT_PHRASE
from escalations.zendesk.gateway import ZendeskGateway, all_items
from escalations.zendesk.state import AccountState

WEBHOOK_NAME = "Escalation requests"
TRIGGER_TITLE = "Escalation requests: notify the escalation service"
VIEW_TITLE = "Escalated tickets"
OVERDUE_VIEW_TITLE = "Overdue escalations"
MANAGER_REPLY_TRIGGER_TITLE = "Escalation requests: a manager may have replied"
SOLVED_TRIGGER_TITLE = "Escalation requests: escalated ticket solved"
TRIGGER_PHRASE = DEFAULT_PHRASE

# Roles: what each of our triggers and views is for, whatever its title.
REQUEST, STAFF_REPLY, SOLVED = "request", "staff_reply", "solved"
TRIGGER_ROLES = (REQUEST, STAFF_REPLY, SOLVED)
ESCALATED, OVERDUE = "escalated", "overdue"
VIEW_ROLES = (ESCALATED, OVERDUE)
LEGACY_TITLES = {
    f"trigger:{REQUEST}": TRIGGER_TITLE,
    f"trigger:{STAFF_REPLY}": MANAGER_REPLY_TRIGGER_TITLE,
    f"trigger:{SOLVED}": SOLVED_TRIGGER_TITLE,
    f"view:{ESCALATED}": VIEW_TITLE,
    f"view:{OVERDUE}": OVERDUE_VIEW_TITLE,
}


def mark(role: str) -> str:
    """The mark setup leaves in an object's description, by which it finds the object again."""
    return f"[escalations:{role}]"


# Placeholders render as plain text, not JSON-escaped: only ids and times go in the body, never
# customer text. Each trigger names its role in the body: how setup finds it, however it is titled.
def webhook_body(role: str) -> str:
    return (
        '{"ticket_id": "{{ticket.id}}", "updated_at": "{{ticket.updated_at_with_timestamp}}", '
        f'"actor_id": "{{{{current_user.id}}}}", "trigger": "{role}"}}'
    )


# The body earlier releases wrote, the same for every trigger.
LEGACY_WEBHOOK_BODY = (
    '{"ticket_id": "{{ticket.id}}", "updated_at": "{{ticket.updated_at_with_timestamp}}", '
    '"actor_id": "{{current_user.id}}"}'
)

# -- the desired objects, as data -----------------------------------------------------------------


def desired_field(field: fields.EscalationField, position: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": field.type,
        "title": field.title,
        "description": field.description,
        "agent_description": f"Written by the escalation service. {mark(f'field:{field.key}')}",
        "active": True,
        "visible_in_portal": field.customer_visible,  # read-only: the service alone writes these
        "editable_in_portal": False,
        "required": False,
        "position": 9000 + position,
    }
    if field.options:
        body["custom_field_options"] = [
            {"name": option.capitalize(), "value": fields.status_tag(option)} for option in field.options
        ]
    return body


def desired_webhook(public_url: str) -> dict[str, Any]:
    return {
        "name": WEBHOOK_NAME,
        "status": "active",
        "endpoint": f"{public_url}/webhooks/zendesk",
        "http_method": "POST",
        "request_format": "json",
        "subscriptions": ["conditional_ticket_events"],
        "description": "Customer escalation requests, sent by the triggers of the escalation service.",
    }


def _notify(webhook_id: object, role: str) -> list[dict[str, Any]]:
    return [{"field": "notification_webhook", "value": [webhook_id, webhook_body(role)]}]


def desired_trigger(
    webhook_id: object,
    phrases: Sequence[str] = (TRIGGER_PHRASE,),
    exclude_tags: Sequence[str] = (),
    exclude_brand_ids: Sequence[int] = (),
) -> dict[str, Any]:
    """The trigger fires for a public end-user comment containing any of the phrases, or on a ticket
    waiting for the customer's reason (their answer need not repeat the phrase), on a ticket not kept out
    of the process.

    A `comment_includes_word` condition with `is` holds one string, so each
    phrase is its own condition in `any`; the other conditions must all hold.
    """
    exclusions: list[dict[str, Any]] = []
    if exclude_tags:
        exclusions.append({"field": "current_tags", "operator": "not_includes", "value": " ".join(exclude_tags)})
    exclusions += [{"field": "brand_id", "operator": "is_not", "value": str(brand)} for brand in exclude_brand_ids]
    return {
        "title": TRIGGER_TITLE,
        "active": True,
        "description": "Calls the escalation service when an end-user's public comment contains the phrase.",
        "conditions": {
            "all": [
                {"field": "update_type", "operator": "is", "value": "Change"},
                {"field": "comment_is_public", "operator": "is", "value": "true"},
                {"field": "role", "operator": "is", "value": "end_user"},
                {"field": "status", "operator": "less_than", "value": "closed"},
                *exclusions,
            ],
            "any": [
                *({"field": "comment_includes_word", "operator": "is", "value": phrase} for phrase in phrases),
                {"field": "current_tags", "operator": "includes", "value": fields.TAG_REASON_REQUESTED},
            ],
        },
        "actions": _notify(webhook_id, REQUEST),
    }


def desired_follow_up_triggers(webhook_id: object) -> list[dict[str, Any]]:
    """Triggers that tell the service an escalation moved on: a staff reply (maybe the
    managers' acknowledgement) or a solve (the escalation is resolved)."""
    requested = fields.status_tag(fields.STATUS_REQUESTED)
    open_statuses = f"{requested} {fields.status_tag(fields.STATUS_ACKNOWLEDGED)}"
    return [
        {
            "title": MANAGER_REPLY_TRIGGER_TITLE,
            "active": True,
            "description": "Lets the escalation service record when a Support Manager first replies.",
            "conditions": {
                "all": [
                    {"field": "update_type", "operator": "is", "value": "Change"},
                    {"field": "comment_is_public", "operator": "is", "value": "true"},
                    {"field": "current_tags", "operator": "includes", "value": requested},
                    # Any staff member: the role condition knows only end_user and agent (admins are
                    # agents there); Zendesk's own standard triggers say "is not end_user".
                    {"field": "role", "operator": "is_not", "value": "end_user"},
                ],
                "any": [],
            },
            "actions": _notify(webhook_id, STAFF_REPLY),
        },
        {
            "title": SOLVED_TRIGGER_TITLE,
            "active": True,
            "description": "Lets the escalation service resolve the escalation when its ticket is solved.",
            "conditions": {
                "all": [
                    {"field": "update_type", "operator": "is", "value": "Change"},
                    # "Changed to": fires on the transition only, not on every later update of a solved ticket.
                    {"field": "status", "operator": "value", "value": "solved"},
                    {"field": "current_tags", "operator": "includes", "value": open_statuses},
                ],
                "any": [],
            },
            "actions": _notify(webhook_id, SOLVED),
        },
    ]


# The documented view columns (Views API, "View columns"): the subject column is `description`;
# a custom field's column is its id; at most 10 columns.
VIEW_COLUMNS = ("status", "description", "requester", "group", "assignee", "updated")


def _view(role: str, title: str, description: str, conditions: list[dict[str, str]], due: object) -> dict[str, Any]:
    return {
        "title": title,
        "active": True,
        "description": f"{description} {mark(f'view:{role}')}",
        "all": conditions,
        "any": [],
        "output": {
            "columns": [*VIEW_COLUMNS[:-1], due, VIEW_COLUMNS[-1]],
            "sort_by": "updated",
            "sort_order": "desc",
        },
    }


def desired_views(field_ids: Mapping[str, object]) -> list[dict[str, Any]]:
    not_solved = {"field": "status", "operator": "less_than", "value": "solved"}
    due = field_ids[fields.RESPONSE_DUE]
    return [
        _view(
            ESCALATED,
            VIEW_TITLE,
            "Open tickets whose customer asked for an escalation.",
            [{"field": "current_tags", "operator": "includes", "value": fields.TAG_ESCALATED}, not_solved],
            due,
        ),
        _view(
            OVERDUE,
            OVERDUE_VIEW_TITLE,
            "Escalations past their first-response target that no manager has acknowledged yet.",
            [
                {"field": "current_tags", "operator": "includes", "value": fields.TAG_OVERDUE},
                {"field": "current_tags", "operator": "includes", "value": fields.status_tag(fields.STATUS_REQUESTED)},
                not_solved,
            ],
            due,
        ),
    ]


# What earlier releases wrote into their triggers and views that this one no longer wants: removed
# by the next setup wherever it still stands, as that release's own.
LEGACY_CONDITIONS: dict[str, frozenset[str]] = {
    f"trigger:{REQUEST}": frozenset({"all|comment_includes_word|is|escalation request"}),
    f"trigger:{STAFF_REPLY}": frozenset({"any|role|is|agent", "any|role|is|admin"}),
    f"trigger:{SOLVED}": frozenset({"all|status|is|solved"}),
}
LEGACY_VIEW_COLUMNS = frozenset({"subject"})

# -- comparing what is there with what is wanted -----------------------------------------------------


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return " ".join(_text(item) for item in value)
    return str(value).strip()


def condition_key(group: str, condition: Mapping[str, Any]) -> str:
    """A condition as setup compares it: `all|current_tags|includes|a b`.

    Zendesk may read a condition back in another shape than it was written:
    `true` for `"true"`, no `operator` on `update_type`, tags in another order.
    """
    name = str(condition.get("field") or "")
    operator = str(condition.get("operator") or "is")
    value = _text(condition.get("value")).lower()
    if name == "current_tags":
        value = " ".join(sorted(value.split()))
    return f"{group}|{name}|{operator}|{value}"


def describe_condition(key: str) -> str:
    """`all|current_tags|not_includes|vip` → `current_tags not_includes vip`."""
    _, name, operator, value = key.split("|", 3)
    return f"{name} {operator} {value}".strip()


def trigger_role_of(action: Mapping[str, Any]) -> str | None:
    """The role a webhook call of setup's names in its body (`legacy` for an earlier release's), else None."""
    value = action.get("value")
    if action.get("field") != "notification_webhook" or not isinstance(value, list) or len(value) != 2:
        return None
    body = value[1]
    if body == LEGACY_WEBHOOK_BODY:
        return "legacy"
    try:
        parsed = json.loads(body) if isinstance(body, str) else body
    except ValueError:
        return None
    if not isinstance(parsed, dict) or "ticket_id" not in parsed:
        return None
    role = parsed.get("trigger")
    return role if role in TRIGGER_ROLES else None


def _action_key(action: Mapping[str, Any]) -> str:
    value = action.get("value")
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str):
        with contextlib.suppress(ValueError):
            value = [value[0], json.loads(value[1])]
    return f"{action.get('field')}|{json.dumps(value, sort_keys=True, default=str)}"


def merge_conditions(
    existing: Mapping[str, Any], desired: Mapping[str, Any], owned: frozenset[str]
) -> tuple[dict[str, list[dict[str, Any]]], list[str], list[str]]:
    """The conditions to keep: the existing ones but those setup wrote and no longer wants (`owned`
    minus `desired`), plus the desired ones missing; and the keys removed and added."""
    merged: dict[str, list[dict[str, Any]]] = {}
    removed: list[str] = []
    added: list[str] = []
    for group in ("all", "any"):
        wanted = [dict(condition) for condition in desired.get(group) or []]
        wanted_keys = {condition_key(group, condition) for condition in wanted}
        present = [dict(condition) for condition in existing.get(group) or []]
        present_keys = {condition_key(group, condition) for condition in present}
        kept = []
        for condition in present:
            key = condition_key(group, condition)
            if key in owned and key not in wanted_keys:
                removed.append(key)
            else:
                kept.append(condition)
        missing = [condition for condition in wanted if condition_key(group, condition) not in present_keys]
        added += [condition_key(group, condition) for condition in missing]
        merged[group] = kept + missing
    return merged, removed, added


def merge_actions(
    existing: Sequence[Mapping[str, Any]], desired: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], bool]:
    """The actions to keep: an admin's as they are, setup's webhook calls as wanted; and whether that changes them."""
    wanted_keys = {_action_key(action) for action in desired}
    kept = [dict(a) for a in existing if trigger_role_of(a) is None or _action_key(a) in wanted_keys]
    present = {_action_key(action) for action in kept}
    merged = kept + [dict(action) for action in desired if _action_key(action) not in present]
    changed = sorted(_action_key(a) for a in merged) != sorted(_action_key(a) for a in existing)
    return merged, changed


def view_columns(view: Mapping[str, Any]) -> list[str]:
    """A view's columns as it is read back (`execution.columns`, objects with an `id`)."""
    return [
        str(column.get("id") if isinstance(column, Mapping) else column)
        for column in (view.get("execution") or {}).get("columns") or []
    ]


# -- the plan ----------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Account:
    """What setup reads from Zendesk before deciding anything."""

    me: Mapping[str, Any]
    groups: Sequence[Mapping[str, Any]]
    ticket_fields: Sequence[Mapping[str, Any]]
    webhooks: Sequence[Mapping[str, Any]]
    triggers: Sequence[Mapping[str, Any]]
    views: Sequence[Mapping[str, Any]]
    brands: Sequence[Mapping[str, Any]]


def read_account(gateway: ZendeskGateway) -> Account:
    """Read every object setup compares (reads only)."""
    return Account(
        me=gateway.get_json("/api/v2/users/me.json")["user"],
        groups=all_items(gateway, "/api/v2/groups.json", "groups"),
        ticket_fields=all_items(gateway, "/api/v2/ticket_fields.json", "ticket_fields"),
        webhooks=all_items(gateway, "/api/v2/webhooks", "webhooks"),
        triggers=all_items(gateway, "/api/v2/triggers.json", "triggers"),
        views=all_items(gateway, "/api/v2/views.json", "views"),
        brands=all_items(gateway, "/api/v2/brands.json", "brands"),
    )


class _Finder:
    """Finds each of our objects once: by the id the state remembers, by its mark, then by an earlier title."""

    def __init__(self, items: Sequence[Mapping[str, Any]]) -> None:
        self.items = items
        self.claimed: set[object] = set()

    def find(self, *checks: Callable[[Mapping[str, Any]], bool]) -> Mapping[str, Any] | None:
        for check in checks:
            found = next((item for item in self.items if item.get("id") not in self.claimed and check(item)), None)
            if found is not None:
                self.claimed.add(found.get("id"))
                return found
        return None


def _has_id(object_id: object) -> Callable[[Mapping[str, Any]], bool]:
    return lambda item: object_id is not None and str(item.get("id")) == str(object_id)


def _marked(key: str, role: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda item: mark(role) in str(item.get(key) or "")


def _titled(title: str | None) -> Callable[[Mapping[str, Any]], bool]:
    return lambda item: title is not None and item.get("title") == title


def _typed(check: Callable[[Mapping[str, Any]], bool], field_type: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda item: check(item) and item.get("type") == field_type


def _calls_as(role: str) -> Callable[[Mapping[str, Any]], bool]:
    """A trigger whose webhook call names `role` in its body."""
    return lambda item: any(trigger_role_of(action) == role for action in item.get("actions") or [])


@dataclass(frozen=True)
class Installation:
    """Our objects in the account, found as setup finds them (None: not there)."""

    groups: Mapping[str, Mapping[str, Any] | None]
    fields: Mapping[str, Mapping[str, Any] | None]  # by field key, earlier number fields included
    webhook: Mapping[str, Any] | None
    triggers: Mapping[str, Mapping[str, Any] | None]
    views: Mapping[str, Mapping[str, Any] | None]


def find_installation(account: Account, settings: Settings, state: AccountState | None) -> Installation:
    """Find the service's objects in the account."""
    known = state if state is not None and state.zendesk_url == settings.zendesk_base_url else None
    field_finder = _Finder(account.ticket_fields)
    found_fields: dict[str, Mapping[str, Any] | None] = {}
    for escalation_field in fields.ESCALATION_FIELDS:
        key = escalation_field.key
        stored = known.field_ids.get(key) if known else None
        found_fields[key] = field_finder.find(
            _typed(_has_id(stored), escalation_field.type),
            _marked("agent_description", f"field:{key}"),
            _typed(_titled(escalation_field.title), escalation_field.type),
        )
        earlier_title = fields.EARLIER_NUMBER_FIELDS.get(key)
        if earlier_title is not None:
            earlier = fields.earlier_key(key)
            found_fields[earlier] = field_finder.find(
                _has_id(known.field_ids.get(earlier) if known else None),
                _marked("agent_description", f"field:{earlier}"),
                _titled(earlier_title),
                # An account set up before user ids went in text fields: the number field under the old title.
                _typed(_titled(escalation_field.title), "integer"),
            )
    trigger_finder = _Finder(account.triggers)
    triggers = {
        role: trigger_finder.find(
            _has_id(known.trigger_ids.get(role) if known else None),
            _calls_as(role),
            _titled(LEGACY_TITLES[f"trigger:{role}"]),
        )
        for role in TRIGGER_ROLES
    }
    called = {
        str(action["value"][0])
        for trigger in triggers.values()
        if trigger is not None
        for action in trigger.get("actions") or []
        if trigger_role_of(action) is not None
    }
    endpoint = desired_webhook(settings.public_url)["endpoint"] if settings.public_url else None
    webhook = _Finder(account.webhooks).find(
        _has_id(known.webhook_id if known else None),
        lambda item: endpoint is not None and item.get("endpoint") == endpoint,
        lambda item: str(item.get("id")) in called,
    )
    view_finder = _Finder(account.views)
    views = {
        role: view_finder.find(
            _has_id(known.view_ids.get(role) if known else None),
            _marked("description", f"view:{role}"),
            _titled(LEGACY_TITLES[f"view:{role}"]),
        )
        for role in VIEW_ROLES
    }
    groups = {name: _group_named(account.groups, name) for name in settings.manager_group_names}
    return Installation(groups, found_fields, webhook, triggers, views)


def _group_named(groups: Iterable[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((g for g in groups if str(g.get("name") or "").casefold() == name.casefold()), None)


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
            differences.append(Difference(key, _text(bool(existing.get(key))), _text(desired[key])))
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
    differences = [Difference(key, _text(existing.get(key)), _text(value)) for key, value in changes.items()]
    subscriptions = list(existing.get("subscriptions") or [])
    if "conditional_ticket_events" not in subscriptions:
        changes["subscriptions"] = [*subscriptions, "conditional_ticket_events"]
        differences.append(Difference("subscriptions", _text(subscriptions), _text(changes["subscriptions"])))
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


# -- applying it ---------------------------------------------------------------------------------------


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
