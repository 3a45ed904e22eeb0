"""Tickets and their comments: every change recorded as an event, emailed and run through the triggers."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from escalations.sandbox.business_rules import BusinessRules
from escalations.sandbox.core import TIMESTAMP_FORMAT, Record, parse_time
from escalations.sandbox.errors import SandboxError, bad_request, invalid, not_found
from escalations.sandbox.rules import PRIORITY_ORDER, STATUS_ORDER, TICKET_TYPES, VIA_IDS, TicketChange
from escalations.sandbox.ticket_changes import (
    CommentInput,
    comment_text,
    field_changes,
    html_body_for,
    unknown_ticket_keys,
)
from escalations.sandbox.ticket_fields import checked_field_value, normalise_tags
from escalations.sandbox.webhooks import Notification


class Tickets(BusinessRules):
    """Tickets, comments, the emails agents' public comments send, and the ticket-event history."""

    def ticket(self, ticket_id: int) -> Record:
        """The ticket as the API shows it."""
        with self._lock:
            return copy.deepcopy(self._ticket_json(self._ticket_record(ticket_id)))

    def tickets(self) -> list[Record]:
        """All tickets, oldest first."""
        with self._lock:
            return copy.deepcopy(self._tickets_json(self._live_tickets()))

    def delete_ticket(self, ticket_id: int) -> None:
        """DELETE /api/v2/tickets/{id}: a soft delete. The ticket leaves show, list and search (404);
        Zendesk keeps it 30 days among the deleted tickets (Tickets API, "Delete Ticket")."""
        with self._lock:
            self._deleted_tickets[ticket_id] = self._ticket_record(ticket_id)
            del self._tickets[ticket_id]

    def comments(self, ticket_id: int) -> list[Record]:
        """The ticket's comments, oldest first."""
        with self._lock:
            self._ticket_record(ticket_id)
            return copy.deepcopy(self._comments[ticket_id])

    def create_ticket(
        self,
        *,
        requester_id: int,
        subject: str,
        description: str,
        email_cc_ids: Sequence[int] = (),
        status: str = "open",
        group_id: int | None = None,
        assignee_id: int | None = None,
        brand_id: int | None = None,
    ) -> Record:
        """Open a ticket as if the requester wrote in through the web form (of `brand_id`'s Help Center, the
        default brand's unless given), routed to `group_id` and `assignee_id` if given; runs triggers."""
        with self._lock:
            requester = self._user_record(requester_id, field="requester_id")
            changes: Record = {"subject": subject, "status": status, "email_cc_ids": list(email_cc_ids)}
            if group_id is not None:
                changes["group_id"] = group_id
            if assignee_id is not None:
                changes["assignee_id"] = assignee_id
            if brand_id is not None:
                changes["brand_id"] = brand_id
            ticket, _, notifications = self._open_ticket(
                changes,
                CommentInput(requester, description, html_body_for(description), public=True),
                requester=requester,
                actor=requester,
                channel="web",
            )
        self._dispatch(notifications)
        return ticket

    def add_comment(
        self,
        ticket_id: int,
        *,
        author_id: int,
        body: str,
        public: bool = True,
        deliver_webhooks: bool = True,
    ) -> Record:
        """Comment as that user through the web or email; runs triggers unless told not to.

        A customer's comment reopens a pending or solved ticket, as in Zendesk.
        ``deliver_webhooks=False`` skips the triggers, for setting up history quietly.
        """
        with self._lock:
            author = self._users.get(author_id)
            if author is None:
                raise bad_request(f"author_id: no user {author_id}")
            if not body.strip():
                raise bad_request("body: a comment needs text")
            comment, notifications = self._comment_as(
                ticket_id, author, body, public=public, channel="web", run_triggers=deliver_webhooks
            )
        self._dispatch(notifications)
        return copy.deepcopy(comment)

    def set_status(self, ticket_id: int, status: str) -> None:
        """Change a ticket's status directly, as its agent in the agent interface would: the assignee, else an
        agent of the ticket's group, else any agent; never the API user (the service's own account), whose
        changes the service ignores."""
        with self._lock:
            ticket = self._ticket_record(ticket_id)
            if ticket["status"] == "closed":
                raise invalid("Status: closed prevents ticket update")
            updated = copy.deepcopy(ticket)
            self._apply_ticket_changes(updated, {"status": status})
            actor = self._working_agent(ticket)
            _, _, notifications = self._commit_change(ticket, updated, None, actor=actor, channel="web")
        self._dispatch(notifications)

    def _working_agent(self, ticket: Record) -> Record:
        """The agent who works a ticket: its assignee, else a member of its group, else the first agent."""
        agents = [
            user
            for _, user in sorted(self._users.items())
            if user["role"] != "end-user" and user["active"] and user["id"] != self.api_user_id
        ]
        in_group = {m["user_id"] for m in self._memberships.values() if m["group_id"] == ticket.get("group_id")}
        for candidate in (
            self._users.get(ticket.get("assignee_id") or 0),
            next((agent for agent in agents if agent["id"] in in_group), None),
            next(iter(agents), None),
        ):
            if candidate is not None:
                return candidate
        return self._users[self.api_user_id]

    def api_create_ticket(self, fields: Mapping[str, Any], *, actor_id: int | None = None) -> tuple[Record, list[str]]:
        """POST /api/v2/tickets as `actor_id` (the API user by default): the `{ticket, audit}` answer and
        ignored keys. `requester_id`, `tags` and the `comment` (the description) are honoured."""
        with self._lock:
            actor = self._users[actor_id or self.api_user_id]
            requester = self._user_record(fields.get("requester_id", self.api_user_id), field="requester_id")
            comment = fields.get("comment")
            if not isinstance(comment, Mapping):
                raise invalid("Description: cannot be blank")
            changes = {key: value for key, value in fields.items() if key != "comment"}
            changes.setdefault("status", "open" if fields.get("assignee_id") else "new")
            ticket, audit, notifications = self._open_ticket(
                changes,
                self._comment_input(comment, default_author=actor),
                requester=requester,
                actor=actor,
                channel="api",
            )
            ignored = unknown_ticket_keys(fields)
        self._dispatch(notifications)
        return {"ticket": ticket, "audit": audit}, ignored

    def api_update_ticket(
        self, ticket_id: int, changes: Mapping[str, Any], *, actor_id: int | None = None
    ) -> tuple[Record, list[str]]:
        """PUT /api/v2/tickets/{id} as `actor_id` (the API user by default): the `{ticket, audit}` answer
        and ignored keys.

        Tags replace the list, custom fields merge by id, one comment may be added,
        `safe_update` with a stale `updated_stamp` is a 409, a closed ticket a 422;
        a refused update changes nothing.
        """
        with self._lock:
            ticket = self._ticket_record(ticket_id)
            if ticket["status"] == "closed":
                raise invalid("Status: closed prevents ticket update")
            if changes.get("safe_update") and changes.get("updated_stamp") != ticket["updated_at"]:
                raise SandboxError(
                    409,
                    "UpdateConflict",
                    "Safe Update prevented the update due to outdated ticket data. "
                    "Please fetch the latest ticket data and try again.",
                )
            updated = copy.deepcopy(ticket)
            self._apply_ticket_changes(updated, changes)
            actor = self._users[actor_id or self.api_user_id]
            comment = changes.get("comment")
            comment_input = None if comment is None else self._comment_input(comment, default_author=actor)
            audit, _, notifications = self._commit_change(ticket, updated, comment_input, actor=actor, channel="api")
            answer = {"ticket": self._ticket_json(self._tickets[ticket_id]), "audit": audit}
            ignored = unknown_ticket_keys(changes)
        self._dispatch(notifications)
        return copy.deepcopy(answer), ignored

    # -- internals: the caller holds self._lock ------------------------------------

    def _comment_as(
        self, ticket_id: int, author: Record, body: str, *, public: bool, channel: str, run_triggers: bool = True
    ) -> tuple[Record, list[Notification]]:
        """Add `author`'s comment; an end-user's reopens a pending or solved ticket, a closed one is 422."""
        ticket = self._ticket_record(ticket_id)
        if ticket["status"] == "closed":
            raise invalid("Status: closed prevents ticket update")
        updated = copy.deepcopy(ticket)
        if author["role"] == "end-user" and ticket["status"] in ("pending", "solved"):
            updated["status"] = "open"
        comment_input = CommentInput(author, body, html_body_for(body), public)
        _, comment, notifications = self._commit_change(
            ticket, updated, comment_input, actor=author, channel=channel, run_triggers=run_triggers
        )
        assert comment is not None
        return comment, notifications

    def _live_tickets(self) -> list[Record]:
        return [ticket for _, ticket in sorted(self._tickets.items())]

    def _ticket_record(self, ticket_id: int) -> Record:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            raise not_found()
        return ticket

    def _ticket_json(self, ticket: Record, fields: list[Record] | None = None) -> Record:
        """The ticket as the API shows it: every custom field listed (`fields`, by default the account's), unset
        ones as null."""
        values = {f["id"]: f["value"] for f in ticket["custom_fields"]}
        listed = self._custom_fields() if fields is None else fields
        return {**ticket, "custom_fields": [{"id": f["id"], "value": values.get(f["id"])} for f in listed]}

    def _tickets_json(self, tickets: Iterable[Record]) -> list[Record]:
        """Tickets as the API shows them, the account's custom fields read once for all of them."""
        fields = self._custom_fields()
        return [self._ticket_json(ticket, fields) for ticket in tickets]

    def _open_ticket(
        self,
        changes: Mapping[str, Any],
        description: CommentInput,
        *,
        requester: Record,
        actor: Record,
        channel: str,
    ) -> tuple[Record, Record, list[Notification]]:
        """Create a ticket with its description comment; the ticket, its audit, the webhooks due."""
        ticket: Record = {
            "id": self._last_ticket_id + 1,
            "subject": "",
            "description": description.body,
            "status": "new",
            "priority": None,
            "type": None,
            "requester_id": requester["id"],
            "submitter_id": description.author["id"],
            "assignee_id": None,
            "organization_id": None,
            "group_id": None,
            "brand_id": self._default_brand_id(),
            "tags": [],
            "custom_fields": [],
            "collaborator_ids": [],
            "email_cc_ids": [],
            "follower_ids": [],
            "via": {"channel": channel},
            "is_public": description.public,
            "created_at": None,
            "updated_at": None,
        }
        self._apply_ticket_changes(ticket, changes)
        self._last_ticket_id = ticket["id"]
        self._comments[ticket["id"]] = []
        audit, _, notifications = self._commit_change(None, ticket, description, actor=actor, channel=channel)
        return copy.deepcopy(self._ticket_json(ticket)), audit, notifications

    def _apply_ticket_changes(self, ticket: Record, changes: Mapping[str, Any]) -> None:
        """Apply writable ticket attributes to `ticket` (a copy), validating each; 422 on bad input."""
        if "subject" in changes:
            if not isinstance(changes["subject"], str):
                raise invalid("Subject: must be text")
            ticket["subject"] = changes["subject"]
        for key, allowed in (("status", STATUS_ORDER), ("priority", PRIORITY_ORDER), ("type", TICKET_TYPES)):
            if key in changes:
                value = changes[key]
                if value not in allowed and not (key != "status" and value is None):
                    raise invalid(f"{key.capitalize()}: {value!r} is not one of {', '.join(allowed)}")
                ticket[key] = value
        if "requester_id" in changes:
            ticket["requester_id"] = self._user_record(changes["requester_id"], field="requester_id")["id"]
        if "group_id" in changes:
            group_id = changes["group_id"]
            ticket["group_id"] = None if group_id is None else self._group_record_for(group_id)["id"]
        if "brand_id" in changes:
            ticket["brand_id"] = self._brand_id_for(changes["brand_id"])
        if "assignee_id" in changes:
            ticket["assignee_id"] = self._assignee_id(changes["assignee_id"])
            if ticket["assignee_id"] is not None and ticket["group_id"] is None:
                ticket["group_id"] = self._users[ticket["assignee_id"]]["default_group_id"]
        for key in ("email_cc_ids", "follower_ids"):
            if key in changes:
                ticket[key] = self._user_ids(changes[key], key, agents_only=key == "follower_ids")
        ticket["collaborator_ids"] = list(dict.fromkeys(ticket["email_cc_ids"] + ticket["follower_ids"]))
        if "tags" in changes:
            ticket["tags"] = normalise_tags(changes["tags"])
        explicit_fields = self._merge_custom_fields(ticket, changes.get("custom_fields", []))
        self._sync_field_tags(ticket, explicit_fields, tags_given="tags" in changes)

    def _assignee_id(self, assignee_id: object) -> int | None:
        if assignee_id is None:
            return None
        assignee = self._user_record(assignee_id, field="assignee_id")
        if assignee["role"] == "end-user":
            raise invalid(f"Assignee: {assignee['name']} is not an agent")
        return int(assignee["id"])

    def _user_ids(self, user_ids: object, key: str, *, agents_only: bool) -> list[int]:
        if not isinstance(user_ids, list):
            raise invalid(f"{key}: must be a list of user ids")
        users = [self._user_record(user_id, field=key) for user_id in user_ids]
        if agents_only and any(u["role"] == "end-user" for u in users):
            raise invalid(f"{key}: only agents can be followers")
        return list(dict.fromkeys(int(u["id"]) for u in users))

    def _merge_custom_fields(self, ticket: Record, given: object) -> set[int]:
        """Merge `[{id, value}]` into the ticket's values by id; the ids that were given."""
        if not isinstance(given, list):
            raise invalid("custom_fields: must be a list of {id, value}")
        values = {f["id"]: f["value"] for f in ticket["custom_fields"]}
        custom_fields = {f["id"]: f for f in self._custom_fields()}
        for entry in given:
            field_id = entry.get("id") if isinstance(entry, Mapping) else None
            field = custom_fields.get(field_id) if isinstance(field_id, int) else None
            if field is None:
                raise invalid(f"custom_fields: there is no ticket field {field_id}")
            values[field["id"]] = checked_field_value(field, entry.get("value"))
        ticket["custom_fields"] = [{"id": i, "value": v} for i, v in values.items() if v is not None]
        return {entry["id"] for entry in given}

    def _sync_field_tags(self, ticket: Record, explicit_fields: set[int], *, tags_given: bool) -> None:
        """Keep drop-down and checkbox fields and their tags in step, as Zendesk does.

        A field set in this change writes its tags; otherwise replaced tags set the field.
        """
        values = {f["id"]: f["value"] for f in ticket["custom_fields"]}
        tags: list[str] = ticket["tags"]
        for field in self._custom_fields():
            if field["type"] == "tagger":
                field_tags = [option["value"] for option in field["custom_field_options"]]
            elif field["type"] == "checkbox" and field["tag"]:
                field_tags = [field["tag"]]
            else:
                continue
            if field["id"] in explicit_fields:
                value = values.get(field["id"])
                chosen = field["tag"] if field["type"] == "checkbox" and value else value
            elif tags_given:
                chosen = next((tag for tag in tags if tag in field_tags), None)
                if field["type"] == "tagger":
                    values[field["id"]] = chosen
                elif bool(chosen) != bool(values.get(field["id"])):
                    values[field["id"]] = chosen is not None
            else:
                continue
            tags = [tag for tag in tags if tag not in field_tags] + ([chosen] if chosen else [])
        ticket["tags"] = tags
        ticket["custom_fields"] = [{"id": i, "value": v} for i, v in values.items() if v is not None]

    def _comment_input(self, comment: object, *, default_author: Record) -> CommentInput:
        """Validate a `comment` object from the API."""
        if not isinstance(comment, Mapping):
            raise invalid("Comment: must be an object with a body")
        author = default_author
        if comment.get("author_id") is not None:
            author = self._user_record(comment["author_id"], field="comment.author_id")
        html_body = comment.get("html_body")
        body = comment.get("body")
        if isinstance(html_body, str) and html_body.strip():
            text = body if isinstance(body, str) and body.strip() else comment_text(html_body)
            return CommentInput(author, text, html_body, bool(comment.get("public", True)))
        if not isinstance(body, str) or not body.strip():
            raise invalid("Comment: body cannot be blank")
        return CommentInput(author, body, html_body_for(body), bool(comment.get("public", True)))

    def _next_stamp(self, previous: str | None) -> datetime:
        """Now, or one second after `previous` if the clock has not moved past it."""
        now = self._now()
        if previous is None:
            return now
        earliest = parse_time(previous) + timedelta(seconds=1)
        return max(now, earliest)

    def _commit_change(
        self,
        before: Record | None,
        after: Record,
        comment_input: CommentInput | None,
        *,
        actor: Record,
        channel: str,
        run_triggers: bool = True,
    ) -> tuple[Record, Record | None, list[Notification]]:
        """Store a ticket change, its event and emails, and run triggers.

        Returns the audit, the new comment and the webhook calls to make. A change that
        alters nothing and adds no comment is not recorded, like in Zendesk.
        """
        changes = field_changes(before, after)
        if before is not None and not changes and comment_input is None:
            return {"id": self._new_id(), "ticket_id": after["id"], "events": []}, None, []
        stamp = self._next_stamp(before["updated_at"] if before else None)
        iso = stamp.strftime(TIMESTAMP_FORMAT)
        after["updated_at"] = iso
        if before is None:
            after["created_at"] = iso
        audit_id = self._new_id()
        via = {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}}
        comment = None
        if comment_input is not None:
            comment = {
                "id": self._new_id(),
                "type": "Comment",
                "author_id": comment_input.author["id"],
                "body": comment_input.body,
                "html_body": comment_input.html_body,
                "plain_body": comment_input.body,
                "public": comment_input.public,
                "attachments": [],
                "audit_id": audit_id,
                "via": via,
                "metadata": {"system": {}, "custom": {}},
                "created_at": iso,
            }
            self._comments[after["id"]].append(comment)
        for change in changes:
            change["id"] = self._new_id()
        event: Record = {
            "id": audit_id,
            "ticket_id": after["id"],
            "timestamp": int(stamp.timestamp()),
            "created_at": iso,
            "updater_id": actor["id"],
            "via": via,
            "event_type": "Create" if before is None else "Audit",
            "changes": changes,
            "comment": comment,
        }
        self._tickets[after["id"]] = after
        self._ticket_events.append(event)
        if comment_input is not None and comment is not None:
            self._send_emails(after, comment, comment_input.author)
        notifications: list[Notification] = []
        if run_triggers:
            ticket_comments = self._comments[after["id"]]
            notifications = self._fire_triggers(
                TicketChange(
                    update_type="Create" if before is None else "Change",
                    ticket=self._ticket_json(after),
                    actor=actor,
                    comment=comment,
                    latest_comment_id=ticket_comments[-1]["id"] if ticket_comments else None,
                    previous=None if before is None else self._ticket_json(before),
                    via_id=VIA_IDS.get(channel),
                )
            )
        audit = {
            "id": audit_id,
            "ticket_id": after["id"],
            "created_at": iso,
            "author_id": actor["id"],
            "via": via,
            "metadata": {"system": {}, "custom": {}},
            "events": ([comment] if comment else []) + [{**c, "type": c["event_type"]} for c in changes],
        }
        return copy.deepcopy(audit), comment, notifications

    def _send_emails(self, ticket: Record, comment: Record, author: Record) -> None:
        """An agent's public comment is emailed to the requester and email CCs."""
        if not comment["public"] or author["role"] == "end-user":
            return
        recipients = [
            self._users[user_id]["email"]
            for user_id in dict.fromkeys([ticket["requester_id"], *ticket["email_cc_ids"]])
            if user_id != comment["author_id"] and self._users[user_id]["email"]
        ]
        if recipients:
            self._emails.append(
                {
                    "to": recipients,
                    "ticket_id": ticket["id"],
                    "subject": ticket["subject"],
                    "body": comment["body"],
                    "comment_id": comment["id"],
                    "sent_at": comment["created_at"],
                }
            )
