"""Routes for OAuth clients and tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, g, jsonify

from escalations.sandbox.errors import not_found
from escalations.sandbox.routes.common import created, current_user, listing, no_content, object_body

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk


def add_oauth_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/oauth/clients")
    def list_oauth_clients() -> Response:
        return jsonify(listing("clients", zendesk.oauth_clients()))

    @app.post("/api/v2/oauth/clients")
    def create_oauth_client() -> Response:
        return created({"client": zendesk.create_oauth_client(object_body("client"))})

    @app.post("/api/v2/oauth/tokens")
    def create_oauth_token() -> Response:
        return created({"token": zendesk.create_oauth_token(current_user()["id"], object_body("token"))})

    @app.get("/api/v2/oauth/tokens/current")
    def show_current_oauth_token() -> Response:
        """The token the request authenticated with; a request with other credentials has none."""
        if "oauth_token" not in g:
            raise not_found()
        return jsonify({"token": zendesk.current_oauth_token(g.oauth_token)})

    @app.delete("/api/v2/oauth/tokens/<int:token_id>")
    def revoke_oauth_token(token_id: int) -> Response:
        zendesk.revoke_oauth_token(token_id)
        return no_content()
