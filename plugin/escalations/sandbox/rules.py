"""Trigger conditions and placeholders, evaluated the way Zendesk does.

Pure functions over a :class:`TicketChange`; the sandbox account decides when
to call them and what to do with the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

# The ticket vocabulary: what tickets accept, triggers compare and the trigger definitions offer.
STATUS_ORDER = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITY_ORDER = ("low", "normal", "high", "urgent")
TICKET_TYPES = ("question", "incident", "problem", "task")
# Channels a change can come through: the sandbox's name, Zendesk's number (`via_id`), the title.
CHANNELS = (
    ("web", 0, "Web form"),
    ("email", 4, "Email"),
    ("api", 5, "Web service (API)"),
    ("chat", 29, "Chat"),
    ("web_widget", 55, "Web widget"),
)
VIA_IDS = {name: via_id for name, via_id, _ in CHANNELS}
# The value of a person condition (assignee, requester) that names whoever makes the change.
CURRENT_USER = "current_user"

_PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
_TICKET_FIELD_PLACEHOLDER = re.compile(r"ticket\.ticket_field_(\d+)")
_CUSTOM_FIELD_CONDITION = re.compile(r"custom_fields_(\d+)")


@dataclass(frozen=True)
class TicketChange:
    """One change to a ticket as triggers see it: the ticket after the change, and before it."""

    update_type: Literal["Create", "Change"]
    ticket: Mapping[str, Any]
    actor: Mapping[str, Any]
    comment: Mapping[str, Any] | None
    latest_comment_id: int | None
    previous: Mapping[str, Any] | None = None  # None when the change creates the ticket
    via_id: int | None = None  # the channel of the change: 0 web form, 4 email, 5 API


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
        "ticket.updated_at_with_timestamp": _to_the_minute(str(ticket["updated_at"])),
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


def _to_the_minute(iso_time: str) -> str:
    """`2013-12-12T05:35:09Z` as the placeholders reference shows the update time: `2013-12-12T05:35Z`."""
    return f"{iso_time[:16]}Z"


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
    return _text_includes(operator, value, str(change.comment["body"]) if change.comment else "")


def _subject_includes_word_holds(operator: str, value: Any, change: TicketChange) -> bool:
    return _text_includes(operator, value, str(change.ticket.get("subject") or ""))


def _text_includes(operator: str, value: Any, text: str) -> bool:
    body = text.lower()
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
    """ "Current user": `end_user` or `agent`, and admins are agents (conditions reference)."""
    role = str(change.actor["role"])
    matched = {"end_user": role == "end-user", "agent": role in ("agent", "admin")}
    return _is(operator, matched.get(str(value), False))


def _current_tags_holds(operator: str, value: Any, change: TicketChange) -> bool:
    """`includes`: at least one of the tags is present; `not_includes`: none is."""
    present = any(tag in change.ticket["tags"] for tag in str(value).split())
    if operator == "includes":
        return present
    if operator == "not_includes":
        return not present
    return False


def _ordered_attribute(name: str, order: tuple[str, ...]) -> Callable[[str, Any, TicketChange], bool]:
    """A condition on an attribute whose values are ranked (status, priority): `less_than` and
    `greater_than` compare ranks in `order`, the other operators are those of any attribute.

    No value ('', a ticket without a priority) ranks below the first; a value outside `order`
    is neither less nor greater than anything.
    """
    ranks = ("", *order)

    def holds(operator: str, value: Any, change: TicketChange) -> bool:
        if operator in ("less_than", "greater_than"):
            current, wanted = _as_text(change.ticket.get(name)), _as_text(value)
            if current not in ranks or wanted not in ranks:
                return False
            rank = ranks.index(current) - ranks.index(wanted)
            return rank < 0 if operator == "less_than" else rank > 0
        return _attribute_holds(operator, value, change, lambda ticket: ticket.get(name))

    return holds


def _ticket_attribute(name: str) -> Callable[[str, Any, TicketChange], bool]:
    """A condition on one ticket attribute: is/is_not and the change operators."""

    def holds(operator: str, value: Any, change: TicketChange) -> bool:
        return _attribute_holds(operator, value, change, lambda ticket: ticket.get(name))

    return holds


def _person_attribute(name: str) -> Callable[[str, Any, TicketChange], bool]:
    """A condition on a person of the ticket (assignee, requester); `current_user` is whoever
    makes the change."""

    def holds(operator: str, value: Any, change: TicketChange) -> bool:
        wanted = change.actor["id"] if _as_text(value) == CURRENT_USER else value
        return _attribute_holds(operator, wanted, change, lambda ticket: ticket.get(name))

    return holds


def _custom_field_holds(field_id: int, operator: str, value: Any, change: TicketChange) -> bool:
    current = _custom_field_value(change.ticket, field_id)
    if operator == "present":
        return current not in (None, "", False)
    if operator == "not_present":
        return current in (None, "", False)
    return _attribute_holds(operator, value, change, lambda ticket: _custom_field_value(ticket, field_id))


def _attribute_holds(
    operator: str, value: Any, change: TicketChange, read: Callable[[Mapping[str, Any]], object]
) -> bool:
    """`is`/`is_not` on the value after the change; `changed`, `value` ("changed to"),
    `value_previous` ("changed from") and their negations compare it with the value before.

    On the change that creates the ticket, an attribute given a value has changed (from nothing).
    """
    after = _as_text(read(change.ticket))
    before = _as_text(read(change.previous)) if change.previous is not None else ""
    wanted = _as_text(value)
    changed = after != before
    checks: dict[str, bool] = {
        "is": after == wanted,
        "is_not": after != wanted,
        "changed": changed,
        "not_changed": not changed,
        "value": changed and after == wanted,
        "not_value": not (changed and after == wanted),
        "value_previous": changed and before == wanted,
        "not_value_previous": not (changed and before == wanted),
    }
    return checks.get(operator, False)


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
    "subject_includes_word": _subject_includes_word_holds,
    "role": _role_holds,
    "current_tags": _current_tags_holds,
    "status": _ordered_attribute("status", STATUS_ORDER),
    "priority": _ordered_attribute("priority", PRIORITY_ORDER),
    "type": _ticket_attribute("type"),
    "group_id": _ticket_attribute("group_id"),
    "brand_id": _ticket_attribute("brand_id"),
    "assignee_id": _person_attribute("assignee_id"),
    "requester_id": _person_attribute("requester_id"),
    "via_id": lambda operator, value, change: _is(operator, _as_text(change.via_id) == _as_text(value)),
}
