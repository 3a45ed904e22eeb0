"""What a ticket write says: the keys the API takes or ignores, a comment's HTML and text, and the child
events a change records (as the Ticket Audits API shows them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from escalations.sandbox.core import Record

# Read-only ticket keys, ignored silently as Zendesk does; any other key the sandbox does
# not implement is dropped with an x-zendesk-api-warn header.
READ_ONLY_KEYS = frozenset(
    {
        "id",
        "url",
        "created_at",
        "updated_at",
        "description",
        "via",
        "is_public",
        "raw_subject",
        "safe_update",
        "updated_stamp",
        "satisfaction_rating",
        "followup_ids",
        "forum_topic_id",
        "from_messaging_channel",
        "generated_timestamp",
        "has_incidents",
        "allow_attachments",
        "allow_channelback",
    }
)
TRACKED_FIELDS = (
    "subject",
    "status",
    "priority",
    "type",
    "requester_id",
    "assignee_id",
    "group_id",
    "brand_id",
    "tags",
    "email_cc_ids",
    "follower_ids",
)


@dataclass(frozen=True)
class CommentInput:
    """A comment about to be added to a ticket."""

    author: Record
    body: str
    html_body: str
    public: bool


def html_body_for(body: str) -> str:
    """The HTML Zendesk renders for a plain-text comment."""
    paragraphs = "".join(f'<p dir="auto">{_escape(p).replace(chr(10), "<br>")}</p>' for p in body.split("\n\n"))
    return f'<div class="zd-comment" dir="auto">{paragraphs}</div>'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def comment_text(html_body: str) -> str:
    """Plain text from an HTML comment."""
    with_breaks = re.sub(r"<br\s*/?>|</p>", "\n", html_body)
    text = re.sub(r"<[^>]+>", "", with_breaks)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return text.strip()


def field_changes(before: Record | None, after: Record) -> list[Record]:
    """Child events describing what a change did to the ticket's attributes."""
    previous = before or {}
    changes: list[Record] = []
    for name in TRACKED_FIELDS:
        old, new = previous.get(name), after[name]
        if before is None and new in (None, []):
            continue
        if before is None or old != new:
            changes.append(_field_change(name, old, new, created=before is None))
    old_values = {f["id"]: f["value"] for f in previous.get("custom_fields", [])}
    for entry in after["custom_fields"]:
        old = old_values.pop(entry["id"], None)
        if old != entry["value"]:
            changes.append(_field_change(str(entry["id"]), old, entry["value"], created=before is None))
    for field_id, old in old_values.items():
        changes.append(_field_change(str(field_id), old, None, created=False))
    return changes


def _field_change(name: str, old: object, new: object, *, created: bool) -> Record:
    change: Record = {"event_type": "Create" if created else "Change", "field_name": name, "value": new}
    if not created:
        change["previous_value"] = old
    if name == "tags":
        old_tags = old if isinstance(old, list) else []
        new_tags = new if isinstance(new, list) else []
        change["added_tags"] = [t for t in new_tags if t not in old_tags]
        change["removed_tags"] = [t for t in old_tags if t not in new_tags]
    return change


def unknown_ticket_keys(fields: Mapping[str, Any]) -> list[str]:
    known = READ_ONLY_KEYS | set(TRACKED_FIELDS) | {"custom_fields", "comment"}
    return sorted(key for key in fields if key not in known)
