"""Routes for brands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify

from escalations.sandbox.routes.common import listing

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk


def add_brand_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/brands")
    def list_brands() -> Response:
        return jsonify(listing("brands", zendesk.brands()))

    @app.get("/api/v2/brands/<int:brand_id>")
    def show_brand(brand_id: int) -> Response:
        return jsonify({"brand": zendesk.brand(brand_id)})
