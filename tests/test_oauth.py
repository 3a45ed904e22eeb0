"""The service signs in with an OAuth access token as well as with an admin's API token.

The sandbox issues tokens as Zendesk does (an OAuth client, then `POST
/api/v2/oauth/tokens` with scopes), accepts them as `Authorization: Bearer`,
holds each request to the token's scopes, and lets a token with the
`impersonate` scope act for an end-user named in `X-On-Behalf-Of`.
"""

from __future__ import annotations

import io
from pathlib import Path

import requests

from escalations.config import load_settings
from escalations.core import fields
from escalations.sandbox import SandboxServer, SandboxZendesk
from escalations.zendesk.gateway import ZendeskGateway, make_client
from escalations.zendesk.live_check import LiveCheck
from escalations.zendesk.provisioning import provision
from tests.conftest import Service, wait_until
from tests.test_end_to_end import ALICE, emails_for, settled

Sandbox = tuple[SandboxZendesk, SandboxServer]


def create_token(account: SandboxZendesk, url: str, scopes: list[str]) -> str:
    """An OAuth token made as the README tells an admin to: an OAuth client, then a token for it."""
    admin = (f"{account.email}/token", account.api_token)
    listed = requests.get(f"{url}/api/v2/oauth/clients.json", auth=admin, timeout=5).json()["clients"]
    if listed:
        client_id = listed[0]["id"]
    else:
        client = {"client": {"name": "Escalation service", "identifier": "escalation_service", "kind": "confidential"}}
        answer = requests.post(f"{url}/api/v2/oauth/clients.json", json=client, auth=admin, timeout=5)
        client_id = answer.json()["client"]["id"]
    token = {"token": {"client_id": client_id, "scopes": scopes}}
    answer = requests.post(f"{url}/api/v2/oauth/tokens.json", json=token, auth=admin, timeout=5)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"]["full_token"])


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def test_a_bearer_token_acts_as_the_admin_who_made_it_within_its_scopes(zendesk: Sandbox) -> None:
    account, server = zendesk
    reading = create_token(account, server.url, ["read"])
    me = requests.get(f"{server.url}/api/v2/users/me.json", headers=bearer(reading), timeout=5)
    assert me.status_code == 200 and me.json()["user"]["id"] == account.api_user_id
    current = requests.get(f"{server.url}/api/v2/oauth/tokens/current.json", headers=bearer(reading), timeout=5)
    assert current.json()["token"]["scopes"] == ["read"] and current.json()["token"]["token"] == reading[:10]
    write = requests.put(
        f"{server.url}/api/v2/tickets/1.json", json={"ticket": {"tags": ["x"]}}, headers=bearer(reading), timeout=5
    )
    assert write.status_code == 403 and account.ticket(1)["tags"] == []
    unknown = requests.get(f"{server.url}/api/v2/users/me.json", headers=bearer("not-a-token"), timeout=5)
    assert unknown.status_code == 401
    assert {entry["credentials"] for entry in account.requests_log() if entry["path"] == "/api/v2/users/me.json"} == {
        "oauth"
    }


def test_a_token_with_a_resource_scope_reaches_that_resource_only(zendesk: Sandbox) -> None:
    account, server = zendesk
    tickets_only = create_token(account, server.url, ["tickets:read"])
    assert requests.get(f"{server.url}/api/v2/tickets/1.json", headers=bearer(tickets_only), timeout=5).ok
    fields_list = requests.get(f"{server.url}/api/v2/ticket_fields.json", headers=bearer(tickets_only), timeout=5)
    assert fields_list.status_code == 403


def test_a_token_with_an_invalid_scope_is_issued_but_every_request_is_forbidden(zendesk: Sandbox) -> None:
    account, server = zendesk
    odd = create_token(account, server.url, ["read", "everything"])
    assert requests.get(f"{server.url}/api/v2/users/me.json", headers=bearer(odd), timeout=5).status_code == 403


def test_acting_for_an_end_user_needs_the_impersonate_scope(zendesk: Sandbox) -> None:
    account, server = zendesk
    alice = account.user(ALICE)["email"]
    plain = create_token(account, server.url, ["read", "write"])
    refused = requests.get(
        f"{server.url}/api/v2/requests/1.json", headers=bearer(plain, **{"X-On-Behalf-Of": alice}), timeout=5
    )
    assert refused.status_code == 403
    impersonating = create_token(account, server.url, ["read", "write", "impersonate"])
    as_alice = requests.get(
        f"{server.url}/api/v2/users/me.json", headers=bearer(impersonating, **{"X-On-Behalf-Of": alice}), timeout=5
    )
    assert as_alice.json()["user"]["id"] == ALICE
    tickets = requests.get(
        f"{server.url}/api/v2/tickets.json", headers=bearer(impersonating, **{"X-On-Behalf-Of": alice}), timeout=5
    )
    assert tickets.status_code == 403  # an end-user's permissions, not the admin's


def test_the_live_check_on_a_token_without_impersonate_says_so_before_creating_anything(
    zendesk: Sandbox, tmp_path: Path
) -> None:
    account, server = zendesk
    token = create_token(account, server.url, ["read", "write"])
    settings = load_settings(
        {
            "ZENDESK_SUBDOMAIN": "sandbox",
            "ZENDESK_OAUTH_TOKEN": token,
            "ZENDESK_API_URL": server.url,
            "PUBLIC_URL": "http://127.0.0.1:9",
            "ESCALATIONS_DATA_DIR": str(tmp_path / "var"),
        }
    )
    state, _ = provision(ZendeskGateway(settings, {}, make_client(settings)), settings)
    tickets_before = len(account.tickets())
    out = io.StringIO()
    assert LiveCheck(settings, state, out, wait_seconds=5).run() == 1
    assert "FAIL  the OAuth token may act for the temporary customer" in out.getvalue()
    assert "no 'impersonate' scope (it has read, write)" in out.getvalue()
    assert len(account.tickets()) == tickets_before


def test_doctor_says_an_oauth_token_is_in_use_and_names_a_missing_scope(service_env: Service) -> None:
    service_env.run("setup")
    token = create_token(service_env.zendesk, service_env.sandbox_url, ["read"])
    service_env.env.update({"ZENDESK_EMAIL": "", "ZENDESK_API_TOKEN": "", "ZENDESK_OAUTH_TOKEN": token})
    doctor = service_env.run("doctor", check=False)
    assert doctor.returncode == 1
    assert "OAuth access token" in doctor.stdout and token not in doctor.stdout
    assert "FAIL  the OAuth token lacks the scope 'write' (it has read)" in doctor.stdout
    assert "warn  the OAuth token has no 'impersonate' scope" in doctor.stdout


def test_an_oauth_only_configuration_escalates_end_to_end(service_env: Service) -> None:
    token = create_token(service_env.zendesk, service_env.sandbox_url, ["read", "write", "impersonate"])
    zendesk = service_env.zendesk
    service_env.env.update({"ZENDESK_EMAIL": "", "ZENDESK_API_TOKEN": "", "ZENDESK_OAUTH_TOKEN": token})
    zendesk.reset_requests_log()
    service_env.run("setup")
    assert {entry["credentials"] for entry in zendesk.requests_log()} == {"oauth"}
    service_env.start()

    zendesk.add_comment(1, author_id=ALICE, body="Escalation request: we were charged twice.")
    wait_until(lambda: settled(service_env, 1, 1), what="the escalation and its confirmation")
    assert len(emails_for(zendesk, 1)) == 1 and fields.TAG_ESCALATED in zendesk.ticket(1)["tags"]
    live = service_env.run("doctor", "--live", "--wait", "30", check=False)
    assert live.returncode == 0, live.stdout + live.stderr
    assert "ok    the OAuth token may act for the temporary customer" in live.stdout
    service_env.stop()
    # Everything went with the token: setup, the service, the live check acting for its customer.
    used = {entry["credentials"] for entry in zendesk.requests_log()}
    assert used == {"oauth"}, used
