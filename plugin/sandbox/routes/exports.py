"""Routes for the incremental exports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify, request

from plugin.sandbox.errors import bad_request
from plugin.sandbox.routes.common import includes, int_arg, page_url

if TYPE_CHECKING:
    from plugin.sandbox.zendesk import SandboxZendesk

MAX_EVENTS_PAGE = 1000


def add_export_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/incremental/ticket_events")
    def export_ticket_events() -> Response:
        start_time = request.args.get("start_time", "")
        if not start_time.isdigit():
            raise bad_request("start_time: a Unix time in seconds is required")
        limit = min(int_arg("per_page", MAX_EVENTS_PAGE), MAX_EVENTS_PAGE)
        events, end_of_stream = zendesk.ticket_events(
            int(start_time), include_comment_events="comment_events" in includes(), limit=limit
        )
        end_time = events[-1]["timestamp"] if events else int(start_time)
        return jsonify(
            {
                "ticket_events": events,
                "next_page": page_url({"start_time": str(end_time)}),
                "count": len(events),
                "end_of_stream": end_of_stream,
                "end_time": end_time,
            }
        )
