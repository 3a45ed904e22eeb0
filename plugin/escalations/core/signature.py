"""Zendesk webhook signatures: base64(HMAC-SHA256(secret, timestamp + body)), checked in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

REPLAY_WINDOW = timedelta(minutes=5)


class SignatureRejected(Exception):
    """Why a webhook's signature is not accepted; the message is safe to return."""


class SignatureMismatch(SignatureRejected):
    """A well-formed, timely signature made with none of the secrets given."""


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
    verify_any((secret,), signature, timestamp, body, now, window)


def verify_any(
    secrets: Sequence[str],
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: datetime,
    window: timedelta = REPLAY_WINDOW,
) -> None:
    """Raise SignatureRejected unless the request was signed with one of `secrets` within the window
    (SignatureMismatch when only the signature is wrong)."""
    if not signature or not timestamp:
        raise SignatureRejected("missing signature headers")
    moment = parse_timestamp(timestamp)
    if abs(now - moment) > window:
        raise SignatureRejected("signature timestamp is outside the 5-minute window")
    given = signature.strip().encode("ascii", "replace")
    matches = [hmac.compare_digest(sign(secret, timestamp, body).encode("ascii"), given) for secret in secrets]
    if not any(matches):
        raise SignatureMismatch("signature does not match")
