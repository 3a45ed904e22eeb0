"""The sandbox's own control endpoints under `/__sandbox__/`, and its page at `/`.

They need no credentials (the sandbox listens on loopback only) and are never
faulted, limited or logged.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from escalations.sandbox.errors import bad_request
from escalations.sandbox.routes.common import created, no_content

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk

STATE_PATH = "/__sandbox__/state"
RATE_LIMITS = (
    "requests_per_minute",
    "updates_per_minute",
    "incremental_exports_per_minute",
    "search_exports_per_minute",
)


def add_control_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    page_policy = _page_security_policy(Path(app.static_folder or "") / "index.html")

    @app.get("/")
    def sandbox_page() -> Response:
        """A page to comment as customers or agents and watch emails and webhooks."""
        page = app.send_static_file("index.html")
        page.headers["Content-Security-Policy"] = page_policy
        page.headers["X-Content-Type-Options"] = "nosniff"
        page.headers["Referrer-Policy"] = "no-referrer"
        return page

    @app.get(STATE_PATH)
    def show_state() -> Response:
        return jsonify(zendesk.state())

    @app.post("/__sandbox__/tickets/<int:ticket_id>/comments")
    def add_comment(ticket_id: int) -> Response:
        body = _control_body()
        author_id, text, public = body.get("author_id"), body.get("body"), body.get("public", True)
        if not isinstance(author_id, int) or not isinstance(text, str) or not isinstance(public, bool):
            raise bad_request("expected {author_id: int, body: str, public: bool}")
        return created({"comment": zendesk.add_comment(ticket_id, author_id=author_id, body=text, public=public)})

    @app.post("/__sandbox__/tickets/<int:ticket_id>/status")
    def set_status(ticket_id: int) -> Response:
        status = _control_body().get("status")
        if not isinstance(status, str):
            raise bad_request("expected {status: str}")
        zendesk.set_status(ticket_id, status)
        return jsonify({"ticket": zendesk.ticket(ticket_id)})

    @app.get("/__sandbox__/requests")
    def show_requests() -> Response:
        return jsonify({"requests": zendesk.requests_log()})

    @app.delete("/__sandbox__/requests")
    def reset_requests() -> Response:
        zendesk.reset_requests_log()
        return no_content()

    @app.post("/__sandbox__/faults")
    def inject_fault() -> Response:
        try:
            zendesk.inject_fault(**_control_body())
        except (TypeError, ValueError, re.error) as error:
            raise bad_request(str(error)) from error
        return no_content()

    @app.delete("/__sandbox__/faults")
    def clear_faults() -> Response:
        zendesk.clear_faults()
        return no_content()

    @app.post("/__sandbox__/settings")
    def change_settings() -> Response:
        body = _control_body()
        if "latency" in body:
            zendesk.latency = _number(body["latency"], "latency")
        if "webhook_delivery_enabled" in body:
            zendesk.webhook_delivery_enabled = bool(body["webhook_delivery_enabled"])
        limits = {name: _limit(body[name], name) for name in RATE_LIMITS if name in body}
        if limits:
            zendesk.set_rate_limit(**limits)
        if "endpoint_budget_headers" in body:
            zendesk.describe_endpoint_budgets(_flag(body["endpoint_budget_headers"], "endpoint_budget_headers"))
        return jsonify(zendesk.settings())


def _control_body() -> dict[str, Any]:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise bad_request("expected a JSON object")
    return body


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise bad_request(f"{name}: expected a number >= 0")
    return float(value)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"{name}: expected true or false")
    return value


def _limit(value: object, name: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise bad_request(f"{name}: expected a whole number >= 1 or null")
    return value


def _page_security_policy(page: Path) -> str:
    """A CSP that allows the page's own inline script (by hash), its API, and nothing else."""
    html = page.read_text(encoding="utf-8")

    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        return " ".join(
            "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode() + "'"
            for body in bodies
        )

    return (
        # Styles may be set from the script (highlights); only the page's own script may run.
        f"default-src 'none'; script-src {hashes('script')}; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
