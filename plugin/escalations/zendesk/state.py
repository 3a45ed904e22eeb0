"""What `escalations setup` learned about the account and `serve` needs: ids and the signing secret.

One JSON document: in the data directory (readable by its owner only), or in
Redis when the hosts share one (`escalations.zendesk.state_store`). Losing it is harmless:
running `escalations setup` again finds the same objects by the marks it left
on them, and with Redis a host rebuilds it by reading the account.

The document carries a `version`. `AccountState.from_dict` reads every earlier
version, one migration a step (`MIGRATIONS`), so a state written by an older
release still serves until the next `setup` writes the current version:

- version 1 (no `version` key): one trigger id and one view id
  (`trigger_id`, `view_id`), and nothing about what setup wrote;
- version 2: the ids of every trigger and view by role, the managers' group of
  each brand, the brands kept out of the process, and what setup wrote into
  each object (`written`), so that a later setup removes only its own
  conditions and never an admin's.

After `escalations rotate-secret` it also holds the previous signing secret,
accepted until the end of its grace period, and while a rotation is under way
the time until which a signature matching no known secret may be signed with
the one Zendesk has just made (the delivery is asked to come again). These
keys are optional in version 2: a document without them has no previous
secret and no rotation under way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from escalations.config import ConfigError
from escalations.core.tickets import iso, parse_iso

STATE_VERSION = 2
ROTATION_SECONDS = 60.0  # how long a rotation may take before a stranger's signature is refused again


@dataclass(frozen=True)
class AccountState:
    zendesk_url: str
    field_ids: dict[str, int]
    manager_group_id: int  # the managers' group for every brand without one of its own
    webhook_id: str
    signing_secret: str
    service_user_id: int
    active_since: str
    trigger_ids: dict[str, int] = field(default_factory=dict)  # by role: request, staff_reply, solved
    view_ids: dict[str, int] = field(default_factory=dict)  # by role: escalated, overdue
    brand_group_ids: dict[int, int] = field(default_factory=dict)  # brand id -> its managers' group id
    excluded_brand_ids: tuple[int, ...] = ()  # brands whose tickets are kept out of the process
    written: dict[str, list[str]] = field(default_factory=dict)  # object role -> what setup wrote into it
    extra: dict[str, str] = field(default_factory=dict)
    previous_signing_secret: str | None = None  # the one before the last rotation, during its grace period
    previous_secret_until: str | None = None
    rotating_until: str | None = None  # a rotation under way, until then at the latest
    version: int = STATE_VERSION

    @property
    def active_since_time(self) -> datetime:
        return parse_iso(self.active_since)

    @property
    def manager_group_ids(self) -> frozenset[int]:
        """Every managers' group: the default one and each brand's."""
        return frozenset({self.manager_group_id, *self.brand_group_ids.values()})

    def accepted_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets a delivery may be signed with at `now`: the current one, and the previous one until its
        grace period ends."""
        until = self.previous_secret_until
        if self.previous_signing_secret and until is not None and now < parse_iso(until):
            return (self.signing_secret, self.previous_signing_secret)
        return (self.signing_secret,)

    def rotating(self, now: datetime) -> bool:
        """Whether Zendesk may be signing with a secret this state does not hold yet."""
        return self.rotating_until is not None and now < parse_iso(self.rotating_until)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, in the current version."""
        document = asdict(self)
        document["brand_group_ids"] = {str(brand): group for brand, group in self.brand_group_ids.items()}
        document["excluded_brand_ids"] = list(self.excluded_brand_ids)
        return document

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> AccountState:
        """Read a document of any version; KeyError, TypeError or ValueError when it is not one."""
        raw = migrate(document)
        return cls(
            zendesk_url=str(raw["zendesk_url"]),
            field_ids={key: int(value) for key, value in raw["field_ids"].items()},
            manager_group_id=int(raw["manager_group_id"]),
            webhook_id=str(raw["webhook_id"]),
            signing_secret=str(raw["signing_secret"]),
            service_user_id=int(raw["service_user_id"]),
            active_since=str(raw["active_since"]),
            trigger_ids={role: int(value) for role, value in raw["trigger_ids"].items()},
            view_ids={role: int(value) for role, value in raw["view_ids"].items()},
            brand_group_ids={int(brand): int(group) for brand, group in raw["brand_group_ids"].items()},
            excluded_brand_ids=tuple(int(brand) for brand in raw["excluded_brand_ids"]),
            written={role: [str(item) for item in items] for role, items in raw["written"].items()},
            extra={str(key): str(value) for key, value in (raw.get("extra") or {}).items()},
            previous_signing_secret=_optional_text(raw.get("previous_signing_secret")),
            previous_secret_until=_optional_text(raw.get("previous_secret_until")),
            rotating_until=_optional_text(raw.get("rotating_until")),
            version=STATE_VERSION,
        )


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def rotation_begun(state: AccountState, now: datetime) -> AccountState:
    """The state while the webhook's secret is being reset in Zendesk."""
    return replace(state, rotating_until=iso(now + timedelta(seconds=ROTATION_SECONDS)))


def with_new_secret(state: AccountState, secret: str, now: datetime, grace_seconds: float) -> AccountState:
    """The state once Zendesk signs with `secret`: the secret held until now stays accepted for the grace period."""
    if secret == state.signing_secret:
        return replace(state, rotating_until=None)
    return replace(
        state,
        signing_secret=secret,
        previous_signing_secret=state.signing_secret,
        previous_secret_until=iso(now + timedelta(seconds=grace_seconds)),
        rotating_until=None,
    )


def after_setup(
    provisioned: AccountState, stored: AccountState | None, now: datetime, grace_seconds: float
) -> AccountState:
    """What `setup` stores: what it found or made, keeping the secret stored before accepted for the grace
    period when the webhook's secret changed meanwhile (reset by hand), or what remains of an earlier grace."""
    if stored is None:
        return provisioned
    if stored.signing_secret == provisioned.signing_secret:
        return replace(
            provisioned,
            previous_signing_secret=stored.previous_signing_secret,
            previous_secret_until=stored.previous_secret_until,
        )
    return with_new_secret(
        replace(provisioned, signing_secret=stored.signing_secret), provisioned.signing_secret, now, grace_seconds
    )


def _from_version_1(document: dict[str, Any]) -> dict[str, Any]:
    """Version 1 knew one trigger and one view, the request trigger and the escalated view."""
    trigger_id, view_id = document.pop("trigger_id", None), document.pop("view_id", None)
    document["trigger_ids"] = {"request": trigger_id} if trigger_id is not None else {}
    document["view_ids"] = {"escalated": view_id} if view_id is not None else {}
    document["brand_group_ids"] = {}
    document["excluded_brand_ids"] = []
    document["written"] = {}  # unknown: setup falls back on what every earlier release wrote
    return document


# version -> the step that makes it the next version.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_version_1}


def migrate(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document brought to the current version, one step at a time; ValueError for an unknown one."""
    raw = dict(document)
    version = int(raw.pop("version", 1))
    if version > STATE_VERSION:
        raise ValueError(f"version {version} is newer than this release knows ({STATE_VERSION})")
    while version < STATE_VERSION:
        raw = MIGRATIONS[version](raw)
        version += 1
    return raw


def save_state(path: Path, state: AccountState) -> None:
    """Write atomically with 0600 permissions: the file holds the signing secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(state.to_dict(), handle, indent=2, sort_keys=True)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def load_state(path: Path) -> AccountState:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: run 'escalations setup' first")
    try:
        return AccountState.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"{path} is unreadable ({error.__class__.__name__}): run 'escalations setup' again") from None


def forget_state(path: Path) -> None:
    """Remove the state, after an uninstall: it served a webhook that is gone."""
    path.unlink(missing_ok=True)
