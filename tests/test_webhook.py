"""The webhook route: every bad request gets its own answer; a good one is queued and acknowledged."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from escalations.config import ConfigError, load_settings
from escalations.core.signature import sign
from escalations.service.web import create_app
from escalations.zendesk.state import AccountState
from escalations.zendesk.state_store import CurrentState, FileStateStore, read_state, rotate_secret
from tests.conftest import NOW, SECRET, WEBHOOK_ID


def signed_headers(body: bytes, *, secret: str = SECRET, at: datetime = NOW, **extra: str) -> dict[str, str]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Id": WEBHOOK_ID,
        "X-Zendesk-Webhook-Invocation-Id": "inv-1",
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Signature": sign(secret, stamp, body),
        **extra,
    }


BODY = json.dumps({"ticket_id": "42", "updated_at": "2026-11-27T14:59Z", "actor_id": "10"}).encode()


def post(client: FlaskClient, body: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post("/webhooks/zendesk", data=body, headers=headers)


def test_a_signed_invocation_is_queued_and_acknowledged(client: FlaskClient, queued: list[int]) -> None:
    response = post(client, BODY, signed_headers(BODY))
    assert response.status_code == 202
    assert response.get_json() == {"accepted": True, "ticket_id": 42}
    assert queued == [42]


def test_a_duplicate_delivery_is_accepted_again_and_the_worker_makes_it_harmless(
    client: FlaskClient, queued: list[int]
) -> None:
    for _ in range(3):
        assert post(client, BODY, signed_headers(BODY)).status_code == 202
    assert queued == [42, 42, 42]


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({"Content-Type": "application/json"}, 401, "unauthorized"),
        (signed_headers(BODY, secret="not ours"), 401, "unauthorized"),
        (signed_headers(BODY, at=NOW - timedelta(minutes=6)), 401, "unauthorized"),
        (signed_headers(BODY, at=NOW + timedelta(minutes=6)), 401, "unauthorized"),
        (signed_headers(BODY, **{"X-Zendesk-Webhook-Id": "01OTHER"}), 403, "unknown_webhook"),
        (signed_headers(BODY, **{"Content-Type": "text/plain"}), 415, "unsupported_media_type"),
    ],
    ids=["unsigned", "wrong secret", "stale", "future", "another webhook", "not json"],
)
def test_a_request_we_cannot_trust_is_refused_and_nothing_is_queued(
    client: FlaskClient, queued: list[int], headers: dict[str, str], status: int, error: str
) -> None:
    response = post(client, BODY, headers)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert queued == []


def test_a_tampered_body_is_refused(client: FlaskClient, queued: list[int]) -> None:
    tampered = BODY.replace(b"42", b"43")
    assert post(client, tampered, signed_headers(BODY)).status_code == 401
    assert queued == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"ticket_id": "abc"}',
        b'{"ticket_id": -3}',
        b'{"ticket_id": true}',
        b"{}",
        '{"ticket_id": "42", "note": "caf\xe9"}'.encode("latin-1"),
    ],
    ids=["broken json", "not an object", "non-numeric id", "negative id", "boolean id", "no id", "not utf-8"],
)
def test_a_malformed_body_gets_400_with_a_json_error(client: FlaskClient, queued: list[int], body: bytes) -> None:
    response = post(client, body, signed_headers(body))
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("invalid")
    assert queued == []


PATHOLOGICAL = {
    "an array 100,000 deep": b"[" * 100_000,
    "closed arrays 50,000 deep": b"[" * 50_000 + b"]" * 50_000,
    "objects 33 deep": b'{"ticket_id": 42, "a": ' + b'{"a": ' * 32 + b"1" + b"}" * 33,
    "a ticket id past 64 bits": b'{"ticket_id": 123456789012345678901234567890}',
    "digits past 64 bits": b'{"ticket_id": "99999999999999999999"}',
    "a number of 5,000 digits": b'{"ticket_id": 42, "n": ' + b"9" * 5000 + b"}",
    "a float past its range": b'{"ticket_id": 42, "n": 1e999}',
    "the same key twice": b'{"ticket_id": 7, "ticket_id": 8}',
    "NaN": b'{"ticket_id": 42, "x": NaN}',
    "Infinity": b'{"ticket_id": 42, "x": -Infinity}',
    "invalid UTF-8": b'{"ticket_id": 42, "x": "\xff\xfe"}',
    "UTF-16": '{"ticket_id": 42}'.encode("utf-16"),
    "a lone surrogate pair half": b'{"ticket_id": 42, "x": "\xed\xa0\x80"}',
}


@pytest.mark.parametrize("body", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_json_gets_400_with_a_json_error_when_signed_and_401_when_not(
    roomy_client: FlaskClient, queued: list[int], body: bytes
) -> None:
    response = post(roomy_client, body, signed_headers(body))
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_json", "invalid_ticket_id")
    unsigned = post(roomy_client, body, {"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and unsigned.get_json()["error"] == "unauthorized"
    assert queued == []


def test_the_webhook_invocation_id_is_queued_with_the_ticket(
    client: FlaskClient, queued: list[int], invocations: list[str | None]
) -> None:
    post(client, BODY, signed_headers(BODY, **{"X-Zendesk-Webhook-Invocation-Id": "01JDQ8ZK6W0V3M2N7P5R4S1T9X"}))
    post(client, BODY, signed_headers(BODY, **{"X-Zendesk-Webhook-Invocation-Id": "<b>" * 30}))
    assert queued == [42, 42]
    assert invocations == ["01JDQ8ZK6W0V3M2N7P5R4S1T9X", None]  # not signed: anything but a plain id is left out


def test_a_numeric_ticket_id_is_accepted_too(client: FlaskClient, queued: list[int]) -> None:
    body = b'{"ticket_id": 7}'
    assert post(client, body, signed_headers(body)).status_code == 202
    assert queued == [7]


def test_a_body_over_the_cap_gets_413_before_anything_else(client: FlaskClient, queued: list[int]) -> None:
    body = json.dumps({"ticket_id": "42", "padding": "x" * 4096}).encode()
    response = post(client, body, signed_headers(body))
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"
    assert queued == []


def test_the_error_body_never_echoes_the_secret(client: FlaskClient) -> None:
    response = post(client, BODY, signed_headers(BODY, secret="not ours"))
    assert SECRET not in response.get_data(as_text=True)


def test_health_answers_without_zendesk(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_unknown_paths_and_methods_get_json_errors(client: FlaskClient) -> None:
    assert client.get("/nope").status_code == 404
    assert client.get("/webhooks/zendesk").status_code == 405


def test_a_change_made_by_the_services_own_account_is_acknowledged_but_not_queued(
    client: FlaskClient, queued: list[int]
) -> None:
    body = b'{"ticket_id": "42", "actor_id": "1"}'  # the service user's id in the fixture's state
    response = post(client, body, signed_headers(body))
    assert response.status_code == 200 and response.get_json()["accepted"] is False
    assert queued == []


# Rotating the signing secret: the running app follows the stored state, the previous secret for its grace period


@dataclass
class RotatingApp:
    """The web app over a state file, on a clock the test moves, and the store `rotate-secret` writes."""

    client: FlaskClient
    store: FileStateStore
    clock: list[datetime]
    queued: list[int]

    def post_signed(self, secret: str) -> int:
        return int(post(self.client, BODY, signed_headers(BODY, secret=secret, at=self.clock[0])).status_code)

    def rotate(self, new_secret: str, grace_seconds: float = 600) -> None:
        rotate_secret(self.store, lambda _webhook_id: new_secret, lambda: self.clock[0], grace_seconds)


@pytest.fixture
def rotating(tmp_path: Path, queued: list[int], invocations: list[str | None]) -> RotatingApp:
    store = FileStateStore(tmp_path / "state.json")
    store.write(
        AccountState(
            zendesk_url="https://acme.zendesk.com",
            field_ids={},
            manager_group_id=1,
            webhook_id=WEBHOOK_ID,
            signing_secret=SECRET,
            service_user_id=1,
            active_since="2026-11-01T00:00:00Z",
        )
    )
    clock = [NOW]
    settings = load_settings(
        {
            "ZENDESK_SUBDOMAIN": "acme",
            "ZENDESK_EMAIL": "a@acme.test",
            "ZENDESK_API_TOKEN": "t",
            "ESCALATIONS_DATA_DIR": str(tmp_path),
        }
    )

    def enqueue(ticket_id: int, invocation_id: str | None) -> None:
        queued.append(ticket_id)

    # Refreshed on every request (refresh=0): what a second of the real cache adds is not what is tested here.
    app = create_app(settings, CurrentState(store, refresh=0), enqueue, clock=lambda: clock[0])
    return RotatingApp(app.test_client(), store, clock, queued)


def test_after_a_rotation_the_previous_secret_is_accepted_for_the_grace_period_then_never_again(
    rotating: RotatingApp,
) -> None:
    rotating.rotate("the-new-secret", grace_seconds=600)
    assert rotating.post_signed("the-new-secret") == 202
    assert rotating.post_signed(SECRET) == 202  # signed just before the reset
    rotating.clock[0] = NOW + timedelta(seconds=599)
    assert rotating.post_signed(SECRET) == 202
    rotating.clock[0] = NOW + timedelta(seconds=600)
    assert rotating.post_signed(SECRET) == 401
    assert rotating.post_signed("the-new-secret") == 202
    assert rotating.post_signed("forged") == 401
    assert rotating.queued == [42] * 4


def test_a_signature_no_secret_matches_while_a_rotation_is_under_way_is_asked_to_come_again(
    rotating: RotatingApp,
) -> None:
    def reset(_webhook_id: str) -> str:
        # Zendesk signs with the new secret before the command has stored it.
        assert rotating.post_signed("the-new-secret") == 503
        assert rotating.post_signed(SECRET) == 202
        return "the-new-secret"

    rotate_secret(rotating.store, reset, lambda: rotating.clock[0], 600)
    assert rotating.post_signed("the-new-secret") == 202  # its retry is accepted
    assert rotating.post_signed("forged") == 401  # no rotation under way: a stranger's signature is refused


def test_a_rotation_zendesk_refuses_leaves_the_stored_secret_as_it_was(rotating: RotatingApp) -> None:
    def refused(_webhook_id: str) -> str:
        raise ConfigError("the webhook is gone")

    with pytest.raises(ConfigError):
        rotate_secret(rotating.store, refused, lambda: rotating.clock[0], 600)
    state = read_state(rotating.store)
    assert (state.signing_secret, state.rotating_until, state.previous_signing_secret) == (SECRET, None, None)
    assert rotating.post_signed("forged") == 401


def test_a_queue_that_cannot_be_written_gets_503_with_retry_after_and_is_counted_as_unavailable(
    tmp_path: Path,
) -> None:
    def storage_down(ticket_id: int, invocation_id: str | None) -> None:
        raise OSError("disk I/O error")

    settings = load_settings(
        {
            "ZENDESK_SUBDOMAIN": "acme",
            "ZENDESK_EMAIL": "admin@acme.test",
            "ZENDESK_API_TOKEN": "token",
            "ESCALATIONS_DATA_DIR": str(tmp_path),
        }
    )
    state = AccountState("https://acme.zendesk.com", {}, 1, WEBHOOK_ID, SECRET, 1, "2026-11-01T00:00:00Z")
    client = create_app(settings, state, storage_down, clock=lambda: NOW).test_client()
    unavailable = {"outcome": "unavailable"}
    before = REGISTRY.get_sample_value("escalations_webhooks_total", unavailable) or 0.0
    response = post(client, BODY, signed_headers(BODY))
    assert response.status_code == 503 and response.headers["Retry-After"] == "10"
    assert response.get_json() == {"error": "unavailable", "detail": "try again shortly"}
    assert REGISTRY.get_sample_value("escalations_webhooks_total", unavailable) == before + 1
