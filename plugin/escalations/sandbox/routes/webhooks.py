"""Routes for webhooks and their signing secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify, request

from escalations.sandbox.routes.common import created, cursor_listing, no_content, object_body

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk


def add_webhook_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/webhooks")
    def list_webhooks() -> Response:
        webhooks = zendesk.webhooks(name_contains=request.args.get("filter[name_contains]"))
        return jsonify(cursor_listing("webhooks", webhooks))

    @app.post("/api/v2/webhooks")
    def create_webhook() -> Response:
        return created({"webhook": zendesk.create_webhook(object_body("webhook"))})

    @app.get("/api/v2/webhooks/<webhook_id>")
    def show_webhook(webhook_id: str) -> Response:
        return jsonify({"webhook": zendesk.webhook(webhook_id)})

    @app.route("/api/v2/webhooks/<webhook_id>", methods=["PUT", "PATCH"])
    def update_webhook(webhook_id: str) -> Response:
        zendesk.update_webhook(webhook_id, object_body("webhook"), replace=request.method == "PUT")
        return no_content()

    @app.delete("/api/v2/webhooks/<webhook_id>")
    def delete_webhook(webhook_id: str) -> Response:
        zendesk.delete_webhook(webhook_id)
        return no_content()

    @app.get("/api/v2/webhooks/<webhook_id>/invocations")
    def list_invocations(webhook_id: str) -> Response:
        return jsonify(cursor_listing("invocations", zendesk.webhook_invocations(webhook_id)))

    @app.get("/api/v2/webhooks/<webhook_id>/invocations/<invocation_id>/attempts")
    def list_invocation_attempts(webhook_id: str, invocation_id: str) -> Response:
        return jsonify({"attempts": zendesk.webhook_invocation_attempts(webhook_id, invocation_id)})

    @app.get("/api/v2/webhooks/<webhook_id>/signing_secret")
    def show_signing_secret(webhook_id: str) -> Response:
        return jsonify({"signing_secret": zendesk.signing_secret(webhook_id)})

    @app.post("/api/v2/webhooks/<webhook_id>/signing_secret")
    def reset_signing_secret(webhook_id: str) -> Response:
        return jsonify({"signing_secret": zendesk.reset_signing_secret(webhook_id)})
