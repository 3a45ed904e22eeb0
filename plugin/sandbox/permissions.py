"""Who may call what: the role each endpoint needs, from the "Allowed For" of Zendesk's reference.

Roles rank end-user < agent < admin, and an endpoint allowed for a role is allowed
for the roles above it (developer.zendesk.com/api-reference/introduction/doc-conventions/,
"Endpoint access"). Anything not listed here is for agents, as most of the Support
API is; end-users get the Requests API, their own profile and little else.
"""

from __future__ import annotations

import re

ROLE_RANK = {"end-user": 0, "agent": 1, "admin": 2}

# (methods, path without ".json", the least role allowed); the first match wins. Lines are the spec's.
_RULES: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = tuple(
    (frozenset(methods.split()), re.compile(path), role)
    for methods, path, role in (
        ("GET", r"/api/v2/users/me", "end-user"),  # ShowCurrentUser: anonymous users
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


def may_call(role: str, method: str, path: str) -> bool:
    """True when a user with `role` may call the endpoint."""
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[role_needed(method, path)]
