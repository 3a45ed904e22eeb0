"""What `escalations setup` asks Zendesk for, held to Zendesk's documentation."""

from __future__ import annotations

import json
import re

from escalations.core import fields
from escalations.zendesk.desired import (
    SOLVED_TRIGGER_TITLE,
    desired_field,
    desired_follow_up_triggers,
    desired_trigger,
    desired_views,
)
from tests.conftest import Service
from tests.contract.checker import spec

FIELD_IDS = {key: 500 + position for position, key in enumerate(fields.FIELD_KEYS)}


def documented_view_columns() -> set[str]:
    """The `columns` values of the "View columns" table in Zendesk's spec (Create View)."""
    description = spec()["paths"]["/api/v2/views"]["post"]["description"]
    table = description.split("#### View columns", 1)[1].split("####", 1)[0]
    return set(re.findall(r"\|\s*`([a-z_]+)`\s*\|", table))


def test_views_use_only_the_documented_columns_and_at_most_ten() -> None:
    documented = documented_view_columns()
    assert "description" in documented and "subject" not in documented  # the subject column is `description`
    views = desired_views(FIELD_IDS)
    assert views
    for view in views:
        columns = view["output"]["columns"]
        assert len(columns) <= 10
        assert {column for column in columns if isinstance(column, str)} <= documented
        assert {column for column in columns if isinstance(column, int)} <= set(FIELD_IDS.values())


def test_views_carry_a_condition_zendesk_requires_in_all() -> None:
    # Create View: "at least one condition in the `all` array that checks status, type, group_id,
    # assignee_id, or requester_id".
    views = desired_views(FIELD_IDS)
    assert views
    for view in views:
        assert {"status", "type", "group_id", "assignee_id", "requester_id"} & {c["field"] for c in view["all"]}


def test_the_staff_reply_trigger_names_staff_as_anyone_who_is_not_an_end_user() -> None:
    staff_reply = desired_follow_up_triggers("01HWEBHOOK")[0]
    roles = [c for group in ("all", "any") for c in staff_reply["conditions"][group] if c["field"] == "role"]
    assert roles == [{"field": "role", "operator": "is_not", "value": "end_user"}]


def test_the_solved_trigger_fires_on_the_change_to_solved_only() -> None:
    solved = desired_follow_up_triggers("01HWEBHOOK")[1]
    statuses = [c for c in solved["conditions"]["all"] if c["field"] == "status"]
    assert statuses == [{"field": "status", "operator": "value", "value": "solved"}]


def test_role_conditions_use_only_the_documented_values() -> None:
    triggers = [desired_trigger("01HWEBHOOK"), *desired_follow_up_triggers("01HWEBHOOK")]
    values = {c["value"] for t in triggers for g in ("all", "any") for c in t["conditions"][g] if c["field"] == "role"}
    assert "end_user" in values and values <= {"end_user", "agent"}


def test_customers_see_the_escalation_state_read_only_and_nothing_private() -> None:
    shown = {field.key for field in fields.ESCALATION_FIELDS if desired_field(field, 0)["visible_in_portal"]}
    assert shown == {
        fields.STATUS,
        fields.REQUESTED_AT,
        fields.RESPONSE_DUE,
        fields.ACKNOWLEDGED_AT,
        fields.RESOLVED_AT,
    }
    assert not any(desired_field(field, 0)["editable_in_portal"] for field in fields.ESCALATION_FIELDS)


def test_user_ids_are_kept_in_text_fields() -> None:
    by_key = {field.key: field for field in fields.ESCALATION_FIELDS}
    assert by_key[fields.REQUESTED_BY].type == "text" and by_key[fields.ACKNOWLEDGED_BY].type == "text"


def test_an_earlier_number_fields_value_is_read_when_the_text_field_is_empty() -> None:
    field_ids = {**FIELD_IDS, fields.earlier_key(fields.REQUESTED_BY): 77}
    recorded = fields.recorded_values(
        [{"id": 77, "value": "9876543210123"}, {"id": FIELD_IDS[fields.REQUESTED_BY], "value": None}], field_ids
    )
    assert recorded[fields.REQUESTED_BY] == "9876543210123"
    newer = fields.recorded_values(
        [{"id": 77, "value": 1}, {"id": FIELD_IDS[fields.REQUESTED_BY], "value": "2"}], field_ids
    )
    assert newer[fields.REQUESTED_BY] == "2" and fields.earlier_key(fields.REQUESTED_BY) not in newer


# -- against the sandbox, as `escalations setup` runs ------------------------------------------------


def test_the_solved_trigger_calls_the_service_when_a_ticket_is_solved_not_on_later_updates(
    service_env: Service,
) -> None:
    service_env.run("setup")
    zendesk = service_env.zendesk
    state = json.loads((service_env.data_dir / "state.json").read_text())
    solved_trigger = next(t["id"] for t in zendesk.business_rules("trigger") if t["title"] == SOLVED_TRIGGER_TITLE)
    status_field = state["field_ids"]["status"]
    zendesk.api_update_ticket(1, {"custom_fields": [{"id": status_field, "value": "escalation_status_requested"}]})

    def calls() -> int:
        zendesk.wait_for_deliveries()
        return sum(1 for d in zendesk.deliveries() if d["trigger_id"] == solved_trigger)

    zendesk.set_status(1, "solved")
    assert calls() == 1
    zendesk.api_update_ticket(1, {"comment": {"body": "Closing notes for the team.", "public": False}})
    assert calls() == 1  # 'status is solved' would have fired again here


def test_setup_moves_an_earlier_versions_number_fields_aside_and_keeps_their_values_readable(
    service_env: Service,
) -> None:
    zendesk = service_env.zendesk
    earlier = {
        key: zendesk.create_ticket_field({"type": "integer", "title": title})["id"]
        for key, title in (
            (fields.REQUESTED_BY, "Escalation requested by"),
            (fields.ACKNOWLEDGED_BY, "Escalation acknowledged by"),
        )
    }
    customer = 10015  # Alice, the requester of ticket 1
    zendesk.api_update_ticket(1, {"custom_fields": [{"id": earlier[fields.REQUESTED_BY], "value": customer}]})

    first = service_env.run("setup").stdout
    assert f"renamed    ticket field: Escalation requested by → {fields.EARLIER_NUMBER_FIELDS['requested_by']}" in first
    state = json.loads((service_env.data_dir / "state.json").read_text())
    field_ids = {key: int(value) for key, value in state["field_ids"].items()}
    assert field_ids[fields.earlier_key(fields.REQUESTED_BY)] == earlier[fields.REQUESTED_BY]
    assert field_ids[fields.REQUESTED_BY] != earlier[fields.REQUESTED_BY]
    by_id = {f["id"]: f for f in zendesk.ticket_fields()}
    assert by_id[field_ids[fields.REQUESTED_BY]]["type"] == "text"
    assert by_id[earlier[fields.REQUESTED_BY]]["title"] == fields.EARLIER_NUMBER_FIELDS["requested_by"]

    recorded = fields.recorded_values(zendesk.ticket(1)["custom_fields"], field_ids)
    assert recorded[fields.REQUESTED_BY] == str(customer)  # the value recorded before is still read

    second = service_env.run("setup").stdout
    assert "renamed" not in second and "created" not in second
