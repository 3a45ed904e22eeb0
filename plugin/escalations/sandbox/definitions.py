"""What a trigger may say: the conditions and actions the account offers, as Zendesk lists them.

`trigger_definitions` builds the answer to ``GET /api/v2/triggers/definitions``
(spec: TriggerDefinitionResponse, example at line 34119 of
tests/contract/zendesk-support-openapi.yaml) from the account's groups, agents,
custom fields and webhooks; `trigger_problems` checks a trigger's conditions and
actions against it, as Zendesk refuses a trigger whose condition or action it
does not offer (422 RecordInvalid). The conditions and their operators follow
Zendesk's conditions reference
(developer.zendesk.com/documentation/ticketing/reference-guides/conditions-reference/)
and the actions its actions reference (.../actions-reference/). Pure data in,
data out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from escalations.sandbox.core import Record
from escalations.sandbox.rules import CHANNELS, PRIORITY_ORDER, STATUS_ORDER, TICKET_TYPES

_OPERATOR_TITLES = {
    "is": "Is",
    "is_not": "Is not",
    "less_than": "Less than",
    "greater_than": "Greater than",
    "changed": "Changed",
    "value": "Changed to",
    "value_previous": "Changed from",
    "not_changed": "Not changed",
    "not_value": "Not changed to",
    "not_value_previous": "Not changed from",
    "includes": "Contains at least one of the following words",
    "not_includes": "Contains none of the following words",
    "present": "Present",
    "not_present": "Not present",
}
TERMINAL_OPERATORS = frozenset({"changed", "not_changed", "present", "not_present"})
CHANGE_OPERATORS = ("changed", "value", "value_previous", "not_changed", "not_value", "not_value_previous")
_ORDERED = ("is", "is_not", "less_than", "greater_than", *CHANGE_OPERATORS)
_FIELD = ("is", "is_not", *CHANGE_OPERATORS)
_WORDS = ("includes", "not_includes", "is", "is_not")


def trigger_definitions(
    *,
    groups: Iterable[Mapping[str, Any]],
    agents: Iterable[Mapping[str, Any]],
    custom_fields: Iterable[Mapping[str, Any]],
    webhooks: Iterable[Mapping[str, Any]],
    brands: Iterable[Mapping[str, Any]] = (),
) -> Record:
    """The `definitions` object: `conditions_all`, `conditions_any` (the same list) and `actions`."""
    group_values = [("", "-"), *((str(g["id"]), str(g["name"])) for g in groups)]
    agent_values = [("", "-"), ("current_user", "(current user)"), *((str(a["id"]), str(a["name"])) for a in agents)]
    custom_fields = list(custom_fields)
    conditions = [
        _definition("update_type", "Ticket is", "list", ("is",), [("Create", "Created"), ("Change", "Updated")]),
        _definition(
            "comment_is_public",
            "Comment is",
            "list",
            ("is",),
            [
                ("true", "Public"),
                ("false", "Private"),
                ("not_relevant", "Present (public or private)"),
                ("requester_can_see_comment", "Present and requester can see comment"),
            ],
        ),
        _definition("comment_includes_word", "Comment text", "text", _WORDS, None),
        _definition("subject_includes_word", "Subject text", "text", _WORDS, None),
        # "Current user": admins are agents here; the documented values are end_user and agent.
        _definition("role", "Current user", "list", ("is", "is_not"), [("end_user", "End user"), ("agent", "Agent")]),
        _definition("current_tags", "Tags", "tags", ("includes", "not_includes"), None),
        _definition("status", "Status", "list", _ORDERED, [(s, s.capitalize()) for s in STATUS_ORDER]),
        _definition(
            "priority", "Priority", "list", _ORDERED, [("", "-"), *((p, p.capitalize()) for p in PRIORITY_ORDER)]
        ),
        _definition("type", "Type", "list", _FIELD, [("", "-"), *((t, t.capitalize()) for t in TICKET_TYPES)]),
        _definition("group_id", "Group", "list", _FIELD, group_values),
        _definition("brand_id", "Brand", "list", ("is", "is_not"), [(str(b["id"]), str(b["name"])) for b in brands]),
        _definition("assignee_id", "Assignee", "list", _FIELD, agent_values),
        _definition("requester_id", "Requester", "autocomplete", _FIELD, None),
        _definition(
            "via_id", "Channel", "list", ("is", "is_not"), [(str(via_id), title) for _, via_id, title in CHANNELS]
        ),
        *(_custom_field_condition(field) for field in custom_fields),
    ]
    actions = [
        _action("status", "Status", "list", [(s, s.capitalize()) for s in STATUS_ORDER if s != "new"]),
        _action("priority", "Priority", "list", [(p, p.capitalize()) for p in PRIORITY_ORDER]),
        _action("type", "Type", "list", [(t, t.capitalize()) for t in TICKET_TYPES]),
        _action("group_id", "Group", "list", group_values),
        _action("assignee_id", "Assignee", "list", agent_values),
        _action("set_tags", "Set tags", "text", None),
        _action("current_tags", "Add tags", "text", None),
        _action("remove_tags", "Remove tags", "text", None),
        _action("notification_user", "Email user", "list", None),
        _action("notification_group", "Email group", "list", None),
        _action(
            "notification_webhook",
            "Notify active webhook",
            "list",
            [(str(w["id"]), str(w["name"])) for w in webhooks if w.get("status") == "active"],
        ),
        *(_custom_field_action(field) for field in custom_fields),
    ]
    return {"actions": actions, "conditions_all": conditions, "conditions_any": conditions}


def trigger_problems(rule: Mapping[str, Any], definitions: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What in a trigger the definitions do not offer: (rule id, description) pairs.

    The rule id names what is wrong, e.g. ``trigger-condition:role:is:admin``.
    """
    problems: list[tuple[str, str]] = []
    by_subject = {d["subject"]: d for d in definitions["conditions_all"]}
    conditions = rule.get("conditions") or {}
    for condition in [*(conditions.get("all") or []), *(conditions.get("any") or [])]:
        field, operator, value = condition.get("field"), condition.get("operator"), condition.get("value")
        rule_id = f"trigger-condition:{field}:{operator}:{_text(value)}"
        definition = by_subject.get(field)
        if definition is None:
            problems.append((rule_id, f"Invalid condition field: {field}"))
        elif operator not in {o["value"] for o in definition["operators"]}:
            problems.append((rule_id, f"Invalid operator {operator!r} for condition {field}"))
        elif operator not in TERMINAL_OPERATORS and not _offered(definition, value):
            problems.append((rule_id, f"Invalid value {_text(value)!r} for condition {field} {operator}"))
    actions_by_subject = {d["subject"]: d for d in definitions["actions"]}
    for action in rule.get("actions") or []:
        field, value = action.get("field"), action.get("value")
        definition = actions_by_subject.get(field)
        rule_id = f"trigger-action:{field}"
        if definition is None:
            problems.append((rule_id, f"Invalid action field: {field}"))
        elif field == "notification_webhook":
            webhook_id = value[0] if isinstance(value, list) and len(value) == 2 else None
            if not _offered(definition, webhook_id):
                problems.append((rule_id, "notification_webhook needs [the id of an active webhook, a body]"))
        elif definition["values"] and not isinstance(value, list) and not _offered(definition, value):
            problems.append((rule_id, f"Invalid value {_text(value)!r} for action {field}"))
    return problems


def _offered(definition: Mapping[str, Any], value: object) -> bool:
    """True when `value` is one the definition lists (any value for free text and people)."""
    if definition["type"] in ("text", "tags"):
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    if definition["type"] == "autocomplete":
        return isinstance(value, (str, int)) and not isinstance(value, bool)
    return _text(value) in {v["value"] for v in definition["values"]}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _definition(
    subject: str, title: str, kind: str, operators: Iterable[str], values: list[tuple[str, str]] | None
) -> Record:
    definition: Record = {
        "subject": subject,
        "title": title,
        "type": kind,
        "group": "ticket",
        "nullable": values is not None and any(value == "" for value, _ in values),
        "repeatable": False,
        "operators": [
            {"value": op, "title": _OPERATOR_TITLES[op], "terminal": op in TERMINAL_OPERATORS} for op in operators
        ],
    }
    if values is not None:
        definition["values"] = [{"value": value, "title": name, "enabled": True} for value, name in values]
    return definition


def _action(subject: str, title: str, kind: str, values: list[tuple[str, str]] | None) -> Record:
    return {
        "subject": subject,
        "title": title,
        "type": kind,
        "group": "notification" if subject.startswith("notification_") else "ticket",
        "nullable": False,
        "repeatable": subject.startswith("notification_"),
        "values": [{"value": value, "title": name, "enabled": True} for value, name in values or []],
    }


def _custom_field_values(field: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    if field["type"] == "tagger":
        return [("", "-"), *((o["value"], o["name"]) for o in field.get("custom_field_options") or [])]
    if field["type"] == "checkbox":
        return [("true", "Checked"), ("false", "Unchecked")]
    return None


def _custom_field_condition(field: Mapping[str, Any]) -> Record:
    values = _custom_field_values(field)
    operators = ("present", "not_present", "is", "is_not", *CHANGE_OPERATORS)
    kind = "list" if values is not None else "text"
    return _definition(f"custom_fields_{field['id']}", str(field["title"]), kind, operators, values)


def _custom_field_action(field: Mapping[str, Any]) -> Record:
    values = _custom_field_values(field)
    return _action(f"custom_fields_{field['id']}", str(field["title"]), "list" if values else "text", values)
