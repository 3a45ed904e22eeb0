"""Webhook delivery as Zendesk does it: signed requests, a 10 s timeout, a few retries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests

TIMEOUT_SECONDS = 10.0
MAX_RETRIES = 3
MAX_RETRY_AFTER_SECONDS = 60
USER_AGENT = "Zendesk Webhook"

CONTENT_TYPES = {
    "json": "application/json",
    "xml": "application/xml",
    "form_encoded": "application/x-www-form-urlencoded",
}


@dataclass(frozen=True)
class WebhookCall:
    """One invocation of a webhook: everything needed to send it and its retries."""

    url: str
    http_method: str
    body: str
    secret: str
    headers: Mapping[str, str]


AttemptRecorder = Callable[[int | None, str | None], None]


def sign(secret: str, timestamp: str, body: str) -> str:
    """Zendesk's signature: base64(HMAC-SHA256(secret, timestamp + body))."""
    digest = hmac.new(secret.encode(), (timestamp + body).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def deliver(
    call: WebhookCall,
    *,
    timestamp: Callable[[], str],
    record_attempt: AttemptRecorder,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Send `call`, retrying a 409 and a 429/503 with a short Retry-After, up to 3 times."""
    retries_left = MAX_RETRIES
    while True:
        signed_at = timestamp()
        headers = {
            **call.headers,
            "X-Zendesk-Webhook-Signature-Timestamp": signed_at,
            "X-Zendesk-Webhook-Signature": sign(call.secret, signed_at, call.body),
        }
        try:
            response = requests.request(
                call.http_method,
                call.url,
                data=call.body.encode(),
                headers=headers,
                timeout=TIMEOUT_SECONDS,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            record_attempt(None, f"{type(error).__name__}: {error}")
            return
        record_attempt(response.status_code, None)
        wait = _retry_wait(response)
        if wait is None or retries_left == 0:
            return
        retries_left -= 1
        sleep(wait)


def _retry_wait(response: requests.Response) -> float | None:
    """Seconds to wait before retrying this answer, or None when Zendesk would not retry."""
    if response.status_code == 409:
        return 0.0
    if response.status_code not in (429, 503):
        return None
    retry_after = response.headers.get("Retry-After", "")
    if not retry_after.isdigit() or int(retry_after) >= MAX_RETRY_AFTER_SECONDS:
        return None
    return float(retry_after)
