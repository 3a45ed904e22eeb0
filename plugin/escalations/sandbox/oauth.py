"""OAuth clients and access tokens, and requests authenticated with a token (`Authorization: Bearer`).

Zendesk's OAuth Tokens API (spec line 6163): an admin creates a token for an
OAuth client with scopes (`read`, `write`, `impersonate`, or per resource such
as `tickets:read`); the token acts as the admin who created it, does not
expire and can be revoked; a token with an invalid scope is still issued but
every request with it is Forbidden. With the `impersonate` scope an admin's
token acts for an end-user named by email in `X-On-Behalf-Of`
(developer.zendesk.com, "Making API requests on behalf of end users").
"""

from __future__ import annotations

import copy
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from escalations.sandbox.core import Record
from escalations.sandbox.errors import SandboxError, invalid, not_found
from escalations.sandbox.people import People
from escalations.sandbox.permissions import valid_scope

SHOWN_TOKEN_CHARACTERS = 10  # "only the first 10 characters of the access token are included"


class OAuthTokens(People):
    """OAuth clients, the tokens issued for them, and bearer authentication."""

    def oauth_clients(self) -> list[Record]:
        """GET /api/v2/oauth/clients."""
        with self._lock:
            return copy.deepcopy([client for _, client in sorted(self._oauth_clients.items())])

    def create_oauth_client(self, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/oauth/clients: a client needs a name and a unique identifier."""
        with self._lock:
            name, identifier = fields.get("name"), fields.get("identifier")
            if not isinstance(name, str) or not name.strip():
                raise invalid("Name: cannot be blank")
            if not isinstance(identifier, str) or not identifier.strip():
                raise invalid("Identifier: cannot be blank")
            if any(client["identifier"] == identifier for client in self._oauth_clients.values()):
                raise invalid(f"Identifier: {identifier} has already been taken")
            now = self._iso_now()
            client: Record = {
                "id": self._new_id(),
                "name": name,
                "identifier": identifier,
                "kind": str(fields.get("kind") or "confidential"),
                "company": str(fields.get("company") or ""),
                "description": str(fields.get("description") or ""),
                "global": False,
                "user_id": self.api_user_id,
                "created_at": now,
                "updated_at": now,
            }
            self._oauth_clients[client["id"]] = client
            return copy.deepcopy(client)

    def create_oauth_token(self, user_id: int, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/oauth/tokens as `user_id`: the token, with the whole access token in `full_token`."""
        with self._lock:
            client_id = fields.get("client_id")
            if not isinstance(client_id, int) or client_id not in self._oauth_clients:
                raise invalid(f"client_id: no OAuth client {client_id}")
            scopes = fields.get("scopes")
            if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
                raise invalid("Scopes: give a list such as ['read', 'write']")
            full_token = secrets.token_hex(32)
            token: Record = {
                "id": self._new_id(),
                "client_id": client_id,
                "user_id": user_id,
                "scopes": list(scopes),
                "full_token": full_token,
                "created_at": self._iso_now(),
                "used_at": None,
                "expires_at": None,
            }
            self._oauth_tokens[token["id"]] = token
            return {**self._token_json(token), "full_token": full_token}

    def current_oauth_token(self, full_token: str) -> Record:
        """GET /api/v2/oauth/tokens/current: the token the request was made with."""
        with self._lock:
            token = self._token_record(full_token)
            if token is None:
                raise not_found()
            return self._token_json(token)

    def revoke_oauth_token(self, token_id: int) -> None:
        """DELETE /api/v2/oauth/tokens/{id}."""
        with self._lock:
            if self._oauth_tokens.pop(token_id, None) is None:
                raise not_found()

    def authenticate_bearer(self, full_token: str, on_behalf_of: str | None) -> tuple[Record, list[str]] | SandboxError:
        """The user a bearer token acts as, with the token's scopes; or the refusal (401 unknown, 403 otherwise)."""
        unknown = SandboxError(401, "Couldn't authenticate you", "")
        with self._lock:
            token = self._token_record(full_token)
            if token is None:
                return unknown
            owner = self._users.get(token["user_id"])
            if owner is None or not owner["active"] or owner["suspended"]:
                return unknown
            token["used_at"] = self._iso_now()
            scopes = list(token["scopes"])
            if not all(valid_scope(scope) for scope in scopes):
                return SandboxError(403, "Forbidden", "The access token has an invalid scope.")
            if on_behalf_of is None:
                return copy.deepcopy(owner), scopes
            if "impersonate" not in scopes or owner["role"] != "admin":
                return SandboxError(403, "Forbidden", "X-On-Behalf-Of needs an admin's token with impersonate scope.")
            email = on_behalf_of.strip().lower()
            user = next((u for u in self._users.values() if (u["email"] or "").lower() == email), None)
            if user is None or not user["active"] or user["suspended"]:
                return unknown
            return copy.deepcopy(user), scopes

    # -- internals: the caller holds self._lock ------------------------------------

    def _token_record(self, full_token: str) -> Record | None:
        return next(
            (t for t in self._oauth_tokens.values() if hmac.compare_digest(t["full_token"], full_token)),
            None,
        )

    def _token_json(self, token: Record) -> Record:
        """A token as the API shows it: its first characters only."""
        shown = {key: value for key, value in token.items() if key != "full_token" and value is not None}
        shown["token"] = token["full_token"][:SHOWN_TOKEN_CHARACTERS]
        shown["url"] = f"https://{self.subdomain}.zendesk.com/api/v2/oauth/tokens/{token['id']}.json"
        return copy.deepcopy(shown)
