"""Zendesk webhook signatures: base64(HMAC-SHA256(secret, timestamp + body)), checked in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

REPLAY_WINDOW = timedelta(minutes=5)


class SignatureRejected(Exception):
    """Why a webhook's signature is not accepted; the message is safe to return."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


def parse_timestamp(timestamp: str) -> datetime:
    try:
        moment = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SignatureRejected("signature timestamp is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def verify(
    secret: str,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: datetime,
    window: timedelta = REPLAY_WINDOW,
) -> None:
    """Raise SignatureRejected unless the request was signed with `secret` within the window."""
    if not signature or not timestamp:
        raise SignatureRejected("missing signature headers")
    moment = parse_timestamp(timestamp)
    if abs(now - moment) > window:
        raise SignatureRejected("signature timestamp is outside the 5-minute window")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("ascii", "replace")):
        raise SignatureRejected("signature does not match")
