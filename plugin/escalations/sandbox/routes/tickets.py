"""Routes for tickets and their comments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from escalations.sandbox.routes.common import (
    created,
    current_user,
    includes,
    listing,
    no_content,
    object_body,
    with_warning,
)

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk


def add_ticket_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/tickets")
    def list_tickets() -> Response:
        return jsonify(listing("tickets", zendesk.tickets()))

    @app.post("/api/v2/tickets")
    def create_ticket() -> Response:
        answer, ignored = zendesk.api_create_ticket(object_body("ticket"), actor_id=current_user()["id"])
        return with_warning(created(answer), ignored)

    @app.get("/api/v2/tickets/<int:ticket_id>")
    def show_ticket(ticket_id: int) -> Response:
        ticket = zendesk.ticket(ticket_id)
        answer: dict[str, Any] = {"ticket": ticket}
        if "users" in includes():
            # Zendesk side-loads the ticket's people: requester, submitter, assignee, CCs and followers.
            people = {
                ticket["requester_id"],
                ticket["submitter_id"],
                *ticket["email_cc_ids"],
                *ticket["collaborator_ids"],
                *ticket.get("follower_ids", []),
            }
            if ticket["assignee_id"]:
                people.add(ticket["assignee_id"])
            answer["users"] = zendesk.users(ids=people)
        if "groups" in includes():
            answer["groups"] = [g for g in zendesk.groups() if g["id"] == ticket["group_id"]]
        return jsonify(answer)

    @app.delete("/api/v2/tickets/<int:ticket_id>")
    def delete_ticket(ticket_id: int) -> Response:
        zendesk.delete_ticket(ticket_id)
        return no_content()

    @app.put("/api/v2/tickets/<int:ticket_id>")
    def update_ticket(ticket_id: int) -> Response:
        answer, ignored = zendesk.api_update_ticket(ticket_id, object_body("ticket"), actor_id=current_user()["id"])
        return with_warning(jsonify(answer), ignored)

    @app.get("/api/v2/tickets/<int:ticket_id>/comments")
    def list_comments(ticket_id: int) -> Response:
        comments = zendesk.comments(ticket_id)
        newest_first = request.args.get("sort") == "-created_at" or request.args.get("sort_order") == "desc"
        page = listing("comments", comments[::-1] if newest_first else comments)
        if "users" in includes():
            ticket = zendesk.ticket(ticket_id)
            people = {c["author_id"] for c in page["comments"]}
            people.update([ticket["requester_id"], *ticket["email_cc_ids"], *ticket["collaborator_ids"]])
            page["users"] = zendesk.users(ids=people)
        return jsonify(page)
