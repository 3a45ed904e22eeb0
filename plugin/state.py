"""What `escalations setup` learned about the account and `serve` needs: ids and the signing secret.

Stored as JSON in the data directory, readable by its owner only. Losing it is
harmless: running `escalations setup` again finds the same objects by name.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from plugin.config import ConfigError
from plugin.policy import parse_iso


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

    @property
    def active_since_time(self) -> datetime:
        return parse_iso(self.active_since)


def save_state(path: Path, state: AccountState) -> None:
    """Write atomically with 0600 permissions: the file holds the signing secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(asdict(state), handle, indent=2, sort_keys=True)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def load_state(path: Path) -> AccountState:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: run 'escalations setup' first")
    try:
        raw = json.loads(path.read_text())
        raw["field_ids"] = {key: int(value) for key, value in raw["field_ids"].items()}
        return AccountState(**raw)
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{path} is unreadable ({error.__class__.__name__}): run 'escalations setup' again") from None
