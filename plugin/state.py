"""What `escalations setup` learned about the account and `serve` needs: ids and the signing secret.

One JSON document: in the data directory (readable by its owner only), or in
Redis when the hosts share one (`plugin.state_store`). Losing it is harmless:
running `escalations setup` again finds the same objects by name, and with
Redis a host rebuilds it by reading the account.

After `escalations rotate-secret` it also holds the previous signing secret,
accepted until the end of its grace period, and while a rotation is under way
the time until which a signature matching no known secret may be signed with
the one Zendesk has just made (the delivery is asked to come again).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from plugin.config import ConfigError
from plugin.policy import iso, parse_iso

ROTATION_SECONDS = 60.0  # how long a rotation may take before a stranger's signature is refused again


@dataclass(frozen=True)
class AccountState:
    zendesk_url: str
    field_ids: dict[str, int]
    manager_group_id: int
    webhook_id: str
    signing_secret: str
    service_user_id: int
    active_since: str
    trigger_id: int | None = None
    view_id: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    previous_signing_secret: str | None = None  # the one before the last rotation, during its grace period
    previous_secret_until: str | None = None
    rotating_until: str | None = None  # a rotation under way, until then at the latest

    @property
    def active_since_time(self) -> datetime:
        return parse_iso(self.active_since)

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


def state_to_dict(state: AccountState) -> dict[str, Any]:
    """The state as the JSON document every store holds."""
    return asdict(state)


def state_from_dict(raw: Mapping[str, Any]) -> AccountState:
    """The state from its JSON document; ValueError, KeyError or TypeError when it is not one."""
    document = dict(raw)
    document["field_ids"] = {key: int(value) for key, value in document["field_ids"].items()}
    return AccountState(**document)


def save_state(path: Path, state: AccountState) -> None:
    """Write atomically with 0600 permissions: the file holds the signing secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(state_to_dict(state), handle, indent=2, sort_keys=True)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def load_state(path: Path) -> AccountState:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: run 'escalations setup' first")
    try:
        return state_from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{path} is unreadable ({error.__class__.__name__}): run 'escalations setup' again") from None
