"""The HTTP face: Zendesk's webhook, and health for a load balancer.

The webhook route is thin on purpose: check the request, record the work in
the durable queue, answer. Zendesk waits about ten seconds and then counts a
failure, so nothing slow (no Zendesk API call) happens inside the request.
Metrics and readiness are not served here, on the public port, but by the
private listener (`escalations.service.private_listener`).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from escalations.config import Settings, load_settings
from escalations.core.signature import SignatureMismatch, SignatureRejected, verify_any
from escalations.service import logs
from escalations.service.metrics import WEBHOOKS
from escalations.zendesk.state import AccountState
from escalations.zendesk.state_store import CurrentState, open_state_store

if TYPE_CHECKING:
    from escalations.service.queue import Queues

log = logging.getLogger(__name__)

Enqueue = Callable[[int, str | None], None]  # the ticket id, and the webhook invocation that asked

MAX_NESTING = 32  # the trigger's body is flat; anything this deep is not from Zendesk
MAX_DIGITS = 20  # Zendesk ids are 64-bit numbers: at most 20 digits
MAX_ID = 2**63 - 1
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_INVOCATION_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class WebhookRejected(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


@dataclass(frozen=True)
class Invocation:
    ticket_id: int
    actor_id: int | None  # who made the ticket change, when the trigger says


def _whole_number(value: object) -> int | None:
    """An int, or digits as text (placeholders render as text), within 64 bits; anything else is None."""
    if isinstance(value, str) and re.fullmatch(rf"\s*[0-9]{{1,{MAX_DIGITS}}}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value > MAX_ID:
        return None
    return value


class _Malformed(ValueError):
    """JSON that Python would read but that no trigger sends, and that could mean two things."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = {key for key, _ in pairs}
    if len(keys) != len(pairs):
        raise _Malformed("an object has the same key twice")
    return dict(pairs)


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Malformed("a number is too large")
    return int(text)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Malformed("a number is too large")
    return number


def _no_constant(name: str) -> Any:
    raise _Malformed(f"{name} is not JSON")


def _nesting(text: str, limit: int) -> int:
    """How deep arrays and objects nest in `text`, counting no further than `limit` + 1."""
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if bracket.group() in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > limit:
            break
    return deepest


def parse_invocation(body: bytes) -> Invocation:
    """The ticket id (and the actor, if given) from the trigger's JSON body; the rest is optional.

    Strict JSON in UTF-8: no NaN or Infinity, no key twice, no number beyond
    64 bits, nothing nested deeper than MAX_NESTING. Whatever else arrives is
    a 400, never an error of ours.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected(400, "invalid_json", "the body is not UTF-8") from None
    if _nesting(text, MAX_NESTING) > MAX_NESTING:
        raise WebhookRejected(400, "invalid_json", f"the body nests deeper than {MAX_NESTING} levels")
    try:
        payload = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except _Malformed as malformed:
        raise WebhookRejected(400, "invalid_json", str(malformed)) from None
    except (ValueError, RecursionError):
        raise WebhookRejected(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "invalid_body", "the body must be a JSON object")
    ticket_id = _whole_number(payload.get("ticket_id"))
    if ticket_id is None or ticket_id <= 0:
        raise WebhookRejected(400, "invalid_ticket_id", "ticket_id must be a positive 64-bit integer")
    return Invocation(ticket_id, _whole_number(payload.get("actor_id")))


def invocation_id(header: str | None) -> str | None:
    """Zendesk's invocation id, when it looks like one; it is not signed, so it is kept short and plain."""
    return header if header is not None and _INVOCATION_ID.fullmatch(header) else None


StateSource = Callable[..., AccountState]  # the account state now; `fresh=True`: looked up again at once


class SecretRotating(Exception):
    """A signature made with no secret we know, while a rotation is under way: it may be the new one."""


def check_signature(
    states: StateSource, signature: str | None, timestamp: str | None, body: bytes, now: datetime
) -> None:
    """Raise SignatureRejected unless the body was signed with a secret the account state accepts at `now`.

    A signature that matches none is checked again against the state as
    stored right now (a rotation may have stored a new secret since the
    cached copy was read); if it still matches none while a rotation is under
    way, SecretRotating: Zendesk may be signing with the secret the rotation
    has not stored yet.
    """
    try:
        verify_any(states().accepted_secrets(now), signature, timestamp, body, now)
    except SignatureMismatch:
        state = states(fresh=True)
        try:
            verify_any(state.accepted_secrets(now), signature, timestamp, body, now)
        except SignatureMismatch:
            if state.rotating(now):
                raise SecretRotating from None
            raise


def _queues(settings: Settings) -> Queues:
    # Imported here: huey and Redis's client load with the first webhook, not with the app, so that a
    # web worker that has not answered one yet stays small.
    from escalations.service.queue import Queues

    return Queues.from_settings(settings)


def _json(body: dict[str, Any], status: int) -> tuple[Response, int]:
    """A small JSON answer, without the work of Flask's general-purpose jsonify."""
    return Response(json.dumps(body), mimetype="application/json"), status


def create_app(
    settings: Settings | None = None,
    state: AccountState | StateSource | None = None,
    enqueue: Enqueue | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Flask:
    """Build the web app; by default from the environment and the state `setup` stored, followed as it changes."""
    # The web front sends no notifications: `serve` has checked their URLs, and Apprise stays out of it.
    settings = settings or load_settings()
    states: StateSource
    if isinstance(state, AccountState):
        fixed = state
        states = lambda fresh=False: fixed  # noqa: E731 - a state that never changes
    else:
        states = state or CurrentState(open_state_store(settings))
    states()  # no state: the app does not start, with the message saying what to run
    queues = functools.cache(lambda: _queues(settings))  # built on first use
    enqueue = enqueue or (lambda ticket_id, invocation: queues().process_ticket(ticket_id, invocation))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_bytes

    def rejected(status: int, error: str, detail: str) -> tuple[Response, int]:
        log.info("webhook rejected (%s): %s", status, detail)
        WEBHOOKS.labels(outcome=error).inc()
        return jsonify({"error": error, "detail": detail}), status

    @app.post("/webhooks/zendesk")
    def zendesk_webhook() -> tuple[Response, int]:
        length = request.content_length
        if length is not None and length > settings.webhook_max_bytes:
            return rejected(413, "too_large", f"the body is over {settings.webhook_max_bytes} bytes")
        body = request.get_data(cache=False)
        if len(body) > settings.webhook_max_bytes:
            return rejected(413, "too_large", f"the body is over {settings.webhook_max_bytes} bytes")
        try:
            check_signature(
                states,
                request.headers.get("X-Zendesk-Webhook-Signature"),
                request.headers.get("X-Zendesk-Webhook-Signature-Timestamp"),
                body,
                clock(),
            )
        except SecretRotating:
            log.info("webhook signed with a secret not stored yet (a rotation is under way): asked to retry")
            WEBHOOKS.labels(outcome="secret_rotating").inc()
            response = jsonify({"error": "secret_rotating", "detail": "the signing secret is being rotated"})
            response.headers["Retry-After"] = "1"
            return response, 503
        except SignatureRejected as reason:
            return rejected(401, "unauthorized", str(reason))
        state = states()
        webhook_id = request.headers.get("X-Zendesk-Webhook-Id")
        if webhook_id is not None and webhook_id != state.webhook_id:
            return rejected(403, "unknown_webhook", "this webhook is not the one setup created")
        if request.mimetype != "application/json":
            return rejected(415, "unsupported_media_type", "the body must be application/json")
        try:
            invocation = parse_invocation(body)
        except WebhookRejected as bad:
            return rejected(bad.status, bad.error, bad.detail)
        ticket_id = invocation.ticket_id
        called_as = invocation_id(request.headers.get("X-Zendesk-Webhook-Invocation-Id"))
        with logs.about_ticket(ticket_id, called_as):
            if invocation.actor_id == state.service_user_id:
                # Our own reply or note fired a trigger: there is nothing to do, and no API call to spend.
                WEBHOOKS.labels(outcome="own_update").inc()
                log.debug("webhook for the service's own update: not queued")
                return _json({"accepted": False, "ticket_id": ticket_id, "reason": "the service's own update"}, 200)
            enqueue(ticket_id, called_as)
            WEBHOOKS.labels(outcome="accepted").inc()
            # At DEBUG: gunicorn's access line already records every answer with its invocation, and the
            # worker's lines name the ticket with the invocation; one more line per webhook costs its time.
            log.debug("webhook accepted: ticket %s queued", ticket_id)
        return _json({"accepted": True, "ticket_id": ticket_id}, 202)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return jsonify({"status": "ok"}), 200

    @app.after_request
    def security_headers(response: Response) -> Response:
        # The service answers JSON only: nothing may run, be sniffed as HTML or be framed.
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:
        if isinstance(error, HTTPException):
            return jsonify({"error": (error.name or "error").lower().replace(" ", "_")}), error.code or 500
        # Not the caller's fault (the queue's storage failed, say): ask Zendesk to retry, and the
        # sweep catches up on anything it gives up on.
        log.exception("request failed")
        if request.path == "/webhooks/zendesk":
            WEBHOOKS.labels(outcome="unavailable").inc()
        response = jsonify({"error": "unavailable", "detail": "try again shortly"})
        response.headers["Retry-After"] = "10"
        return response, 503

    @app.errorhandler(413)
    def too_large(_error: Exception) -> tuple[Response, int]:
        return rejected(413, "too_large", f"the body is over {settings.webhook_max_bytes} bytes")

    @app.errorhandler(404)
    def not_found(_error: Exception) -> tuple[Response, int]:
        return jsonify({"error": "not_found"}), 404

    @app.errorhandler(405)
    def wrong_method(_error: Exception) -> tuple[Response, int]:
        return jsonify({"error": "method_not_allowed"}), 405

    return app
