"""The sandbox's HTTP face: Zendesk's REST API plus `/__sandbox__/` control endpoints.

API paths need the API user's Basic auth, an OAuth access token
(`Authorization: Bearer`, within its scopes) or a Help Center session cookie
(with its CSRF token for writes), go through injected faults and rate limits,
and are logged with the kind of credentials used; control paths need nothing (the sandbox listens on
loopback only) and are never faulted, limited or logged. The routes live in
``escalations.sandbox.routes``, one module per resource.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Self
from urllib.parse import unquote

from flask import Flask, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from escalations.sandbox.contract import (
    ApiRequest,
    ApiResponse,
    ContractCheck,
    contract_from_environment,
)
from escalations.sandbox.errors import SandboxError, forbidden
from escalations.sandbox.help_center import CSRF_HEADER, SESSION_COOKIE, HelpCenter
from escalations.sandbox.permissions import may_call, scopes_allow
from escalations.sandbox.routes.brands import add_brand_routes
from escalations.sandbox.routes.business_rules import add_business_rule_routes
from escalations.sandbox.routes.common import API_PREFIX, ORIGINAL_PATH, original_path
from escalations.sandbox.routes.controls import STATE_PATH, add_control_routes
from escalations.sandbox.routes.end_user_requests import add_request_routes
from escalations.sandbox.routes.exports import add_export_routes
from escalations.sandbox.routes.help_center import add_help_center_routes
from escalations.sandbox.routes.oauth import add_oauth_routes
from escalations.sandbox.routes.people import add_people_routes
from escalations.sandbox.routes.search import add_search_routes
from escalations.sandbox.routes.ticket_fields import add_ticket_field_routes
from escalations.sandbox.routes.tickets import add_ticket_routes
from escalations.sandbox.routes.webhooks import add_webhook_routes
from escalations.sandbox.traffic import Fault, endpoint_budget

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from escalations.sandbox.core import Record
    from escalations.sandbox.zendesk import SandboxZendesk

ON_BEHALF_OF_HEADER = "X-On-Behalf-Of"  # an admin's OAuth token acting for an end-user
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


def create_sandbox_app(zendesk: SandboxZendesk, contract: ContractCheck | None = None) -> Flask:
    """A Flask app serving the sandbox account over Zendesk's REST API, checked by `contract` if given.

    Without `contract`, the check the environment asks for (see `escalations.sandbox.contract`), if any.
    """
    if contract is None:
        contract = contract_from_environment()
    app = Flask(__name__, static_folder="static", static_url_path="/__sandbox__/static")
    app.json = _InsertionOrderJSON(app)
    app.wsgi_app = _accept_json_suffix(app.wsgi_app)  # type: ignore[method-assign,assignment]
    help_center = HelpCenter(zendesk)

    @app.before_request
    def admit_api_request() -> Response | None:
        """Latency, the contract, injected faults, authentication, the user's role and rate limits, in that order.

        The contract sees every request first, so that one refused for any reason is checked too, and
        every answer (see `log_api_request`), faults and refusals included.
        """
        if not request.path.startswith(API_PREFIX):
            return None
        g.api_request = True
        if zendesk.latency:
            time.sleep(zendesk.latency)
        if contract is not None:
            g.contract_request = _api_request()
            refusal = contract.check_request(g.contract_request)
            if refusal is not None:
                return _error_response(refusal)
        fault = zendesk.faults.take(request.method, original_path())
        if fault is not None:
            return _fault_response(zendesk, fault)
        auth = request.authorization
        session = help_center.session(request.cookies.get(SESSION_COOKIE)) if auth is None else None
        user: Record | SandboxError | None
        scopes: list[str] | None = None
        if session is not None:  # a Help Center session: the cookie, and the CSRF token for writes
            user = help_center.authenticate(session, request.method, request.headers.get(CSRF_HEADER))
            g.authenticity_token = session.csrf_token
            g.credentials = "session"
        elif auth is not None and auth.type == "bearer":  # an OAuth access token
            bearer = zendesk.authenticate_bearer(auth.token or "", request.headers.get(ON_BEHALF_OF_HEADER))
            user, scopes = (bearer, None) if isinstance(bearer, SandboxError) else bearer
            g.oauth_token = auth.token
            g.credentials = "oauth"
        else:
            user = zendesk.authenticate(auth.username, auth.password) if auth is not None else None
            g.credentials = "api_token" if auth is not None else ""
        if user is None or (isinstance(user, SandboxError) and user.status == 401):
            answer = jsonify({"error": "Couldn't authenticate you"})
            answer.status_code = 401
            answer.headers["WWW-Authenticate"] = 'Basic realm="Web Password"'
            return answer
        if isinstance(user, SandboxError):
            return _error_response(user)
        g.user = user
        if scopes is not None and not scopes_allow(scopes, request.method, request.path):
            return _error_response(forbidden())
        if not may_call(user["role"], request.method, request.path):
            return _error_response(forbidden())
        is_update = request.method == "PUT" and _TICKET_UPDATE.fullmatch(original_path()) is not None
        endpoint = endpoint_budget(request.method, original_path())
        verdict = zendesk.rate_limiter.admit(ticket_update=is_update, endpoint=endpoint)
        g.rate_headers = dict(verdict.headers)
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
            zendesk.record_request(
                request.method, original_path(), query, response.status_code, g.get("credentials", "")
            )
            if contract is not None and g.get("contract_request") is not None:
                # Before the answer leaves: once a client has its answer, the exchange is checked (or recorded,
                # in the order the client made them), even if the sandbox is stopped right after.
                contract.check_response(g.contract_request, _api_response(response))
        return response

    @app.errorhandler(SandboxError)
    def sandbox_error(error: SandboxError) -> Response:
        return _error_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        name = "InvalidEndpoint" if status == 404 else (error.name or "Error").replace(" ", "")
        return jsonify({"error": name, "description": error.description or ""}), status

    add_ticket_routes(app, zendesk)
    add_people_routes(app, zendesk)
    add_ticket_field_routes(app, zendesk)
    add_webhook_routes(app, zendesk)
    add_business_rule_routes(app, zendesk, "trigger", "triggers")
    add_business_rule_routes(app, zendesk, "view", "views")
    add_search_routes(app, zendesk)
    add_export_routes(app, zendesk)
    add_request_routes(app, zendesk)
    add_oauth_routes(app, zendesk)
    add_brand_routes(app, zendesk)
    add_control_routes(app, zendesk)
    add_help_center_routes(app, zendesk, help_center)
    return app


class _RequestLogHandler(WSGIRequestHandler):
    """werkzeug's request log, without the page's once-a-second poll of the state."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.command == "GET" and self.path.startswith(STATE_PATH) and str(code) == "200":
            return
        super().log_request(code, size)


class SandboxServer:
    """Runs the sandbox app on werkzeug's threaded server in a background thread."""

    def __init__(
        self,
        zendesk: SandboxZendesk,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        contract: ContractCheck | None = None,
    ) -> None:
        self.zendesk = zendesk
        self._server: BaseWSGIServer = make_server(
            host, port, create_sandbox_app(zendesk, contract), threaded=True, request_handler=_RequestLogHandler
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


def _accept_json_suffix(wsgi_app: WSGIApplication) -> WSGIApplication:
    """Serve `/api/v2/x.json` as `/api/v2/x`, remembering the path as the client sent it."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        environ[ORIGINAL_PATH] = path
        if path.startswith(API_PREFIX) and path.endswith(".json"):
            environ["PATH_INFO"] = path.removesuffix(".json")
        return wsgi_app(environ, start_response)

    return app


def _api_request() -> ApiRequest:
    return ApiRequest(
        method=request.method,
        path=original_path(),
        query=request.query_string.decode("utf-8", "replace"),
        headers=dict(request.headers),
        body=request.get_data(cache=True),
    )


def _api_response(response: Response) -> ApiResponse:
    body = b"" if response.direct_passthrough else response.get_data()
    return ApiResponse(status=response.status_code, headers=dict(response.headers), body=body)


def _error_response(error: SandboxError) -> Response:
    answer = jsonify(error.body)
    answer.status_code = error.status
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
