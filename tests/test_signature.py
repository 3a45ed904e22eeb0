"""Zendesk webhook signatures: HMAC-SHA256 over timestamp + body, within five minutes."""

from datetime import UTC, datetime, timedelta

import pytest

from escalations.core.signature import SignatureRejected, sign, verify

SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
BODY = b'{"ticket_id": "42"}'
STAMP = "2026-11-27T15:04:05Z"
NOW = datetime(2026, 11, 27, 15, 5, tzinfo=UTC)


def test_a_correctly_signed_request_is_accepted() -> None:
    verify(SECRET, sign(SECRET, STAMP, BODY), STAMP, BODY, NOW)


def test_the_signature_is_base64_of_hmac_sha256_over_timestamp_and_body() -> None:
    # Computed independently: printf '%s%s' "$STAMP" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64
    assert sign("secret", "2021-03-25T05:09:27Z", b"{}") == "GhpvRAaZJm2qK40ZLj6n1F3eNwgxlwXQSHVuQ3hNtsA="


@pytest.mark.parametrize(
    ("signature", "timestamp", "body", "now", "why"),
    [
        (sign("another secret", STAMP, BODY), STAMP, BODY, NOW, "does not match"),
        (sign(SECRET, STAMP, BODY), STAMP, BODY + b" ", NOW, "does not match"),
        (sign(SECRET, STAMP, BODY), STAMP, BODY, NOW + timedelta(minutes=6), "outside"),
        (sign(SECRET, STAMP, BODY), STAMP, BODY, NOW - timedelta(minutes=7), "outside"),
        (None, STAMP, BODY, NOW, "missing"),
        (sign(SECRET, STAMP, BODY), None, BODY, NOW, "missing"),
        ("", "", BODY, NOW, "missing"),
        (sign(SECRET, "yesterday", BODY), "yesterday", BODY, NOW, "ISO-8601"),
        ("not base64 ☃", STAMP, BODY, NOW, "does not match"),
    ],
    ids=[
        "wrong secret",
        "tampered body",
        "stale timestamp",
        "future timestamp",
        "no signature",
        "no timestamp",
        "empty headers",
        "unreadable timestamp",
        "garbage signature",
    ],
)
def test_a_request_that_is_not_signed_by_our_webhook_now_is_rejected(
    signature: str | None, timestamp: str | None, body: bytes, now: datetime, why: str
) -> None:
    with pytest.raises(SignatureRejected, match=why):
        verify(SECRET, signature, timestamp, body, now)
