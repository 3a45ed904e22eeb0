"""Routes for search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify, request

if TYPE_CHECKING:
    from plugin.sandbox.zendesk import SandboxZendesk


def add_search_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/search")
    def search() -> Response:
        results = zendesk.search_tickets(request.args.get("query", ""))
        return jsonify({"results": results, "count": len(results), "next_page": None, "previous_page": None})
