"""Triggers and views ("business rules": one shape, one API), and triggers firing after each ticket change."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from escalations.sandbox.brands import Brands
from escalations.sandbox.core import BusinessRuleKind, Record
from escalations.sandbox.definitions import trigger_definitions, trigger_problems
from escalations.sandbox.errors import invalid, not_found
from escalations.sandbox.people import People
from escalations.sandbox.rules import TicketChange, conditions_match, render_placeholders
from escalations.sandbox.ticket_fields import TicketFields
from escalations.sandbox.webhooks import Notification, Webhooks

# The columns a view may show (Create View, "View columns": spec lines 14300-14331), besides custom
# field ids; the subject is `description`. At most 10 of them; some cannot sort or group.
VIEW_COLUMNS = frozenset(
    {
        "assigned",
        "assignee",
        "due_date",
        "group",
        "nice_id",
        "updated",
        "updated_assignee",
        "updated_requester",
        "updated_by_type",
        "organization",
        "priority",
        "created",
        "requester",
        "locale_id",
        "satisfaction_score",
        "solved",
        "status",
        "description",
        "submitter",
        "ticket_form",
        "type",
        "brand",
        "custom_status_id",
    }
)
MAX_VIEW_COLUMNS = 10
UNSORTABLE_VIEW_COLUMNS = frozenset({"description", "submitter", "custom_status_id"})
# A view's `all` conditions must check one of these (Create View, spec line 14234).
VIEW_ANCHOR_FIELDS = frozenset({"status", "type", "group_id", "assignee_id", "requester_id"})


class BusinessRules(People, TicketFields, Webhooks, Brands):
    """Triggers and views; active triggers run once per ticket change, in position order.

    A trigger may only use the conditions and actions :meth:`trigger_definitions` offers,
    and a view only the documented columns; anything else is refused with 422 RecordInvalid.
    """

    def trigger_definitions(self) -> Record:
        """GET /api/v2/triggers/definitions: the conditions and actions a trigger may use here."""
        with self._lock:
            return copy.deepcopy(self._trigger_definitions())

    def business_rules(self, kind: BusinessRuleKind) -> list[Record]:
        """All triggers or views in position order."""
        with self._lock:
            return copy.deepcopy(self._sorted_business_rules(kind))

    def business_rule(self, kind: BusinessRuleKind, rule_id: int) -> Record:
        """One trigger or view."""
        with self._lock:
            return copy.deepcopy(self._business_rule_record(kind, rule_id))

    def create_business_rule(self, kind: BusinessRuleKind, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/triggers or /api/v2/views; new rules go last unless a position is given."""
        with self._lock:
            now = self._iso_now()
            existing = self._business_rules[kind].values()
            rule: Record = {
                "id": self._new_id(),
                "title": "",
                "raw_title": "",
                "description": "",
                "active": True,
                "position": 1 + max((r["position"] for r in existing), default=0),
                "conditions": {"all": [], "any": []},
                "default": False,
                "created_at": now,
                "updated_at": now,
            }
            rule.update({"actions": []} if kind == "trigger" else {"execution": {}, "restriction": None})
            self._apply_business_rule_changes(kind, rule, fields)
            self._business_rules[kind][rule["id"]] = rule
            return copy.deepcopy(rule)

    def update_business_rule(self, kind: BusinessRuleKind, rule_id: int, changes: Mapping[str, Any]) -> Record:
        """PUT /api/v2/triggers/{id} or /api/v2/views/{id}."""
        with self._lock:
            rule = copy.deepcopy(self._business_rule_record(kind, rule_id))
            self._apply_business_rule_changes(kind, rule, changes)
            rule["updated_at"] = self._iso_now()
            self._business_rules[kind][rule_id] = rule
            return copy.deepcopy(rule)

    def delete_business_rule(self, kind: BusinessRuleKind, rule_id: int) -> None:
        """DELETE /api/v2/triggers/{id} or /api/v2/views/{id}."""
        with self._lock:
            self._business_rule_record(kind, rule_id)
            del self._business_rules[kind][rule_id]

    # -- internals: the caller holds self._lock ------------------------------------

    def _business_rule_record(self, kind: BusinessRuleKind, rule_id: int) -> Record:
        rule = self._business_rules[kind].get(rule_id)
        if rule is None:
            raise not_found()
        return rule

    def _sorted_business_rules(self, kind: BusinessRuleKind) -> list[Record]:
        return sorted(self._business_rules[kind].values(), key=lambda r: (r["position"], r["id"]))

    def _apply_business_rule_changes(self, kind: BusinessRuleKind, rule: Record, changes: Mapping[str, Any]) -> None:
        """Apply trigger or view attributes; views also accept Zendesk's `all`/`any`/`output` input."""
        for key in ("title", "description"):
            if key in changes:
                rule[key] = changes[key]
        if "active" in changes:
            rule["active"] = bool(changes["active"])
        if "position" in changes:
            rule["position"] = int(changes["position"])
        conditions = changes.get("conditions")
        if conditions is None and ("all" in changes or "any" in changes):
            conditions = {"all": changes.get("all", []), "any": changes.get("any", [])}
        if conditions is not None:
            rule["conditions"] = _checked_conditions(conditions)
        if kind == "trigger" and "actions" in changes:
            rule["actions"] = self._checked_actions(changes["actions"])
        if kind == "view":
            for key, source in (("execution", "execution"), ("execution", "output"), ("restriction", "restriction")):
                if source in changes:
                    rule[key] = changes[source]
        if not isinstance(rule["title"], str) or not rule["title"].strip():
            raise invalid("Title: cannot be blank")
        rule["raw_title"] = rule["title"]
        if kind == "trigger" and not rule["actions"]:
            raise invalid("Actions: a trigger needs at least one action")
        if not rule["conditions"]["all"] and not rule["conditions"]["any"]:
            raise invalid("Conditions: at least one condition is needed")
        if kind == "trigger":
            self._refuse_problems(trigger_problems(rule, self._trigger_definitions()))
        else:
            self._refuse_problems(_view_problems(rule, {str(f["id"]) for f in self._custom_fields()}))

    def _trigger_definitions(self) -> Record:
        return trigger_definitions(
            groups=[g for _, g in sorted(self._groups.items())],
            agents=[u for _, u in sorted(self._users.items()) if u["role"] != "end-user" and u["active"]],
            custom_fields=self._custom_fields(),
            webhooks=self._webhooks.values(),
            brands=[b for _, b in sorted(self._brands.items())],
        )

    def _checked_actions(self, actions: object) -> list[Record]:
        if not isinstance(actions, list) or not all(isinstance(a, Mapping) and "field" in a for a in actions):
            raise invalid("Actions: must be a list of {field, value}")
        return [dict(a) for a in actions]

    def _fire_triggers(self, change: TicketChange) -> list[Notification]:
        """Run active triggers once, in position order; the webhook calls they ask for."""
        notifications: list[Notification] = []
        for trigger in self._sorted_business_rules("trigger"):
            if not trigger["active"] or not conditions_match(trigger["conditions"], change):
                continue
            for action in trigger["actions"]:
                if action.get("field") != "notification_webhook":
                    continue
                webhook_id, template = action["value"][0], action["value"][1]
                webhook = self._webhooks.get(webhook_id)
                if webhook is None or webhook["status"] != "active":
                    continue
                body = template if isinstance(template, str) else json.dumps(template)
                notification = self._schedule_delivery(webhook, render_placeholders(body, change), trigger)
                if notification is not None:
                    notifications.append(notification)
        return notifications


def _view_problems(view: Mapping[str, Any], custom_field_ids: set[str]) -> list[tuple[str, str]]:
    """What in a view Zendesk does not accept: (rule, description) pairs."""
    problems: list[tuple[str, str]] = []
    output = view.get("execution") or {}
    columns = output.get("columns") or []
    for column in columns:
        name = str(column.get("id") if isinstance(column, Mapping) else column)
        if name not in VIEW_COLUMNS and name not in custom_field_ids:
            problems.append((f"view-column:{name}", f"Invalid column: {name}"))
    if len(columns) > MAX_VIEW_COLUMNS:
        problems.append(("view-columns:more-than-10", f"A view can have at most {MAX_VIEW_COLUMNS} columns"))
    for key in ("sort_by", "group_by"):
        order = output.get(key)
        if order is not None and (order in UNSORTABLE_VIEW_COLUMNS or order not in VIEW_COLUMNS | custom_field_ids):
            problems.append((f"view-{key}:{order}", f"Invalid {key}: {order}"))
    if not any(c.get("field") in VIEW_ANCHOR_FIELDS for c in view["conditions"]["all"]):
        problems.append(
            (
                "view-conditions:anchor",
                "The all conditions must check status, type, group_id, assignee_id or requester_id",
            )
        )
    return problems


def _checked_conditions(conditions: object) -> Record:
    if not isinstance(conditions, Mapping):
        raise invalid("Conditions: must be an object with `all` and `any` lists")
    checked: Record = {}
    for key in ("all", "any"):
        items = conditions.get(key) or []
        if not isinstance(items, list) or not all(isinstance(c, Mapping) and "field" in c for c in items):
            raise invalid(f"Conditions: `{key}` must be a list of {{field, operator, value}}")
        checked[key] = [dict(c) for c in items]
    return checked
