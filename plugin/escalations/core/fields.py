"""The ticket fields and tags in which an escalation is recorded on the ticket.

Zendesk ticket fields have no stable key, only an id per account and a title.
Each field is described once here; `escalations setup` creates it, marks it
(`[escalations:field:<key>]` in its agent-only description, so it is found
again after a rename) and stores the id it got under the field's key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TAG_ESCALATED = "escalated"
TAG_BLOCKED = "escalation_blocked"
# Set with the escalation record and removed with the customer's confirmation:
# while it is on the ticket, the confirmation is still owed.
TAG_CONFIRMATION_PENDING = "escalation_confirmation_pending"
# Set with the request for a reason and removed once the reason came or the wait ended: while it is on
# the ticket, the trigger calls the service on the customer's public comments, the phrase or not.
TAG_REASON_REQUESTED = "escalation_reason_requested"
# Set once, with the managers' overdue note; it stays as history after acknowledgement.
TAG_OVERDUE = "escalation_overdue"
# With notifications for managers switched on: the write that makes an event also marks its
# notification as owed (`escalation_notify_<event>`, with this tag while any is owed), and a later
# write claims it by removing the marks; only then is the notification sent.
TAG_NOTIFICATION_OWED = "escalation_notification_owed"
NOTIFY_EVENTS = ("escalated", "overdue", "acknowledged", "resolved", "refused")
DEFAULT_NOTIFY_EVENTS = ("escalated", "overdue")


def notification_tag(event: str) -> str:
    """The mark that a notification for `event` is owed on the ticket."""
    return f"escalation_notify_{event}"


NOTIFICATION_TAGS = (TAG_NOTIFICATION_OWED, *(notification_tag(event) for event in NOTIFY_EVENTS))

STATUS_REQUESTED = "requested"
STATUS_ACKNOWLEDGED = "acknowledged"
STATUS_RESOLVED = "resolved"
STATUSES = (STATUS_REQUESTED, STATUS_ACKNOWLEDGED, STATUS_RESOLVED)


def status_tag(status: str) -> str:
    """The drop-down value (and the tag Zendesk adds) for an escalation status."""
    return f"escalation_status_{status}"


@dataclass(frozen=True)
class EscalationField:
    key: str
    title: str
    type: str
    description: str
    options: tuple[str, ...] = ()
    # Shown read-only to the customer on their request in the Help Center; never anything private.
    customer_visible: bool = False


STATUS = "status"
REASON = "reason"
REQUESTED_AT = "requested_at"
REQUESTED_BY = "requested_by"
RESPONSE_DUE = "response_due"
REFUSED_REPEATS = "refused_repeats"
HANDLED_THROUGH = "handled_through"
ACKNOWLEDGED_AT = "acknowledged_at"
ACKNOWLEDGED_BY = "acknowledged_by"
RESOLVED_AT = "resolved_at"

ESCALATION_FIELDS: tuple[EscalationField, ...] = (
    EscalationField(
        STATUS,
        "Escalation status",
        "tagger",
        "Set by the escalation service: requested, acknowledged or resolved.",
        STATUSES,
        customer_visible=True,
    ),
    EscalationField(REASON, "Escalation reason", "textarea", "The customer's reason, as written."),
    EscalationField(
        REQUESTED_AT, "Escalation requested at", "text", "When the customer escalated (UTC).", customer_visible=True
    ),
    # User ids are text: Zendesk's ids exceed 2^31, and nothing documents a 64-bit number field.
    EscalationField(REQUESTED_BY, "Escalation requested by", "text", "Zendesk user id of the customer."),
    EscalationField(
        RESPONSE_DUE,
        "Escalation response due",
        "text",
        "First response target: 24 weekday hours after the request (UTC).",
        customer_visible=True,
    ),
    EscalationField(
        REFUSED_REPEATS,
        "Escalation refused repeats",
        "integer",
        "How many further escalation attempts were politely refused.",
    ),
    EscalationField(
        HANDLED_THROUGH,
        "Escalation handled through comment",
        "text",
        "Bookkeeping: the newest comment id the escalation service has answered.",
    ),
    EscalationField(
        ACKNOWLEDGED_AT,
        "Escalation acknowledged at",
        "text",
        "When a manager acknowledged it (UTC).",
        customer_visible=True,
    ),
    EscalationField(
        ACKNOWLEDGED_BY,
        "Escalation acknowledged by",
        "text",
        "Zendesk user id of the manager who acknowledged it.",
    ),
    EscalationField(
        RESOLVED_AT, "Escalation resolved at", "text", "When the escalation was resolved (UTC).", customer_visible=True
    ),
)

FIELD_KEYS = tuple(field.key for field in ESCALATION_FIELDS)

# Earlier versions kept user ids in number fields of the same titles. Setup moves such a
# field aside under this title (Zendesk cannot change a field's type) and the readers
# fall back to its value, so escalations recorded before are never lost.
EARLIER_NUMBER_FIELDS = {
    REQUESTED_BY: "Escalation requested by (earlier number field)",
    ACKNOWLEDGED_BY: "Escalation acknowledged by (earlier number field)",
}


def earlier_key(key: str) -> str:
    """The state key under which setup stores the id of a field's earlier number field."""
    return f"{key}_number"


def recorded_values(custom_fields: Iterable[Mapping[str, Any]], field_ids: Mapping[str, int]) -> dict[str, Any]:
    """The escalation's values by field key from a ticket's `custom_fields`, earlier number fields filled in."""
    keys_by_id = {field_id: key for key, field_id in field_ids.items()}
    values = {keys_by_id[item["id"]]: item.get("value") for item in custom_fields if item.get("id") in keys_by_id}
    for key in EARLIER_NUMBER_FIELDS:
        earlier = values.pop(earlier_key(key), None)
        if values.get(key) in (None, "") and earlier not in (None, ""):
            values[key] = str(earlier)
    return values
