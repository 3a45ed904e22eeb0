"""Routes for search and search export."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify, request

from escalations.sandbox.errors import bad_request
from escalations.sandbox.routes.common import MAX_PAGE_SIZE, cursor, cursor_position, int_arg, page_url

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk

DEFAULT_EXPORT_PAGE = 100
MAX_EXPORT_PAGE = 1000


def add_search_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/search")
    def search() -> Response:
        """Offset pages of at most 100 (`per_page`), `count` of every match, 422 past the 1,000th."""
        page, per_page = int_arg("page", 1), min(int_arg("per_page", MAX_PAGE_SIZE), MAX_PAGE_SIZE)
        found = zendesk.search(request.args.get("query", ""), page=page, per_page=per_page)
        return jsonify(
            {
                "results": found.results,
                "facets": None,
                "next_page": page_url({"page": str(page + 1)}) if found.has_next else None,
                "previous_page": page_url({"page": str(page - 1)}) if page > 1 else None,
                "count": found.count,
            }
        )

    @app.get("/api/v2/search/count")
    def search_count() -> Response:
        """The number of results a search would give, without them (Show Results Count, spec line 8920)."""
        return jsonify({"count": len(zendesk.search_tickets(request.args.get("query", "")))})

    @app.get("/api/v2/search/export")
    def search_export() -> Response:
        """Cursor pages (`page[size]` up to 1,000, 100 by default) of one object type, no `count`."""
        object_type = request.args.get("filter[type]")
        if not object_type:
            raise bad_request("filter[type] is required: ticket, user, organization or group")
        results = zendesk.search_export(request.args.get("query", ""), object_type)
        size = min(int_arg("page[size]", DEFAULT_EXPORT_PAGE), MAX_EXPORT_PAGE)
        after = request.args.get("page[after]")
        start = cursor_position(after, [str(r["id"]) for r in results]) + 1 if after else 0
        page = results[start : start + size]
        has_more = start + size < len(results)
        after_cursor = cursor(page[-1]["id"]) if page else None
        return jsonify(
            {
                "results": page,
                "facets": None,
                "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": None},
                # Backward pagination is not supported: `prev` is always null (spec, ExportSearchResults).
                "links": {
                    "next": page_url({"page[after]": after_cursor}) if has_more and after_cursor else None,
                    "prev": None,
                },
            }
        )
