"""Users, groups and group memberships of the sandbox account."""

from __future__ import annotations

import copy
import fnmatch
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from escalations.core.calendar import zendesk_time_zone
from escalations.sandbox.core import AccountCore, Record
from escalations.sandbox.errors import SandboxError, invalid, not_found
from escalations.sandbox.ticket_fields import normalise_tags

USER_ROLES = ("end-user", "agent", "admin")


class People(AccountCore):
    """Users (end-users, agents, admins), groups, and which agents are in which group."""

    def authenticate(self, username: str | None, password: str | None) -> Record | SandboxError:
        """The user that Basic credentials `<email>/token` : <the account's API token> name, or the refusal.

        The account's API token lets a script act as any user of the account, admins included
        (developer.zendesk.com/api-reference/introduction/security-and-auth/, "API token"); the user
        must be active, and verified: "You must be a verified user to make API requests".
        """
        unknown = SandboxError(401, "Couldn't authenticate you", "")
        if username is None or password is None or not username.endswith("/token"):
            return unknown
        if not hmac.compare_digest(password.encode(), self.api_token.encode()):
            return unknown
        email = username.removesuffix("/token").lower()
        with self._lock:
            user = next((u for u in self._users.values() if (u["email"] or "").lower() == email), None)
            if user is None or not user["active"] or user["suspended"]:
                return unknown
            if not user["verified"]:
                return SandboxError(403, "Forbidden", "You must be a verified user to make API requests.")
            return copy.deepcopy(user)

    def user(self, user_id: int) -> Record:
        """One user."""
        with self._lock:
            return copy.deepcopy(self._user_record(user_id))

    def users(self, *, roles: Iterable[str] = (), ids: Iterable[int] | None = None) -> list[Record]:
        """Users in id order, optionally only those with one of `roles` or among `ids`."""
        wanted_roles = set(roles)
        wanted_ids = None if ids is None else set(ids)
        with self._lock:
            return copy.deepcopy(
                [
                    user
                    for user_id, user in sorted(self._users.items())
                    if (not wanted_roles or user["role"] in wanted_roles)
                    and (wanted_ids is None or user_id in wanted_ids)
                ]
            )

    def create_user(self, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/users: a new user, an end-user unless a role is given.

        `verified` is false unless given (a user must be verified to use the API), and
        `tags` are normalised like ticket tags.
        """
        with self._lock:
            name = fields.get("name")
            if not isinstance(name, str) or not name.strip():
                raise invalid("Name: is too short (minimum one character)")
            email = fields.get("email")
            if email is not None and any(u["email"] == email for u in self._users.values()):
                raise invalid(f"Email: {email} is already being used by another user")
            time_zone = fields.get("time_zone", "UTC")
            try:
                zendesk_time_zone(str(time_zone))
            except ValueError:
                raise invalid(f"Time zone: {time_zone} is not a time zone") from None
            role = fields.get("role", "end-user")
            if role not in USER_ROLES:
                raise invalid(f"Role: {role} is not one of {', '.join(USER_ROLES)}")
            user = self._add_user(
                name=name,
                email=email,
                role=role,
                phone=fields.get("phone"),
                locale=fields.get("locale", "en-US"),
                time_zone=str(time_zone),
            )
            user["verified"] = bool(fields.get("verified", False))
            user["tags"] = normalise_tags(fields.get("tags", []))
            return copy.deepcopy(user)

    def update_profile(self, user_id: int, *, locale: str | None = None, time_zone: str | None = None) -> Record:
        """Change a user's language or time zone (a Zendesk time zone name or an IANA one), as their profile does."""
        with self._lock:
            user = self._user_record(user_id)
            if time_zone is not None:
                try:
                    user["iana_time_zone"] = zendesk_time_zone(time_zone).key
                except ValueError:
                    raise invalid(f"Time zone: {time_zone} is not a time zone") from None
                user["time_zone"] = time_zone
            if locale is not None:
                user["locale"] = locale
            user["updated_at"] = self._iso_now()
            return copy.deepcopy(user)

    def delete_user(self, user_id: int) -> Record:
        """DELETE /api/v2/users/{id}: a soft delete; the user stays, inactive (Users API, "Delete User")."""
        with self._lock:
            user = self._user_record(user_id)
            if user_id == self.api_user_id:
                raise invalid("You cannot delete yourself")
            user["active"] = False
            user["updated_at"] = self._iso_now()
            for membership_id in [m["id"] for m in self._memberships.values() if m["user_id"] == user_id]:
                del self._memberships[membership_id]
            return copy.deepcopy(user)

    def search_users(self, query: str) -> list[Record]:
        """GET /api/v2/users/search?query=: `email:` (with `*` wildcards) or a whole email or name."""
        term = query.strip().lower().removeprefix("email:")
        with self._lock:
            return copy.deepcopy(
                [
                    user
                    for _, user in sorted(self._users.items())
                    if user["active"]
                    and (fnmatch.fnmatchcase((user["email"] or "").lower(), term) or user["name"].lower() == term)
                ]
            )

    def groups(self) -> list[Record]:
        """All groups."""
        with self._lock:
            return copy.deepcopy([g for _, g in sorted(self._groups.items())])

    def group(self, group_id: int) -> Record:
        """One group."""
        with self._lock:
            return copy.deepcopy(self._group_record(group_id))

    def create_group(self, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/groups."""
        with self._lock:
            name = fields.get("name")
            if not isinstance(name, str) or not name.strip():
                raise invalid("Name: cannot be blank")
            return copy.deepcopy(self._add_group(name, description=str(fields.get("description") or "")))

    def group_memberships(self, group_id: int | None = None) -> list[Record]:
        """Group memberships, all of them or one group's."""
        with self._lock:
            if group_id is not None:
                self._group_record(group_id)
            return copy.deepcopy(
                [m for _, m in sorted(self._memberships.items()) if group_id is None or m["group_id"] == group_id]
            )

    def create_group_membership(self, fields: Mapping[str, Any]) -> Record:
        """POST /api/v2/group_memberships: put an agent in a group."""
        with self._lock:
            user = self._user_record(fields.get("user_id"), field="user_id")
            group = self._group_record_for(fields.get("group_id"))
            if user["role"] == "end-user":
                raise invalid("User: must be an agent to be a member of a group")
            if any(m["user_id"] == user["id"] and m["group_id"] == group["id"] for m in self._memberships.values()):
                raise invalid("User: is already a member of this group")
            return copy.deepcopy(self._add_membership(user["id"], group["id"]))

    # -- internals: the caller holds self._lock ------------------------------------

    def _add_user(
        self,
        *,
        name: str,
        email: str | None,
        role: str,
        phone: str | None = None,
        locale: str = "en-US",
        time_zone: str = "UTC",
    ) -> Record:
        now = self._iso_now()
        user: Record = {
            "id": self._new_id(),
            "name": name,
            "email": email,
            "role": role,
            "phone": phone,
            "locale": locale,
            "time_zone": time_zone,
            "iana_time_zone": zendesk_time_zone(time_zone).key,
            "active": True,
            "verified": True,
            "suspended": False,
            "organization_id": None,
            "default_group_id": None,
            "tags": [],
            "user_fields": {},
            "created_at": now,
            "updated_at": now,
        }
        self._users[user["id"]] = user
        return user

    def _add_group(self, name: str, *, description: str = "", default: bool = False) -> Record:
        now = self._iso_now()
        group: Record = {
            "id": self._new_id(),
            "name": name,
            "description": description,
            "default": default,
            "deleted": False,
            "is_public": True,
            "created_at": now,
            "updated_at": now,
        }
        self._groups[group["id"]] = group
        return group

    def _add_membership(self, user_id: int, group_id: int) -> Record:
        now = self._iso_now()
        user = self._users[user_id]
        is_default = user["default_group_id"] is None
        membership: Record = {
            "id": self._new_id(),
            "user_id": user_id,
            "group_id": group_id,
            "default": is_default,
            "created_at": now,
            "updated_at": now,
        }
        if is_default:
            user["default_group_id"] = group_id
        self._memberships[membership["id"]] = membership
        return membership

    def _user_record(self, user_id: object, *, field: str | None = None) -> Record:
        """The user, a 404 for an unknown id, or a 422 naming `field` when it is an input."""
        user = self._users.get(user_id) if isinstance(user_id, int) else None
        if user is None:
            if field is None:
                raise not_found()
            raise invalid(f"{field}: no user {user_id}")
        return user

    def _group_record(self, group_id: int) -> Record:
        group = self._groups.get(group_id)
        if group is None:
            raise not_found()
        return group

    def _group_record_for(self, group_id: object) -> Record:
        group = self._groups.get(group_id) if isinstance(group_id, int) else None
        if group is None:
            raise invalid(f"group_id: no group {group_id}")
        return group
