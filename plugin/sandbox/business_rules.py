"""Triggers and views ("business rules": one shape, one API), and triggers firing after each ticket change."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from plugin.sandbox.core import BusinessRuleKind, Record
from plugin.sandbox.errors import invalid, not_found
from plugin.sandbox.rules import TicketChange, conditions_match, render_placeholders
from plugin.sandbox.webhooks import Notification, Webhooks


class BusinessRules(Webhooks):
    """Triggers and views; active triggers run once per ticket change, in position order."""

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
                "description": None,
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

    def _checked_actions(self, actions: object) -> list[Record]:
        if not isinstance(actions, list) or not all(isinstance(a, Mapping) and "field" in a for a in actions):
            raise invalid("Actions: must be a list of {field, value}")
        for action in actions:
            if action["field"] != "notification_webhook":
                continue
            value = action.get("value")
            if not isinstance(value, list) or len(value) != 2 or value[0] not in self._webhooks:
                raise invalid("Actions: notification_webhook needs [an existing webhook id, a body]")
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
