"""Who may call what: the role each endpoint needs, from the "Allowed For" of Zendesk's reference,
and what an OAuth token's scopes let it do.

Roles rank end-user < agent < admin, and an endpoint allowed for a role is allowed
for the roles above it (developer.zendesk.com/api-reference/introduction/doc-conventions/,
"Endpoint access"). Anything not listed here is for agents, as most of the Support
API is; end-users get the Requests API, their own profile and little else.

Scopes (Create Token, "Scopes", spec line 6220): `read` gives GET endpoints,
`write` POST, PUT and DELETE ones, `impersonate` lets an admin act for end-users;
`<resource>:read` and `<resource>:write` limit either to one of the listed
resources. An endpoint outside those resources (ticket fields, groups, views,
search, the incremental exports, brands) needs the unscoped `read` or `write`
(assumed: the reference lists the resources a scope can name, not the endpoints
each covers).
"""

from __future__ import annotations

import re

ROLE_RANK = {"end-user": 0, "agent": 1, "admin": 2}

# (methods, path without ".json", the least role allowed); the first match wins. Lines are the spec's.
_RULES: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = tuple(
    (frozenset(methods.split()), re.compile(path), role)
    for methods, path, role in (
        ("GET", r"/api/v2/users/me", "end-user"),  # ShowCurrentUser: anonymous users
        ("GET DELETE", r"/api/v2/oauth/tokens/(current|\d+)", "end-user"),  # ShowToken, RevokeOAuthToken: anyone
        ("GET POST", r"/api/v2/oauth/(clients|tokens)", "admin"),  # OAuth clients and tokens: admins
        ("GET POST PUT", r"/api/v2/requests(/\d+(/comments(/\d+)?)?)?", "end-user"),  # Requests: end users
        ("GET", r"/api/v2/ticket_fields", "end-user"),  # ListTicketFields: anyone
        ("GET", r"/api/v2/incremental/.+", "admin"),  # incremental exports: admins
        ("GET POST PUT PATCH DELETE", r"/api/v2/webhooks(/.*)?", "admin"),  # Webhooks API: admins
        ("POST PUT DELETE", r"/api/v2/ticket_fields(/\d+)?", "admin"),  # ticket field writes: admins
        ("POST PUT DELETE", r"/api/v2/groups(/\d+)?", "admin"),  # group writes: admins
        ("POST DELETE", r"/api/v2/group_memberships(/\d+)?", "admin"),  # membership writes: admins
        ("DELETE", r"/api/v2/users/\d+", "admin"),  # DeleteUser: admins
    )
)


def role_needed(method: str, path: str) -> str:
    """The least role that may call `method` on `path` (without ".json")."""
    for methods, pattern, role in _RULES:
        if method.upper() in methods and pattern.fullmatch(path):
            return role
    return "agent"


SCOPED_RESOURCES = frozenset(
    {
        "tickets",
        "users",
        "auditlogs",
        "organizations",
        "hc",
        "apps",
        "triggers",
        "automations",
        "targets",
        "webhooks",
        "macros",
        "requests",
        "satisfaction_ratings",
        "dynamic_content",
        "any_channel",
        "web_widget",
    }
)
_ANY_TOKEN = re.compile(r"/api/v2/oauth/tokens/current")  # a token may always read itself (Show Token)


def valid_scope(scope: str) -> bool:
    """`read`, `write`, `impersonate`, or `<resource>:read` / `<resource>:write` for a resource that can be scoped."""
    resource, _, access = scope.rpartition(":")
    if not resource:
        return access in ("read", "write", "impersonate")
    return resource in SCOPED_RESOURCES and access in ("read", "write")


def scopes_allow(scopes: list[str], method: str, path: str) -> bool:
    """True when a token with `scopes` may call `method` on `path` (without ".json")."""
    if _ANY_TOKEN.fullmatch(path):
        return True
    access = "read" if method.upper() in ("GET", "HEAD") else "write"
    resource = path.removeprefix("/api/v2/").split("/", 1)[0]
    return access in scopes or (resource in SCOPED_RESOURCES and f"{resource}:{access}" in scopes)


def may_call(role: str, method: str, path: str) -> bool:
    """True when a user with `role` may call the endpoint."""
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[role_needed(method, path)]
