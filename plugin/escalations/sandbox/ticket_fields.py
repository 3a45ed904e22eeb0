"""Ticket fields: the system fields every account has and the custom fields admins add."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from escalations.sandbox.core import AccountCore, Record
from escalations.sandbox.errors import invalid, not_found

CUSTOM_FIELD_TYPES = ("text", "textarea", "integer", "decimal", "date", "checkbox", "tagger")
SYSTEM_FIELDS = (
    ("subject", "Subject"),
    ("description", "Description"),
    ("status", "Status"),
    ("tickettype", "Type"),
    ("priority", "Priority"),
    ("group", "Group"),
    ("assignee", "Assignee"),
)


class TicketFields(AccountCore):
    """System and custom ticket fields; a tag belongs to one field only."""

    def ticket_fields(self, *, viewer: Record | None = None) -> list[Record]:
        """System and custom ticket fields in position order; those `viewer` may see, when given."""
        with self._lock:
            fields = self._sorted_ticket_fields() if viewer is None else self._fields_visible_to(viewer)
            return copy.deepcopy(fields)

    def ticket_field(self, field_id: int) -> Record:
        """One ticket field."""
        with self._lock:
            return copy.deepcopy(self._ticket_field_record(field_id))

    def create_ticket_field(self, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/ticket_fields: a custom field; tagger option values must be unused tags."""
        with self._lock:
            field_type = fields.get("type")
            if field_type not in CUSTOM_FIELD_TYPES:
                raise invalid(f"Type: must be one of {', '.join(CUSTOM_FIELD_TYPES)}")
            now = self._iso_now()
            field: Record = {
                "id": self._new_id(),
                "type": field_type,
                "title": "",
                "description": "",
                "position": 1 + max((f["position"] for f in self._ticket_fields.values()), default=0),
                "active": True,
                "required": False,
                "collapsed_for_agents": False,
                "regexp_for_validation": None,
                "visible_in_portal": False,
                "editable_in_portal": False,
                "required_in_portal": False,
                "tag": None,
                "removable": True,
                "agent_description": "",
                "created_at": now,
                "updated_at": now,
            }
            if field_type == "tagger":
                field["custom_field_options"] = []
            self._apply_ticket_field_changes(field, fields)
            self._ticket_fields[field["id"]] = field
            return copy.deepcopy(field)

    def update_ticket_field(self, field_id: int, changes: Mapping[str, Any]) -> Record:
        """PUT /api/v2/ticket_fields/{id}: change a field (its type stays)."""
        with self._lock:
            field = copy.deepcopy(self._ticket_field_record(field_id))
            self._apply_ticket_field_changes(field, changes)
            field["updated_at"] = self._iso_now()
            self._ticket_fields[field_id] = field
            return copy.deepcopy(field)

    def delete_ticket_field(self, field_id: int) -> None:
        """DELETE /api/v2/ticket_fields/{id}: custom fields only."""
        with self._lock:
            if not self._ticket_field_record(field_id)["removable"]:
                raise invalid("This field is a system field and cannot be deleted")
            del self._ticket_fields[field_id]

    # -- internals: the caller holds self._lock ------------------------------------

    def _add_system_field(self, field_type: str, title: str, position: int) -> None:
        now = self._iso_now()
        field_id = self._new_id()
        self._ticket_fields[field_id] = {
            "id": field_id,
            "type": field_type,
            "title": title,
            "description": "",
            "position": position,
            "active": True,
            "required": field_type == "subject",
            "collapsed_for_agents": False,
            "regexp_for_validation": None,
            "visible_in_portal": field_type in ("subject", "description"),
            "editable_in_portal": field_type in ("subject", "description"),
            "required_in_portal": field_type in ("subject", "description"),
            "tag": None,
            "removable": False,
            "agent_description": "",
            "created_at": now,
            "updated_at": now,
        }

    def _ticket_field_record(self, field_id: int) -> Record:
        field = self._ticket_fields.get(field_id)
        if field is None:
            raise not_found()
        return field

    def _sorted_ticket_fields(self) -> list[Record]:
        return sorted(self._ticket_fields.values(), key=lambda f: (f["position"], f["id"]))

    def _fields_visible_to(self, viewer: Record) -> list[Record]:
        """The fields `viewer` sees, in position order: end-users only those with `visible_in_portal`
        (List Ticket Fields: "For end users, only the ticket fields with visible_in_portal set to
        true are returned", spec line 9816); agents and admins all of them."""
        fields = self._sorted_ticket_fields()
        if viewer["role"] == "end-user":
            return [field for field in fields if field["visible_in_portal"]]
        return fields

    def _custom_fields(self) -> list[Record]:
        return [f for f in self._sorted_ticket_fields() if f["removable"]]

    def _apply_ticket_field_changes(self, field: Record, changes: Mapping[str, Any]) -> None:
        """Apply writable ticket-field attributes, checking tags are not used by another field."""
        for key in ("title", "description", "agent_description", "regexp_for_validation"):
            if key in changes:
                field[key] = changes[key]
        for key in (
            "active",
            "required",
            "collapsed_for_agents",
            "visible_in_portal",
            "editable_in_portal",
            "required_in_portal",
        ):
            if key in changes:
                field[key] = bool(changes[key])
        if "position" in changes:
            field["position"] = int(changes["position"])
        if not isinstance(field["title"], str) or not field["title"].strip():
            raise invalid("Title: cannot be blank")
        field["raw_title"] = field["title"]
        field["title_in_portal"] = field["raw_title_in_portal"] = field["title"]
        field["raw_description"] = field["description"]
        if field["type"] == "checkbox" and "tag" in changes:
            field["tag"] = normalise_tags([changes["tag"]])[0] if changes["tag"] else None
        if field["type"] == "tagger" and "custom_field_options" in changes:
            field["custom_field_options"] = self._field_options(field, changes["custom_field_options"])
        if field["type"] == "tagger" and not field["custom_field_options"]:
            raise invalid("Field options: a drop-down field needs at least one option")
        own_tags = [o["value"] for o in field.get("custom_field_options", [])] + (
            [field["tag"]] if field["tag"] else []
        )
        clashes = sorted(set(own_tags) & self._tags_used_by_fields(except_field_id=field["id"]))
        if len(own_tags) != len(set(own_tags)) or clashes:
            clash = ", ".join(clashes) or "duplicate option values"
            raise invalid(f"Field options: tag already used by another ticket field ({clash})")

    def _field_options(self, field: Record, given: object) -> list[Record]:
        """Drop-down options from the API; options keep their ids when their value stays."""
        if not isinstance(given, list):
            raise invalid("custom_field_options: must be a list of {name, value}")
        existing = {o["value"]: o["id"] for o in field.get("custom_field_options", [])}
        options: list[Record] = []
        for position, option in enumerate(given):
            name = option.get("name") if isinstance(option, Mapping) else None
            raw_value = option.get("value") if isinstance(option, Mapping) else None
            if not isinstance(name, str) or not name or not isinstance(raw_value, str) or not raw_value.strip():
                raise invalid("custom_field_options: every option needs a name and a value")
            value = normalise_tags([raw_value])[0]
            option_id = existing.get(value) or self._new_id()
            options.append(
                {
                    "id": option_id,
                    "name": name,
                    "raw_name": name,
                    "value": value,
                    "position": position,
                    "default": False,
                }
            )
        return options

    def _tags_used_by_fields(self, *, except_field_id: int) -> set[str]:
        tags: set[str] = set()
        for field in self._ticket_fields.values():
            if field["id"] == except_field_id:
                continue
            tags.update(o["value"] for o in field.get("custom_field_options", []))
            if field["tag"]:
                tags.add(field["tag"])
        return tags


def normalise_tags(tags: object) -> list[str]:
    """Zendesk's tags: lower case, no spaces (a space separates tags), no duplicates."""
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise invalid("Tags: must be a list of strings")
    return list(dict.fromkeys(word.lower() for tag in tags for word in tag.split()))


def checked_field_value(field: Record, value: object) -> object:
    """A custom field value valid for the field's type (None when cleared); 422 otherwise."""
    field_type = field["type"]
    if value is None or (value == "" and field_type != "checkbox"):
        return None
    valid = {
        "text": isinstance(value, str),
        "textarea": isinstance(value, str),
        "integer": (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None),
        "decimal": (isinstance(value, (int, float)) and not isinstance(value, bool))
        or (isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None),
        "date": isinstance(value, str) and _is_date(value),
        "checkbox": isinstance(value, bool),
        "tagger": value in [o["value"] for o in field.get("custom_field_options", [])],
    }
    if not valid.get(field_type, False):
        raise invalid(f"{field['title']}: {value!r} is not a valid {field_type} value")
    return value


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None
