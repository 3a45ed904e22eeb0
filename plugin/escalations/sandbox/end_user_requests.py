"""The Requests API: tickets as their requester and CCs see them, and how end-users comment.

developer.zendesk.com/api-reference/ticketing/tickets/ticket-requests/ (spec: Requests,
lines 7846-8100). An end-user sees the requests they asked for or are copied on; another
request is not found for them (assumed 404, the reference does not say). Their comments
are public, reopen a pending or solved request, cannot be added to a closed one (422),
and run the triggers as that end-user. They see only the custom fields shown to end-users
(`visible_in_portal`), as List Ticket Fields lists only those for them (spec line 9816;
assumed for a request's `custom_fields`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from escalations.sandbox.core import Record
from escalations.sandbox.errors import invalid, not_found
from escalations.sandbox.tickets import Tickets
from escalations.sandbox.webhooks import Notification

_REQUEST_KEYS = (
    "id",
    "subject",
    "description",
    "status",
    "priority",
    "type",
    "requester_id",
    "assignee_id",
    "organization_id",
    "group_id",
    "collaborator_ids",
    "email_cc_ids",
    "via",
    "is_public",
    "custom_fields",
    "created_at",
    "updated_at",
)


class EndUserRequests(Tickets):
    """``/api/v2/requests``: list, show, create, comment, list comments."""

    def requests_of(self, user_id: int) -> list[Record]:
        """The requests `user_id` asked for or is copied on, oldest first."""
        with self._lock:
            user = self._user_record(user_id)
            return copy.deepcopy([self._request_json(t, user) for t in self._live_tickets() if self._may_see(user, t)])

    def request(self, request_id: int, user_id: int) -> Record:
        """One request, as `user_id` may see it."""
        with self._lock:
            ticket = self._visible_ticket(request_id, user_id)
            return copy.deepcopy(self._request_json(ticket, self._user_record(user_id)))

    def request_comments(self, request_id: int, user_id: int) -> list[Record]:
        """The request's public comments, oldest first (private notes are not the requester's to read)."""
        with self._lock:
            ticket = self._visible_ticket(request_id, user_id)
            return copy.deepcopy([c for c in self._comments[ticket["id"]] if c["public"]])

    def create_request(self, user_id: int, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/requests: a ticket asked for by `user_id`, its `comment.body` the description."""
        comment = fields.get("comment")
        body = comment.get("body") if isinstance(comment, Mapping) else None
        if not isinstance(body, str) or not body.strip():
            raise invalid("Description: cannot be blank")
        subject = fields.get("subject")
        with self._lock:
            requester = self._user_record(user_id)
            ticket, _, notifications = self._open_ticket(
                {"subject": subject if isinstance(subject, str) and subject else body[:50], "status": "new"},
                self._comment_input({"body": body, "public": True}, default_author=requester),
                requester=requester,
                actor=requester,
                channel="api",
            )
            answer = self._request_json(self._tickets[ticket["id"]], requester)
        self._dispatch(notifications)
        return copy.deepcopy(answer)

    def update_request(self, request_id: int, user_id: int, fields: Mapping[str, Any]) -> Record:
        """PUT /api/v2/requests/{id}: a `comment` ({"body": ...}) and/or `solved: true`; nothing else."""
        comment = fields.get("comment")
        body = comment.get("body") if isinstance(comment, Mapping) else None
        if comment is not None and (not isinstance(body, str) or not body.strip()):
            raise invalid("Comment: body cannot be blank")
        with self._lock:
            user = self._user_record(user_id)
            ticket = self._visible_ticket(request_id, user_id)
            notifications: list[Notification] = []
            if isinstance(body, str):
                _, notifications = self._comment_as(ticket["id"], user, body, public=True, channel="api")
            if fields.get("solved") in (True, "true"):
                notifications += self._solve_as(ticket["id"], user)
            answer = self._request_json(self._tickets[ticket["id"]], user)
        self._dispatch(notifications)
        return copy.deepcopy(answer)

    # -- internals: the caller holds self._lock ------------------------------------

    def _may_see(self, user: Record, ticket: Record) -> bool:
        if user["role"] != "end-user":
            return True
        return user["id"] == ticket["requester_id"] or user["id"] in ticket["email_cc_ids"]

    def _visible_ticket(self, request_id: int, user_id: int) -> Record:
        ticket = self._ticket_record(request_id)
        if not self._may_see(self._user_record(user_id), ticket):
            raise not_found()
        return ticket

    def _solve_as(self, ticket_id: int, user: Record) -> list[Notification]:
        ticket = self._tickets[ticket_id]
        if not _can_be_solved(ticket):
            raise invalid("Status: the request can be solved by its requester only once an agent is assigned")
        updated = copy.deepcopy(ticket)
        updated["status"] = "solved"
        _, _, notifications = self._commit_change(ticket, updated, None, actor=user, channel="api")
        return notifications

    def _request_json(self, ticket: Record, viewer: Record) -> Record:
        shown = self._ticket_json(ticket)
        request = {key: shown.get(key) for key in _REQUEST_KEYS}
        visible = {field["id"] for field in self._fields_visible_to(viewer)}
        request["custom_fields"] = [item for item in shown["custom_fields"] if item["id"] in visible]
        request["can_be_solved_by_me"] = _can_be_solved(ticket)
        request["solved"] = ticket["status"] in ("solved", "closed")
        return request


def _can_be_solved(ticket: Record) -> bool:
    """Assigned, not a problem ticket, not solved yet (Update Request, `solved`)."""
    return bool(ticket["assignee_id"]) and ticket["type"] != "problem" and ticket["status"] not in ("solved", "closed")
