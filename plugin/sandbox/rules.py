"""Trigger conditions and placeholders, evaluated the way Zendesk does.

Pure functions over a :class:`TicketChange`; the sandbox account decides when
to call them and what to do with the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

STATUS_ORDER = ("new", "open", "pending", "hold", "solved", "closed")

_PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
_TICKET_FIELD_PLACEHOLDER = re.compile(r"ticket\.ticket_field_(\d+)")
_CUSTOM_FIELD_CONDITION = re.compile(r"custom_fields_(\d+)")


@dataclass(frozen=True)
class TicketChange:
    """One change to a ticket as triggers see it: the ticket after the change."""

    update_type: Literal["Create", "Change"]
    ticket: Mapping[str, Any]
    actor: Mapping[str, Any]
    comment: Mapping[str, Any] | None
    latest_comment_id: int | None


def conditions_match(conditions: Mapping[str, Any], change: TicketChange) -> bool:
    """True when every `all` condition holds and, if there are any, one `any` condition."""
    every = conditions.get("all") or []
    some = conditions.get("any") or []
    return all(condition_holds(c, change) for c in every) and (
        not some or any(condition_holds(c, change) for c in some)
    )


def condition_holds(condition: Mapping[str, Any], change: TicketChange) -> bool:
    """Evaluate one `{"field", "operator", "value"}` condition; unsupported ones never hold."""
    field = str(condition.get("field", ""))
    operator = str(condition.get("operator", "is"))
    value = condition.get("value")
    custom_field = _CUSTOM_FIELD_CONDITION.fullmatch(field)
    if custom_field:
        return _custom_field_holds(int(custom_field.group(1)), operator, value, change)
    check = _CONDITIONS.get(field)
    return check(operator, value, change) if check else False


def render_placeholders(template: str, change: TicketChange) -> str:
    """Replace `{{...}}` placeholders with plain, unescaped text; unknown ones become ''."""
    return _PLACEHOLDER.sub(lambda match: _placeholder_value(match.group(1), change), template)


def _placeholder_value(name: str, change: TicketChange) -> str:
    ticket = change.ticket
    values: dict[str, object] = {
        "ticket.id": ticket["id"],
        "ticket.status": str(ticket["status"]).capitalize(),
        "ticket.tags": " ".join(ticket["tags"]),
        "ticket.updated_at_with_timestamp": ticket["updated_at"],
        "ticket.updated_at": str(ticket["updated_at"])[:10],
        "ticket.requester.id": ticket["requester_id"],
        "ticket.latest_comment.id": change.latest_comment_id,
        "current_user.id": change.actor["id"],
        "current_user.role": change.actor["role"],
    }
    field = _TICKET_FIELD_PLACEHOLDER.fullmatch(name)
    if field:
        values[name] = _custom_field_value(ticket, int(field.group(1)))
    value = values.get(name)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _custom_field_value(ticket: Mapping[str, Any], field_id: int) -> object:
    return next((f["value"] for f in ticket["custom_fields"] if f["id"] == field_id), None)


def _is(operator: str, matched: bool) -> bool:
    """Apply an `is`/`is_not` operator to an equality result."""
    if operator == "is":
        return matched
    if operator == "is_not":
        return not matched
    return False


def _update_type_holds(operator: str, value: Any, change: TicketChange) -> bool:
    return _is(operator, str(value).lower() == change.update_type.lower())


def _comment_is_public_holds(operator: str, value: Any, change: TicketChange) -> bool:
    """`true`: a public comment; `false`: a private one; `not_relevant`: any comment."""
    comment = change.comment
    wanted = str(value).lower()
    if comment is None:
        matched = False
    elif wanted in ("true", "requester_can_see_comment"):
        matched = bool(comment["public"])
    elif wanted == "false":
        matched = not comment["public"]
    else:
        matched = wanted == "not_relevant"
    return _is(operator, matched)


def _comment_includes_word_holds(operator: str, value: Any, change: TicketChange) -> bool:
    """`is`: contains the phrase; `includes`: any of the words; `not_includes`: none of them."""
    body = str(change.comment["body"]).lower() if change.comment else ""
    phrase = str(value).lower()
    words = phrase.split()
    has_phrase = bool(phrase) and phrase in body
    has_word = any(re.search(rf"\b{re.escape(word)}\b", body) for word in words)
    checks: dict[str, bool] = {
        "is": has_phrase,
        "is_not": not has_phrase,
        "includes": has_word,
        "not_includes": not has_word,
    }
    return checks.get(operator, False)


def _role_holds(operator: str, value: Any, change: TicketChange) -> bool:
    role = str(change.actor["role"]).replace("-", "_")
    return _is(operator, role == str(value))


def _current_tags_holds(operator: str, value: Any, change: TicketChange) -> bool:
    """`includes`: at least one of the tags is present; `not_includes`: none is."""
    present = any(tag in change.ticket["tags"] for tag in str(value).split())
    if operator == "includes":
        return present
    if operator == "not_includes":
        return not present
    return False


def _status_holds(operator: str, value: Any, change: TicketChange) -> bool:
    status = str(change.ticket["status"])
    if value not in STATUS_ORDER:
        return False
    rank = STATUS_ORDER.index(status) - STATUS_ORDER.index(str(value))
    checks: dict[str, bool] = {
        "is": rank == 0,
        "is_not": rank != 0,
        "less_than": rank < 0,
        "greater_than": rank > 0,
    }
    return checks.get(operator, False)


def _group_id_holds(operator: str, value: Any, change: TicketChange) -> bool:
    return _is(operator, _as_text(change.ticket["group_id"]) == _as_text(value))


def _custom_field_holds(field_id: int, operator: str, value: Any, change: TicketChange) -> bool:
    current = _custom_field_value(change.ticket, field_id)
    if operator == "present":
        return current not in (None, "", False)
    if operator == "not_present":
        return current in (None, "", False)
    return _is(operator, _as_text(current) == _as_text(value))


def _as_text(value: object) -> str:
    """Compare condition values as Zendesk stores them: text, '' for nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


_CONDITIONS: dict[str, Callable[[str, Any, TicketChange], bool]] = {
    "update_type": _update_type_holds,
    "comment_is_public": _comment_is_public_holds,
    "comment_includes_word": _comment_includes_word_holds,
    "role": _role_holds,
    "current_tags": _current_tags_holds,
    "status": _status_holds,
    "group_id": _group_id_holds,
}
