"""The state setup stores is a versioned JSON document: every earlier version is read, one migration a step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from escalations.config import ConfigError
from escalations.zendesk.state import MIGRATIONS, STATE_VERSION, AccountState, load_state, migrate, save_state

# A state.json as releases before the versioned state wrote it (version 1: no `version` key).
VERSION_1: dict[str, Any] = {
    "active_since": "2026-11-28T10:00:00Z",
    "extra": {},
    "field_ids": {"status": "501", "reason": 502, "requested_by": 503},
    "manager_group_id": 20,
    "service_user_id": 10001,
    "signing_secret": "c2VjcmV0",
    "trigger_id": 31,
    "view_id": 41,
    "webhook_id": "01JDQ8ZK6W0V3M2N7P5R4S1T9X",
    "zendesk_url": "https://acme.zendesk.com",
}


def test_every_earlier_version_has_a_migration_to_the_next() -> None:
    assert sorted(MIGRATIONS) == list(range(1, STATE_VERSION))


def test_a_version_1_state_keeps_its_ids_with_the_trigger_and_view_under_their_roles() -> None:
    state = AccountState.from_dict(VERSION_1)
    assert state.version == STATE_VERSION
    assert state.field_ids == {"status": 501, "reason": 502, "requested_by": 503}
    assert state.trigger_ids == {"request": 31} and state.view_ids == {"escalated": 41}
    assert (state.manager_group_id, state.webhook_id, state.signing_secret) == (
        20,
        "01JDQ8ZK6W0V3M2N7P5R4S1T9X",
        "c2VjcmV0",
    )
    assert state.brand_group_ids == {} and state.excluded_brand_ids == ()
    assert state.written == {}  # unknown: setup falls back on what every earlier release wrote


def test_a_version_1_state_without_trigger_or_view_ids_migrates_to_none_known() -> None:
    bare = {key: value for key, value in VERSION_1.items() if key not in ("trigger_id", "view_id")}
    state = AccountState.from_dict(bare)
    assert state.trigger_ids == {} and state.view_ids == {}


def test_the_current_version_round_trips_through_its_json_document(tmp_path: Path) -> None:
    state = AccountState(
        zendesk_url="https://acme.zendesk.com",
        field_ids={"status": 501},
        manager_group_id=20,
        webhook_id="01J",
        signing_secret="c2VjcmV0",
        service_user_id=10001,
        active_since="2026-11-28T10:00:00Z",
        trigger_ids={"request": 31, "staff_reply": 32, "solved": 33},
        view_ids={"escalated": 41, "overdue": 42},
        brand_group_ids={9100002: 21},
        excluded_brand_ids=(9100003,),
        written={"trigger:request": ["all|role|is|end_user"]},
    )
    save_state(tmp_path / "state.json", state)
    document = json.loads((tmp_path / "state.json").read_text())
    assert document["version"] == STATE_VERSION and document["brand_group_ids"] == {"9100002": 21}
    assert load_state(tmp_path / "state.json") == state
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600


def test_a_state_written_by_a_newer_release_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="newer"):
        migrate({**VERSION_1, "version": STATE_VERSION + 1})
    (tmp_path / "state.json").write_text(json.dumps({**VERSION_1, "version": STATE_VERSION + 1}))
    with pytest.raises(ConfigError, match="unreadable") as error:
        load_state(tmp_path / "state.json")
    assert "\n" not in str(error.value)
