"""The sandbox's HTTP face: Zendesk's REST API plus `/__sandbox__/` control endpoints.

API paths need the API user's Basic auth, go through injected faults and rate
limits, and are logged; control paths need nothing (the sandbox listens on
loopback only) and are never faulted, limited or logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast
from urllib.parse import unquote, urlencode

from flask import Flask, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from plugin.sandbox.errors import SandboxError, bad_request
from plugin.sandbox.traffic import Fault

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from plugin.sandbox.zendesk import BusinessRuleKind, SandboxZendesk

API_PREFIX = "/api/v2"
ORIGINAL_PATH = "sandbox.original_path"
MAX_PAGE_SIZE = 100
MAX_EVENTS_PAGE = 1000
STATE_PATH = "/__sandbox__/state"
_TICKET_UPDATE = re.compile(r"/api/v2/tickets/\d+(\.json)?")
_ERROR_NAMES = {
    409: "DatabaseConflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
}


class _InsertionOrderJSON(DefaultJSONProvider):
    """Keep keys in the order Zendesk's own answers use."""

    sort_keys = False


def create_sandbox_app(zendesk: SandboxZendesk) -> Flask:
    """A Flask app serving the sandbox account over Zendesk's REST API."""
    app = Flask(__name__, static_folder="static", static_url_path="/__sandbox__/static")
    app.json = _InsertionOrderJSON(app)
    app.wsgi_app = _accept_json_suffix(app.wsgi_app)  # type: ignore[method-assign,assignment]

    @app.before_request
    def admit_api_request() -> Response | None:
        """Latency, injected faults, authentication and rate limits, in that order."""
        if not request.path.startswith(API_PREFIX):
            return None
        g.api_request = True
        if zendesk.latency:
            time.sleep(zendesk.latency)
        fault = zendesk.faults.take(request.method, _original_path())
        if fault is not None:
            return _fault_response(zendesk, fault)
        auth = request.authorization
        if auth is None or not zendesk.authenticates(auth.username, auth.password):
            answer = jsonify({"error": "Couldn't authenticate you"})
            answer.status_code = 401
            answer.headers["WWW-Authenticate"] = 'Basic realm="Web Password"'
            return answer
        is_update = request.method == "PUT" and _TICKET_UPDATE.fullmatch(_original_path()) is not None
        verdict = zendesk.rate_limiter.admit(ticket_update=is_update)
        g.rate_headers = verdict.headers
        if verdict.retry_after is not None:
            answer = jsonify({"error": "TooManyRequests", "description": "Rate limit exceeded"})
            answer.status_code = 429
            answer.headers["Retry-After"] = str(verdict.retry_after)
            return answer
        return None

    @app.after_request
    def log_api_request(response: Response) -> Response:
        if g.get("api_request"):
            response.headers.update(g.get("rate_headers", {}))
            query = unquote(request.query_string.decode("utf-8", "replace"))
            zendesk.record_request(request.method, _original_path(), query, response.status_code)
        return response

    @app.errorhandler(SandboxError)
    def sandbox_error(error: SandboxError) -> tuple[Response, int]:
        return jsonify(error.body), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        name = "InvalidEndpoint" if status == 404 else (error.name or "Error").replace(" ", "")
        return jsonify({"error": name, "description": error.description or ""}), status

    _add_ticket_routes(app, zendesk)
    _add_user_and_group_routes(app, zendesk)
    _add_ticket_field_routes(app, zendesk)
    _add_webhook_routes(app, zendesk)
    _add_business_rule_routes(app, zendesk, "trigger", "triggers")
    _add_business_rule_routes(app, zendesk, "view", "views")
    _add_control_routes(app, zendesk)
    return app


class _RequestLogHandler(WSGIRequestHandler):
    """werkzeug's request log, without the page's once-a-second poll of the state."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.command == "GET" and self.path.startswith(STATE_PATH) and str(code) == "200":
            return
        super().log_request(code, size)


class SandboxServer:
    """Runs the sandbox app on werkzeug's threaded server in a background thread."""

    def __init__(self, zendesk: SandboxZendesk, host: str = "127.0.0.1", port: int = 0) -> None:
        self.zendesk = zendesk
        self._server: BaseWSGIServer = make_server(
            host, port, create_sandbox_app(zendesk), threaded=True, request_handler=_RequestLogHandler
        )
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Start serving; returns self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="zendesk-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, answering hanging requests first."""
        self.zendesk.faults.release_hanging()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# -- REST API routes ------------------------------------------------------------------


def _add_ticket_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/tickets")
    def list_tickets() -> Response:
        return jsonify(_listing("tickets", zendesk.tickets()))

    @app.post("/api/v2/tickets")
    def create_ticket() -> Response:
        answer, ignored = zendesk.api_create_ticket(_object_body("ticket"))
        return _with_warning(_created(answer), ignored)

    @app.get("/api/v2/tickets/<int:ticket_id>")
    def show_ticket(ticket_id: int) -> Response:
        ticket = zendesk.ticket(ticket_id)
        answer: dict[str, Any] = {"ticket": ticket}
        if "users" in _includes():
            # Zendesk side-loads the ticket's people: requester, submitter, assignee, CCs and followers.
            people = {
                ticket["requester_id"],
                ticket["submitter_id"],
                *ticket["email_cc_ids"],
                *ticket["collaborator_ids"],
                *ticket.get("follower_ids", []),
            }
            if ticket["assignee_id"]:
                people.add(ticket["assignee_id"])
            answer["users"] = zendesk.users(ids=people)
        return jsonify(answer)

    @app.put("/api/v2/tickets/<int:ticket_id>")
    def update_ticket(ticket_id: int) -> Response:
        answer, ignored = zendesk.api_update_ticket(ticket_id, _object_body("ticket"))
        return _with_warning(jsonify(answer), ignored)

    @app.get("/api/v2/tickets/<int:ticket_id>/comments")
    def list_comments(ticket_id: int) -> Response:
        comments = zendesk.comments(ticket_id)
        newest_first = request.args.get("sort") == "-created_at" or request.args.get("sort_order") == "desc"
        listing = _listing("comments", comments[::-1] if newest_first else comments)
        if "users" in _includes():
            ticket = zendesk.ticket(ticket_id)
            people = {c["author_id"] for c in listing["comments"]}
            people.update([ticket["requester_id"], *ticket["email_cc_ids"], *ticket["collaborator_ids"]])
            listing["users"] = zendesk.users(ids=people)
        return jsonify(listing)

    @app.get("/api/v2/business_hours/schedules")
    def list_schedules() -> Response:
        return jsonify({"schedules": zendesk.schedules()})

    @app.get("/api/v2/business_hours/schedules/<int:schedule_id>/holidays")
    def list_schedule_holidays(schedule_id: int) -> Response:
        return jsonify({"holidays": zendesk.schedule_holidays(schedule_id)})

    @app.get("/api/v2/search")
    def search() -> Response:
        results = zendesk.search_tickets(request.args.get("query", ""))
        return jsonify({"results": results, "count": len(results), "next_page": None, "previous_page": None})

    @app.get("/api/v2/incremental/ticket_events")
    def export_ticket_events() -> Response:
        start_time = request.args.get("start_time", "")
        if not start_time.isdigit():
            raise bad_request("start_time: a Unix time in seconds is required")
        limit = min(_int_arg("per_page", MAX_EVENTS_PAGE), MAX_EVENTS_PAGE)
        events, end_of_stream = zendesk.ticket_events(
            int(start_time), include_comment_events="comment_events" in _includes(), limit=limit
        )
        end_time = events[-1]["timestamp"] if events else int(start_time)
        return jsonify(
            {
                "ticket_events": events,
                "next_page": _page_url({"start_time": str(end_time)}),
                "count": len(events),
                "end_of_stream": end_of_stream,
                "end_time": end_time,
            }
        )


def _add_user_and_group_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/users/me")
    def current_user() -> Response:
        return jsonify({"user": zendesk.user(zendesk.api_user_id)})

    @app.get("/api/v2/users/<int:user_id>")
    def show_user(user_id: int) -> Response:
        return jsonify({"user": zendesk.user(user_id)})

    @app.get("/api/v2/users/show_many")
    def show_many_users() -> Response:
        ids = [int(i) for i in request.args.get("ids", "").split(",") if i.strip().isdigit()]
        return jsonify({"users": zendesk.users(ids=ids)})

    @app.get("/api/v2/users")
    def list_users() -> Response:
        roles = request.args.getlist("role") + request.args.getlist("role[]")
        return jsonify(_listing("users", zendesk.users(roles=roles)))

    @app.post("/api/v2/users")
    def create_user() -> Response:
        return _created({"user": zendesk.create_user(_object_body("user"))})

    @app.get("/api/v2/groups")
    def list_groups() -> Response:
        return jsonify(_listing("groups", zendesk.groups()))

    @app.post("/api/v2/groups")
    def create_group() -> Response:
        return _created({"group": zendesk.create_group(_object_body("group"))})

    @app.get("/api/v2/groups/<int:group_id>")
    def show_group(group_id: int) -> Response:
        return jsonify({"group": zendesk.group(group_id)})

    @app.get("/api/v2/groups/<int:group_id>/memberships")
    def list_group_memberships(group_id: int) -> Response:
        return jsonify(_listing("group_memberships", zendesk.group_memberships(group_id)))

    @app.get("/api/v2/group_memberships")
    def list_all_group_memberships() -> Response:
        return jsonify(_listing("group_memberships", zendesk.group_memberships()))

    @app.post("/api/v2/group_memberships")
    def create_group_membership() -> Response:
        membership = zendesk.create_group_membership(_object_body("group_membership"))
        return _created({"group_membership": membership})


def _add_ticket_field_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/ticket_fields")
    def list_ticket_fields() -> Response:
        return jsonify(_listing("ticket_fields", zendesk.ticket_fields()))

    @app.post("/api/v2/ticket_fields")
    def create_ticket_field() -> Response:
        return _created({"ticket_field": zendesk.create_ticket_field(_object_body("ticket_field"))})

    @app.get("/api/v2/ticket_fields/<int:field_id>")
    def show_ticket_field(field_id: int) -> Response:
        return jsonify({"ticket_field": zendesk.ticket_field(field_id)})

    @app.put("/api/v2/ticket_fields/<int:field_id>")
    def update_ticket_field(field_id: int) -> Response:
        return jsonify({"ticket_field": zendesk.update_ticket_field(field_id, _object_body("ticket_field"))})

    @app.delete("/api/v2/ticket_fields/<int:field_id>")
    def delete_ticket_field(field_id: int) -> Response:
        zendesk.delete_ticket_field(field_id)
        return _no_content()


def _add_webhook_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/webhooks")
    def list_webhooks() -> Response:
        webhooks = zendesk.webhooks(name_contains=request.args.get("filter[name_contains]"))
        return jsonify(_cursor_listing("webhooks", webhooks))

    @app.post("/api/v2/webhooks")
    def create_webhook() -> Response:
        return _created({"webhook": zendesk.create_webhook(_object_body("webhook"))})

    @app.get("/api/v2/webhooks/<webhook_id>")
    def show_webhook(webhook_id: str) -> Response:
        return jsonify({"webhook": zendesk.webhook(webhook_id)})

    @app.route("/api/v2/webhooks/<webhook_id>", methods=["PUT", "PATCH"])
    def update_webhook(webhook_id: str) -> Response:
        zendesk.update_webhook(webhook_id, _object_body("webhook"), replace=request.method == "PUT")
        return _no_content()

    @app.delete("/api/v2/webhooks/<webhook_id>")
    def delete_webhook(webhook_id: str) -> Response:
        zendesk.delete_webhook(webhook_id)
        return _no_content()

    @app.get("/api/v2/webhooks/<webhook_id>/signing_secret")
    def show_signing_secret(webhook_id: str) -> Response:
        return jsonify({"signing_secret": zendesk.signing_secret(webhook_id)})

    @app.post("/api/v2/webhooks/<webhook_id>/signing_secret")
    def reset_signing_secret(webhook_id: str) -> Response:
        return jsonify({"signing_secret": zendesk.reset_signing_secret(webhook_id)})


def _add_business_rule_routes(app: Flask, zendesk: SandboxZendesk, kind: BusinessRuleKind, plural: str) -> None:
    """CRUD for triggers or views, which share one shape."""
    collection = f"/api/v2/{plural}"
    member = f"{collection}/<int:rule_id>"

    def list_rules() -> Response:
        return jsonify(_listing(plural, zendesk.business_rules(kind)))

    def create_rule() -> Response:
        return _created({kind: zendesk.create_business_rule(kind, _object_body(kind))})

    def show_rule(rule_id: int) -> Response:
        return jsonify({kind: zendesk.business_rule(kind, rule_id)})

    def update_rule(rule_id: int) -> Response:
        return jsonify({kind: zendesk.update_business_rule(kind, rule_id, _object_body(kind))})

    def delete_rule(rule_id: int) -> Response:
        zendesk.delete_business_rule(kind, rule_id)
        return _no_content()

    app.add_url_rule(collection, f"list_{plural}", list_rules, methods=["GET"])
    app.add_url_rule(collection, f"create_{kind}", create_rule, methods=["POST"])
    app.add_url_rule(member, f"show_{kind}", show_rule, methods=["GET"])
    app.add_url_rule(member, f"update_{kind}", update_rule, methods=["PUT"])
    app.add_url_rule(member, f"delete_{kind}", delete_rule, methods=["DELETE"])


# -- control endpoints ------------------------------------------------------------------


def _add_control_routes(app: Flask, zendesk: SandboxZendesk) -> None:
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
        return _created({"comment": zendesk.add_comment(ticket_id, author_id=author_id, body=text, public=public)})

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
        return _no_content()

    @app.post("/__sandbox__/faults")
    def inject_fault() -> Response:
        try:
            zendesk.inject_fault(**_control_body())
        except (TypeError, ValueError, re.error) as error:
            raise bad_request(str(error)) from error
        return _no_content()

    @app.delete("/__sandbox__/faults")
    def clear_faults() -> Response:
        zendesk.clear_faults()
        return _no_content()

    @app.post("/__sandbox__/settings")
    def change_settings() -> Response:
        body = _control_body()
        current = zendesk.settings()
        if "latency" in body:
            zendesk.latency = _number(body["latency"], "latency")
        if "webhook_delivery_enabled" in body:
            zendesk.webhook_delivery_enabled = bool(body["webhook_delivery_enabled"])
        if "requests_per_minute" in body or "updates_per_minute" in body:
            zendesk.set_rate_limit(
                requests_per_minute=_limit(body, "requests_per_minute", current),
                updates_per_minute=_limit(body, "updates_per_minute", current),
            )
        return jsonify(zendesk.settings())


# -- request and response helpers --------------------------------------------------------


def _accept_json_suffix(wsgi_app: WSGIApplication) -> WSGIApplication:
    """Serve `/api/v2/x.json` as `/api/v2/x`, remembering the path as the client sent it."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        environ[ORIGINAL_PATH] = path
        if path.startswith(API_PREFIX) and path.endswith(".json"):
            environ["PATH_INFO"] = path.removesuffix(".json")
        return wsgi_app(environ, start_response)

    return app


def _original_path() -> str:
    return cast(str, request.environ.get(ORIGINAL_PATH, request.path))


def _object_body(key: str) -> dict[str, Any]:
    """The `{key: {...}}` object Zendesk expects as a request body."""
    body = request.get_json(force=True, silent=True)
    wrapped = body.get(key) if isinstance(body, dict) else None
    if not isinstance(wrapped, dict):
        raise bad_request(f"expected a JSON body like {{{key!r}: {{...}}}}")
    return wrapped


def _control_body() -> dict[str, Any]:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise bad_request("expected a JSON object")
    return body


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise bad_request(f"{name}: expected a number >= 0")
    return float(value)


def _limit(body: dict[str, Any], name: str, current: dict[str, Any]) -> int | None:
    value = body.get(name, current[name])
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


def _includes() -> set[str]:
    return {part.strip() for part in request.args.get("include", "").split(",")}


def _int_arg(name: str, default: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise bad_request(f"{name}: expected a whole number >= 1")
    return int(value)


def _created(body: dict[str, Any]) -> Response:
    answer = jsonify(body)
    answer.status_code = 201
    return answer


def _no_content() -> Response:
    return Response(status=204)


def _with_warning(answer: Response, ignored_keys: list[str]) -> Response:
    """Zendesk drops unknown keys and says so in a header."""
    if ignored_keys:
        quoted = ", ".join(f'"{key}"' for key in ignored_keys)
        answer.headers["x-zendesk-api-warn"] = f"Removed restricted keys [{quoted}] from parameters"
    return answer


def _fault_response(zendesk: SandboxZendesk, fault: Fault) -> Response:
    """The answer an injected fault gives, after hanging if asked to."""
    status = 503 if fault.status == "hang" else fault.status
    if fault.status == "hang":
        zendesk.faults.hang()
    name = _ERROR_NAMES.get(status, "Error")
    if fault.body_format == "html":
        answer = Response(f"<html><body><h1>{status} {name}</h1></body></html>", status, mimetype="text/html")
    else:
        answer = jsonify({"error": name, "description": "Injected by the Zendesk sandbox"})
        answer.status_code = status
    if status in (429, 503) and fault.retry_after is not None:
        answer.headers["Retry-After"] = str(fault.retry_after)
    return answer


def _page_url(overrides: dict[str, str]) -> str:
    """This request's URL with some query parameters replaced (page cursors dropped)."""
    params = {k: v for k, v in request.args.items() if k not in ("page[after]", "page[before]", "page")}
    params.update(overrides)
    return f"{request.host_url.rstrip('/')}{_original_path()}?{urlencode(params)}"


def _listing(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A list answer: cursor-paginated when `page[...]` is asked for, offset-paginated otherwise."""
    if any(name.startswith("page[") for name in request.args):
        return _cursor_listing(key, items)
    per_page = min(_int_arg("per_page", MAX_PAGE_SIZE), MAX_PAGE_SIZE)
    page = _int_arg("page", 1)
    start = (page - 1) * per_page
    has_next = start + per_page < len(items)
    return {
        key: items[start : start + per_page],
        "next_page": _page_url({"page": str(page + 1)}) if has_next else None,
        "previous_page": _page_url({"page": str(page - 1)}) if page > 1 else None,
        "count": len(items),
    }


def _cursor_listing(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Cursor pagination: `page[size]` (max 100), `page[after]`/`page[before]`, meta and links."""
    size = min(_int_arg("page[size]", MAX_PAGE_SIZE), MAX_PAGE_SIZE)
    ids = [str(item["id"]) for item in items]
    after, before = request.args.get("page[after]"), request.args.get("page[before]")
    if after:
        start = _cursor_position(after, ids) + 1
        end = start + size
    elif before:
        end = _cursor_position(before, ids)
        start = max(0, end - size)
    else:
        start, end = 0, size
    page = items[start:end]
    more_after, more_before = end < len(items), start > 0
    after_cursor = _cursor(page[-1]["id"]) if page else None
    before_cursor = _cursor(page[0]["id"]) if page else None
    return {
        key: page,
        "meta": {
            "has_more": more_before if before else more_after,
            "after_cursor": after_cursor,
            "before_cursor": before_cursor,
        },
        "links": {
            "next": _page_url({"page[after]": after_cursor}) if more_after and after_cursor else None,
            "prev": _page_url({"page[before]": before_cursor}) if more_before and before_cursor else None,
        },
    }


def _cursor(item_id: object) -> str:
    return base64.urlsafe_b64encode(str(item_id).encode()).decode().rstrip("=")


def _cursor_position(cursor: str, ids: list[str]) -> int:
    try:
        item_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return ids.index(item_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise bad_request("page cursor is not valid for this list") from error
