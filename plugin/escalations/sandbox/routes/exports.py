"""Routes for the incremental exports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify, request

from escalations.sandbox.errors import bad_request
from escalations.sandbox.routes.common import includes, int_arg, original_path

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk

MAX_EVENTS_PAGE = 1000  # time-based exports return up to 1,000 items a page


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
        # The next page starts at the last event's second, so events of that second come again (dedupe
        # by id); its URL carries start_time only, as Zendesk's example (spec line 30370): a caller
        # must add its own parameters, such as include=comment_events, to every request.
        next_page = f"{request.host_url.rstrip('/')}{original_path()}?start_time={end_time}"
        return jsonify(
            {
                "ticket_events": events,
                "next_page": next_page,
                "count": len(events),
                "end_of_stream": end_of_stream,
                "end_time": end_time,
            }
        )
