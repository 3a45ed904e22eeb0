"""Routes for the Requests API, answered as the user the request authenticated as."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify

from escalations.sandbox.routes.common import created, current_user, listing, object_body

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk


def add_request_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/requests")
    def list_requests() -> Response:
        return jsonify(listing("requests", zendesk.requests_of(current_user()["id"])))

    @app.post("/api/v2/requests")
    def create_request() -> Response:
        return created({"request": zendesk.create_request(current_user()["id"], object_body("request"))})

    @app.get("/api/v2/requests/<int:request_id>")
    def show_request(request_id: int) -> Response:
        return jsonify({"request": zendesk.request(request_id, current_user()["id"])})

    @app.put("/api/v2/requests/<int:request_id>")
    def update_request(request_id: int) -> Response:
        answer = zendesk.update_request(request_id, current_user()["id"], object_body("request"))
        return jsonify({"request": answer})

    @app.get("/api/v2/requests/<int:request_id>/comments")
    def list_request_comments(request_id: int) -> Response:
        return jsonify(listing("comments", zendesk.request_comments(request_id, current_user()["id"])))
