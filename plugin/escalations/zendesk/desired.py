"""What the service needs in the account, as data, and how to compare it with what is there.

The managers' groups, the escalation ticket fields, the webhook, the triggers that call it and the views, each
marked with its role; and the normal forms in which conditions, actions and columns read back from Zendesk are
compared with these (see `provisioning` for what setup owns in them).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from escalations.core import fields
from escalations.core.text import DEFAULT_PHRASE

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


def as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return " ".join(as_text(item) for item in value)
    return str(value).strip()


def condition_key(group: str, condition: Mapping[str, Any]) -> str:
    """A condition as setup compares it: `all|current_tags|includes|a b`.

    Zendesk may read a condition back in another shape than it was written:
    `true` for `"true"`, no `operator` on `update_type`, tags in another order.
    """
    name = str(condition.get("field") or "")
    operator = str(condition.get("operator") or "is")
    value = as_text(condition.get("value")).lower()
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
