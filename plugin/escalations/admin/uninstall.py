"""`escalations uninstall`: take the service out of the account, keeping the record of past escalations.

`plan_uninstall` (pure) decides from what `find_installation` found: the
triggers go first (they call the webhook), then the webhook and the views. The
ticket fields hold every escalation's record and the managers' groups hold the
managers, so both stay unless the admin asks for the fields to go too. Setup
finds the kept fields again by their marks, so a later `escalations setup`
brings the service back on the same fields, and a case escalated before still
counts as escalated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from escalations.core import fields
from escalations.zendesk.desired import TRIGGER_ROLES, VIEW_ROLES
from escalations.zendesk.gateway import NotFound, ZendeskGateway
from escalations.zendesk.installation import Installation

ESCALATED_TICKETS_QUERY = f"type:ticket tags:{fields.TAG_ESCALATED}"
MANUAL_STEPS = (
    "stop 'escalations serve' (its state file is removed: it served the webhook that is gone)",
    "remove the sidebar app: Admin Center > Apps and integrations > Zendesk Support apps > Escalation requests",
    "remove the Help Center snippet from each brand's theme: Guide > Customize design > Edit code, "
    "templates/request_page.hbs and the two escalation assets",
)


@dataclass(frozen=True)
class Removal:
    """One object uninstall deletes."""

    kind: str
    name: str
    path: str  # what to DELETE


@dataclass(frozen=True)
class UninstallPlan:
    removals: tuple[Removal, ...]
    kept: tuple[str, ...]  # what stays, and why


def _name(item: Mapping[str, Any]) -> str:
    return str(item.get("title") or item.get("name") or item.get("id"))


def plan_uninstall(found: Installation, delete_fields: bool) -> UninstallPlan:
    """What uninstall removes and keeps, in the order it removes it."""
    removals = [
        Removal("trigger", _name(trigger), f"/api/v2/triggers/{trigger['id']}.json")
        for role in TRIGGER_ROLES
        if (trigger := found.triggers.get(role)) is not None
    ]
    if found.webhook is not None:
        removals.append(Removal("webhook", _name(found.webhook), f"/api/v2/webhooks/{found.webhook['id']}"))
    removals += [
        Removal("view", _name(view), f"/api/v2/views/{view['id']}.json")
        for role in VIEW_ROLES
        if (view := found.views.get(role)) is not None
    ]
    field_items = [item for item in found.fields.values() if item is not None]
    kept = [
        f"managers' group '{_name(group)}': it holds the managers, and the escalated tickets are in it"
        for group in found.groups.values()
        if group is not None
    ]
    if delete_fields:
        removals += [
            Removal("ticket field", _name(item), f"/api/v2/ticket_fields/{item['id']}.json") for item in field_items
        ]
    elif field_items:
        kept.insert(
            0,
            f"{len(field_items)} escalation ticket fields: they hold the record of every past escalation "
            "(a later 'escalations setup' uses them again; --delete-fields deletes them with their values)",
        )
    return UninstallPlan(tuple(removals), tuple(kept))


def escalated_ticket_count(gateway: ZendeskGateway) -> int:
    """How many tickets hold an escalation record (Show Results Count)."""
    return int(gateway.get_json("/api/v2/search/count.json", {"query": ESCALATED_TICKETS_QUERY}).get("count") or 0)


def remove(gateway: ZendeskGateway, plan: UninstallPlan) -> list[str]:
    """Delete what the plan removes; a line per object (one already gone counts as removed)."""
    lines = []
    for removal in plan.removals:
        try:
            gateway.request_json("DELETE", removal.path)
        except NotFound:
            lines.append(f"gone       {removal.kind}: {removal.name} (already deleted)")
            continue
        lines.append(f"removed    {removal.kind}: {removal.name}")
    return lines
