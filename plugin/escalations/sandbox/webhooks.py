"""Webhooks: their settings and signing secrets, and their deliveries, made as Zendesk makes them."""

from __future__ import annotations

import base64
import copy
import os
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from escalations.sandbox.core import ACCOUNT_ID, AccountCore, Record
from escalations.sandbox.delivery import CONTENT_TYPES, USER_AGENT, WebhookCall, deliver
from escalations.sandbox.errors import bad_request, not_found

WEBHOOK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WEBHOOK_STATUSES = ("active", "inactive")

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_WEBHOOK_DEFAULTS: Record = {
    "name": None,
    "description": None,
    "status": None,
    "endpoint": None,
    "http_method": None,
    "request_format": None,
    "subscriptions": [],
}


@dataclass(frozen=True)
class Notification:
    """A webhook call a trigger decided to make, and the delivery record it fills in."""

    call: WebhookCall
    delivery: Record


class Webhooks(AccountCore):
    """Webhooks (ids are ULIDs), their signing secrets, and signed deliveries in the background."""

    def webhooks(self, *, name_contains: str | None = None) -> list[Record]:
        """Webhooks in creation order, optionally filtered by name."""
        with self._lock:
            return copy.deepcopy(
                [
                    w
                    for w in self._webhooks.values()
                    if name_contains is None or name_contains.lower() in w["name"].lower()
                ]
            )

    def webhook(self, webhook_id: str) -> Record:
        """One webhook."""
        with self._lock:
            return copy.deepcopy(self._webhook_record(webhook_id))

    def create_webhook(self, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/webhooks: a webhook with a fresh signing secret (or the one given)."""
        with self._lock:
            now = self._iso_now()
            webhook: Record = {
                "id": ulid(time.time()),
                **copy.deepcopy(_WEBHOOK_DEFAULTS),
                "created_at": now,
                "created_by": str(self.api_user_id),
                "updated_at": now,
                "updated_by": str(self.api_user_id),
            }
            _apply_webhook_changes(webhook, fields)
            given_secret = fields.get("signing_secret")
            secret = given_secret.get("secret") if isinstance(given_secret, Mapping) else None
            self._signing_secrets[webhook["id"]] = secret if isinstance(secret, str) and secret else _new_secret()
            self._webhooks[webhook["id"]] = webhook
            return copy.deepcopy(webhook)

    def update_webhook(self, webhook_id: str, changes: Mapping[str, Any], *, replace: bool) -> None:
        """PUT (`replace`: the body is the whole webhook) or PATCH /api/v2/webhooks/{id}."""
        with self._lock:
            webhook = copy.deepcopy(self._webhook_record(webhook_id))
            if replace:
                kept = ("id", "created_at", "created_by", "updated_by")
                webhook = {**{key: webhook[key] for key in kept}, **copy.deepcopy(_WEBHOOK_DEFAULTS)}
            _apply_webhook_changes(webhook, changes)
            webhook["updated_at"] = self._iso_now()
            self._webhooks[webhook_id] = webhook

    def delete_webhook(self, webhook_id: str) -> None:
        """DELETE /api/v2/webhooks/{id}."""
        with self._lock:
            self._webhook_record(webhook_id)
            del self._webhooks[webhook_id]
            del self._signing_secrets[webhook_id]

    def signing_secret(self, webhook_id: str) -> Record:
        """GET /api/v2/webhooks/{id}/signing_secret."""
        with self._lock:
            self._webhook_record(webhook_id)
            return self._secret_json(webhook_id)

    def reset_signing_secret(self, webhook_id: str) -> Record:
        """POST /api/v2/webhooks/{id}/signing_secret: a new random secret."""
        with self._lock:
            self._webhook_record(webhook_id)
            self._signing_secrets[webhook_id] = _new_secret()
            return self._secret_json(webhook_id)

    def webhook_invocations(self, webhook_id: str) -> list[Record]:
        """GET /api/v2/webhooks/{id}/invocations, newest first, from the delivery records.

        The names are those of a public description of the Webhooks API reference
        (developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/, "List Webhook Invocations";
        not in the Support API spec): `id`, `webhook_id`, `status`, `created_at`, `latest_completed_at`.
        A delivery still in flight is `accepted`; a finished one has its last attempt's status.
        """
        with self._lock:
            self._webhook_record(webhook_id)
            invocations = [d for d in self._deliveries if d["webhook_id"] == webhook_id]
            return [_invocation_json(d) for d in reversed(invocations)]

    def webhook_invocation_attempts(self, webhook_id: str, invocation_id: str) -> list[Record]:
        """GET /api/v2/webhooks/{id}/invocations/{invocation_id}/attempts, in the order they were made."""
        with self._lock:
            self._webhook_record(webhook_id)
            delivery = next(
                (d for d in self._deliveries if d["webhook_id"] == webhook_id and d["invocation_id"] == invocation_id),
                None,
            )
            if delivery is None:
                raise not_found()
            return [_attempt_json(delivery, n) for n in range(1, len(delivery["attempts"]) + 1)]

    # -- internals: the caller holds self._lock ------------------------------------

    def _webhook_record(self, webhook_id: str) -> Record:
        webhook = self._webhooks.get(webhook_id)
        if webhook is None:
            raise not_found()
        return webhook

    def _secret_json(self, webhook_id: str) -> Record:
        return {"algorithm": "SHA256", "secret": self._signing_secrets[webhook_id]}

    def _schedule_delivery(self, webhook: Record, body: str, trigger: Record) -> Notification | None:
        """Record a delivery; the call to make, or None when deliveries are switched off."""
        invocation_id = ulid(time.time())
        delivery: Record = {
            "webhook_id": webhook["id"],
            "invocation_id": invocation_id,
            "trigger_id": trigger["id"],
            "url": webhook["endpoint"],
            "body": body,
            "attempts": [],
            "final_status": None,
            "created_at": self._iso_now(),
        }
        self._deliveries.append(delivery)
        if not self.webhook_delivery_enabled:
            delivery["final_status"] = "dropped"
            return None
        headers = {
            "Content-Type": CONTENT_TYPES.get(webhook["request_format"], "application/json"),
            "User-Agent": USER_AGENT,
            "X-Zendesk-Account-Id": str(ACCOUNT_ID),
            "X-Zendesk-Webhook-Id": webhook["id"],
            "X-Zendesk-Webhook-Invocation-Id": invocation_id,
            **_authentication_headers(webhook.get("authentication")),
            **(webhook.get("custom_headers") or {}),
        }
        call = WebhookCall(
            url=webhook["endpoint"],
            http_method=webhook["http_method"],
            body=body,
            secret=self._signing_secrets[webhook["id"]],
            headers=headers,
        )
        self._deliveries_in_flight += 1
        return Notification(call, delivery)

    # -- outside the lock ---------------------------------------------------------------

    def _dispatch(self, notifications: list[Notification]) -> None:
        """Deliver webhooks in the background; the change that caused them does not wait."""
        for notification in notifications:
            threading.Thread(
                target=self._deliver, args=(notification,), name="zendesk-sandbox-webhook", daemon=True
            ).start()

    def _deliver(self, notification: Notification) -> None:
        delivery = notification.delivery

        def record_attempt(status: int | None, error: str | None) -> None:
            with self._lock:
                delivery["attempts"].append({"status": status, "error": error, "at": self._iso_now()})

        try:
            deliver(notification.call, timestamp=self._iso_now, record_attempt=record_attempt)
        finally:
            with self._lock:
                attempts = delivery["attempts"]
                last_status = attempts[-1]["status"] if attempts else None
                delivery["final_status"] = "failed" if last_status is None else last_status
                self._deliveries_in_flight -= 1
                self._deliveries_settled.notify_all()


def _attempt_status(status_code: int | None) -> str:
    """An attempt's outcome in the words of the invocation statuses: success, client error, server error or failed."""
    if status_code is None:
        return "failed"  # no answer: unreachable, refused or timed out
    if 200 <= status_code < 300:
        return "success"
    return "client error" if status_code < 500 else "server error"


def _invocation_json(delivery: Record) -> Record:
    attempts = delivery["attempts"]
    finished = delivery["final_status"] is not None and attempts
    answer: Record = {
        "id": delivery["invocation_id"],
        "webhook_id": delivery["webhook_id"],
        "status": _attempt_status(attempts[-1]["status"]) if finished else "accepted",
        "created_at": delivery.get("created_at"),
    }
    if finished:
        answer["latest_completed_at"] = attempts[-1]["at"]
    return answer


def _attempt_json(delivery: Record, number: int) -> Record:
    """Attempt `number` (from 1) of a delivery, as the invocations API shows it."""
    attempt = delivery["attempts"][number - 1]
    return {
        "id": f"{delivery['invocation_id']}-{number}",
        "invocation_id": delivery["invocation_id"],
        "status": _attempt_status(attempt["status"]),
        "response_code": attempt["status"],
        "created_at": attempt["at"],
    }


def _apply_webhook_changes(webhook: Record, changes: Mapping[str, Any]) -> None:
    """Apply webhook attributes and check the result; 400 like Zendesk's webhooks API."""
    for key in (
        "name",
        "description",
        "status",
        "endpoint",
        "http_method",
        "request_format",
        "subscriptions",
        "authentication",
        "custom_headers",
    ):
        if key in changes:
            webhook[key] = changes[key]
    problems = [
        key
        for key, ok in (
            ("name", isinstance(webhook["name"], str) and bool(webhook["name"].strip())),
            ("status", webhook["status"] in WEBHOOK_STATUSES),
            ("endpoint", isinstance(webhook["endpoint"], str) and bool(re.match(r"https?://", webhook["endpoint"]))),
            ("http_method", webhook["http_method"] in WEBHOOK_METHODS),
            ("request_format", webhook["request_format"] in CONTENT_TYPES),
            ("subscriptions", isinstance(webhook["subscriptions"], list)),
        )
        if not ok
    ]
    if problems:
        raise bad_request(f"Invalid or missing webhook attributes: {', '.join(problems)}")


def _authentication_headers(authentication: object) -> dict[str, str]:
    """Headers for a webhook's bearer token, basic auth or API key."""
    if not isinstance(authentication, Mapping):
        return {}
    data = authentication.get("data") or {}
    kind = authentication.get("type")
    if kind == "bearer_token":
        return {"Authorization": f"Bearer {data.get('token', '')}"}
    if kind == "basic_auth":
        pair = f"{data.get('username', '')}:{data.get('password', '')}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    if kind == "api_key":
        return {str(data.get("name", "X-Api-Key")): str(data.get("value", ""))}
    return {}


def _new_secret() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def ulid(now: float) -> str:
    """A ULID (26 Crockford base-32 characters: 48-bit milliseconds, 80 random bits)."""
    value = (int(now * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -5, -5))
