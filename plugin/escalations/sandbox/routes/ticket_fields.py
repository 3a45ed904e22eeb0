"""Routes for ticket fields."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify

from escalations.sandbox.routes.common import created, current_user, listing, no_content, object_body

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk


def add_ticket_field_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/ticket_fields")
    def list_ticket_fields() -> Response:
        return jsonify(listing("ticket_fields", zendesk.ticket_fields(viewer=current_user())))

    @app.post("/api/v2/ticket_fields")
    def create_ticket_field() -> Response:
        return created({"ticket_field": zendesk.create_ticket_field(object_body("ticket_field"))})

    @app.get("/api/v2/ticket_fields/<int:field_id>")
    def show_ticket_field(field_id: int) -> Response:
        return jsonify({"ticket_field": zendesk.ticket_field(field_id)})

    @app.put("/api/v2/ticket_fields/<int:field_id>")
    def update_ticket_field(field_id: int) -> Response:
        return jsonify({"ticket_field": zendesk.update_ticket_field(field_id, object_body("ticket_field"))})

    @app.delete("/api/v2/ticket_fields/<int:field_id>")
    def delete_ticket_field(field_id: int) -> Response:
        zendesk.delete_ticket_field(field_id)
        return no_content()
