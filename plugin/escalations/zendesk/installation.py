"""What of the service an account holds: the account read once, and the service's objects found in it.

Found by what makes them ours, not by their title (see `provisioning`); `setup`, `uninstall` and `doctor` start here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from escalations.config import Settings
from escalations.core import fields
from escalations.zendesk.desired import LEGACY_TITLES, TRIGGER_ROLES, VIEW_ROLES, desired_webhook, mark, trigger_role_of
from escalations.zendesk.gateway import ZendeskGateway, all_items
from escalations.zendesk.state import AccountState


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
