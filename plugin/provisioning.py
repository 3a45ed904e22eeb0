"""Make the Zendesk account match what the service needs, idempotently.

The desired objects (the managers' group, the escalation ticket fields, the
webhook, the triggers that call it and the views) are described once as data
below. `provision` finds each by its name, creates what is missing, updates
what differs and leaves the rest alone, so running `escalations setup` again
never duplicates anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from plugin import escalation_fields as fields
from plugin.config import ConfigError, Settings
from plugin.policy import iso
from plugin.state import AccountState
from plugin.text import DEFAULT_PHRASE
from plugin.zendesk import ZendeskGateway, all_items

WEBHOOK_NAME = "Escalation requests"
TRIGGER_TITLE = "Escalation requests: notify the escalation service"
VIEW_TITLE = "Escalated tickets"
OVERDUE_VIEW_TITLE = "Overdue escalations"
MANAGER_REPLY_TRIGGER_TITLE = "Escalation requests: a manager may have replied"
SOLVED_TRIGGER_TITLE = "Escalation requests: escalated ticket solved"
TRIGGER_PHRASE = DEFAULT_PHRASE

# Placeholders render as plain text, not JSON-escaped: only ids and times go
# in the body, never customer text.
WEBHOOK_BODY = (
    '{"ticket_id": "{{ticket.id}}", "updated_at": "{{ticket.updated_at_with_timestamp}}", '
    '"actor_id": "{{current_user.id}}"}'
)


def desired_field(field: fields.EscalationField, position: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": field.type,
        "title": field.title,
        "description": field.description,
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
        "description": "Customer escalation requests, sent by the trigger of the same name.",
    }


def desired_trigger(webhook_id: str, phrases: Sequence[str] = (TRIGGER_PHRASE,)) -> dict[str, Any]:
    """The trigger fires for a public end-user comment containing any of the phrases, or on a ticket
    waiting for the customer's reason (their answer need not repeat the phrase).

    A `comment_includes_word` condition with `is` holds one string, so each
    phrase is its own condition in `any`; the other conditions must all hold.
    """
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
            ],
            "any": [
                *({"field": "comment_includes_word", "operator": "is", "value": phrase} for phrase in phrases),
                {"field": "current_tags", "operator": "includes", "value": fields.TAG_REASON_REQUESTED},
            ],
        },
        "actions": [{"field": "notification_webhook", "value": [webhook_id, WEBHOOK_BODY]}],
    }


def desired_follow_up_triggers(webhook_id: str) -> list[dict[str, Any]]:
    """Triggers that tell the service an escalation moved on: a staff reply (maybe the
    managers' acknowledgement) or a solve (the escalation is resolved)."""
    requested = fields.status_tag(fields.STATUS_REQUESTED)
    open_statuses = f"{requested} {fields.status_tag(fields.STATUS_ACKNOWLEDGED)}"
    notify = [{"field": "notification_webhook", "value": [webhook_id, WEBHOOK_BODY]}]
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
            "actions": notify,
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
            "actions": notify,
        },
    ]


# The documented view columns (Views API, "View columns"): the subject column is `description`;
# a custom field's column is its id; at most 10 columns.
VIEW_COLUMNS = ("status", "description", "requester", "group", "assignee", "updated")


def _view(title: str, description: str, conditions: list[dict[str, str]], response_due_id: int) -> dict[str, Any]:
    return {
        "title": title,
        "active": True,
        "description": description,
        "all": conditions,
        "any": [],
        "output": {
            "columns": [*VIEW_COLUMNS[:-1], response_due_id, VIEW_COLUMNS[-1]],
            "sort_by": "updated",
            "sort_order": "desc",
        },
    }


def desired_views(field_ids: Mapping[str, int]) -> list[dict[str, Any]]:
    not_solved = {"field": "status", "operator": "less_than", "value": "solved"}
    due = field_ids[fields.RESPONSE_DUE]
    return [
        _view(
            VIEW_TITLE,
            "Open tickets whose customer asked for an escalation.",
            [{"field": "current_tags", "operator": "includes", "value": fields.TAG_ESCALATED}, not_solved],
            due,
        ),
        _view(
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


def view_differs(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """A view is read back in another shape than it is written: `conditions` and `execution.columns`."""
    conditions = existing.get("conditions") or {}
    columns = [
        str(column.get("id") if isinstance(column, Mapping) else column)
        for column in (existing.get("execution") or {}).get("columns") or []
    ]
    return (
        existing.get("active") != desired["active"]
        or (conditions.get("all") or []) != desired["all"]
        or (conditions.get("any") or []) != desired["any"]
        or columns != [str(column) for column in desired["output"]["columns"]]
    )


@dataclass
class ProvisioningReport:
    lines: list[str]

    def say(self, action: str, kind: str, name: str) -> None:
        self.lines.append(f"{action:<10} {kind}: {name}")


Differs = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]


def keys_differ(*keys: str) -> Differs:
    """Compare the objects on these keys, as the API reads them back."""
    return lambda existing, desired: any(existing.get(key) != desired.get(key) for key in keys)


def _ensure(
    gateway: ZendeskGateway,
    report: ProvisioningReport,
    kind: str,
    collection: str,
    singular: str,
    name_key: str,
    desired: dict[str, Any],
    differs: Differs,
    existing_items: list[dict[str, Any]],
    update_method: str = "PUT",
    suffix: str = ".json",
) -> dict[str, Any]:
    """Create the object when no object of that name exists, update it when it differs."""
    name = desired[name_key]
    for existing in existing_items:
        if existing.get(name_key) == name:
            if differs(existing, desired):
                updated = gateway.request_json(
                    update_method,
                    f"/api/v2/{collection}/{existing['id']}{suffix}",
                    payload={singular: desired},
                )
                report.say("updated", kind, name)
                return dict(updated.get(singular) or existing)
            report.say("unchanged", kind, name)
            return existing
    created = gateway.request_json("POST", f"/api/v2/{collection}{suffix}", payload={singular: desired})
    report.say("created", kind, name)
    return dict(created[singular])


def _ensure_fields(gateway: ZendeskGateway, report: ProvisioningReport) -> dict[str, int]:
    """The escalation fields by key, created or updated, with earlier versions' fields moved aside.

    Zendesk cannot change a field's type. An account set up when user ids went in
    number fields keeps those fields under a new title (values and all) and gets
    the text fields beside them; readers fall back to the old field's value.
    """
    existing_fields = all_items(gateway, "/api/v2/ticket_fields.json", "ticket_fields")
    field_ids: dict[str, int] = {}
    for position, field in enumerate(fields.ESCALATION_FIELDS):
        clash = next(
            (item for item in existing_fields if item.get("title") == field.title and item.get("type") != field.type),
            None,
        )
        earlier = fields.EARLIER_NUMBER_FIELDS.get(field.key)
        if clash is not None and earlier is not None and clash.get("type") == "integer":
            gateway.request_json(
                "PUT", f"/api/v2/ticket_fields/{clash['id']}.json", payload={"ticket_field": {"title": earlier}}
            )
            report.say("renamed", "ticket field", f"{field.title} → {earlier} (its values stay readable)")
            clash["title"] = earlier
            clash = None
        if clash is not None:
            raise ConfigError(
                f"ticket field '{field.title}' exists with type {clash.get('type')}, expected {field.type}: "
                "rename or delete it in Zendesk, then run setup again"
            )
        if earlier is not None:
            kept = next((item for item in existing_fields if item.get("title") == earlier), None)
            if kept is not None:
                field_ids[fields.earlier_key(field.key)] = int(kept["id"])
        created = _ensure(
            gateway,
            report,
            "ticket field",
            "ticket_fields",
            "ticket_field",
            "title",
            desired_field(field, position),
            keys_differ("description", "active", "visible_in_portal", "editable_in_portal"),
            existing_fields,
        )
        field_ids[field.key] = int(created["id"])
    return field_ids


def provision(
    gateway: ZendeskGateway,
    settings: Settings,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[AccountState, ProvisioningReport]:
    """Make the account match; return what `serve` needs and a line per object."""
    if not settings.public_url:
        raise ConfigError("PUBLIC_URL is not set: Zendesk needs the service's public address for the webhook")
    report = ProvisioningReport([])
    me = gateway.get_json("/api/v2/users/me.json")["user"]
    if me.get("role") != "admin":
        raise ConfigError(
            f"ZENDESK_EMAIL ({settings.zendesk_email}) must belong to an admin to set up fields, webhooks and triggers"
        )

    group = _ensure(
        gateway,
        report,
        "group",
        "groups",
        "group",
        "name",
        {"name": settings.escalation_group, "description": "Reviews customer escalations."},
        keys_differ(),
        all_items(gateway, "/api/v2/groups.json", "groups"),
    )
    field_ids = _ensure_fields(gateway, report)

    webhook = _ensure(
        gateway,
        report,
        "webhook",
        "webhooks",
        "webhook",
        "name",
        desired_webhook(settings.public_url),
        keys_differ("endpoint", "status", "http_method", "request_format"),
        all_items(gateway, "/api/v2/webhooks", "webhooks"),
        update_method="PATCH",
        suffix="",
    )
    secret = gateway.get_json(f"/api/v2/webhooks/{webhook['id']}/signing_secret")["signing_secret"]["secret"]

    existing_triggers = all_items(gateway, "/api/v2/triggers.json", "triggers")
    trigger, *_ = [
        _ensure(
            gateway,
            report,
            "trigger",
            "triggers",
            "trigger",
            "title",
            desired,
            keys_differ("active", "conditions", "actions"),
            existing_triggers,
        )
        for desired in (
            desired_trigger(webhook["id"], settings.phrases.all),
            *desired_follow_up_triggers(webhook["id"]),
        )
    ]
    existing_views = all_items(gateway, "/api/v2/views.json", "views")
    view, *_ = [
        _ensure(gateway, report, "view", "views", "view", "title", desired, view_differs, existing_views)
        for desired in desired_views(field_ids)
    ]

    state = AccountState(
        zendesk_url=settings.zendesk_base_url,
        field_ids=field_ids,
        manager_group_id=int(group["id"]),
        webhook_id=str(webhook["id"]),
        signing_secret=secret,
        service_user_id=int(me["id"]),
        active_since=str(webhook.get("created_at") or iso(clock())),
        trigger_id=int(trigger["id"]),
        view_id=int(view["id"]),
    )
    return state, report
