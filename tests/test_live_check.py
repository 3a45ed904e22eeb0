"""`escalations doctor --live`: its judgements as pure functions, then the whole check against the sandbox."""

from __future__ import annotations

from typing import Any

from plugin import escalation_fields as fields
from plugin.live_check import REASON, Expectation, definition_gaps, delivery_diagnosis, escalation_problems
from plugin.provisioning import desired_follow_up_triggers, desired_trigger

FIELD_IDS = {key: 500 + position for position, key in enumerate(fields.FIELD_KEYS)}
CUSTOMER, MANAGERS, SERVICE = 7000000001, 20, 1


def operators(*values: str) -> list[dict[str, Any]]:
    return [{"title": value, "value": value, "terminal": False} for value in values]


def options(*values: str) -> list[dict[str, Any]]:
    return [{"title": value, "value": value, "enabled": True} for value in values]


# Shaped as GET /api/v2/triggers/definitions answers (TriggerDefinitionObject in Zendesk's spec), with
# the values Zendesk's conditions reference documents for the conditions the service uses.
CONDITIONS = [
    {"subject": "update_type", "type": "list", "operators": operators("is"), "values": options("Create", "Change")},
    {
        "subject": "comment_is_public",
        "type": "list",
        "operators": operators("is"),
        "values": options("true", "false", "not_relevant", "requester_can_see_comment"),
    },
    {"subject": "comment_includes_word", "type": "text", "operators": operators("includes", "not_includes", "is")},
    {"subject": "role", "type": "list", "operators": operators("is", "is_not"), "values": options("end_user", "agent")},
    {
        "subject": "status",
        "type": "list",
        "operators": operators("is", "is_not", "less_than", "greater_than", "changed", "value", "value_previous"),
        "values": options("new", "open", "pending", "hold", "solved", "closed"),
    },
    {"subject": "current_tags", "type": "tags", "operators": operators("includes", "not_includes")},
]
DEFINITIONS = {
    "conditions_all": CONDITIONS,
    "conditions_any": CONDITIONS,
    "actions": [{"subject": "notification_webhook", "type": "list"}, {"subject": "status", "type": "list"}],
}


def test_the_service_triggers_use_only_what_zendesk_documents_for_trigger_conditions() -> None:
    ours = [desired_trigger("01HWEBHOOK"), *desired_follow_up_triggers("01HWEBHOOK")]
    assert definition_gaps(ours, DEFINITIONS) == []


def test_a_condition_value_the_account_does_not_offer_is_named_with_what_is_offered() -> None:
    staff_as_admin = {
        "title": "Old staff reply",
        "conditions": {"all": [{"field": "role", "operator": "is", "value": "admin"}], "any": []},
        "actions": [{"field": "notification_webhook", "value": ["01HWEBHOOK", "{}"]}],
    }
    assert definition_gaps([staff_as_admin], DEFINITIONS) == [
        "trigger 'Old staff reply': the condition 'role is' has no value 'admin' (offered: agent, end_user)"
    ]


def test_an_operator_or_action_the_account_does_not_offer_is_named() -> None:
    without_changed_to = {
        **DEFINITIONS,
        "conditions_all": [
            {**item, "operators": operators("is", "is_not")} if item["subject"] == "status" else item
            for item in CONDITIONS
        ],
        "actions": [],
    }
    gaps = definition_gaps(desired_follow_up_triggers("01HWEBHOOK")[1:], without_changed_to)
    assert any("'status' has no operator 'value'" in gap for gap in gaps)
    assert any("the action 'notification_webhook' is not offered" in gap for gap in gaps)


def escalated_ticket(**changes: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values = {
        fields.STATUS: fields.status_tag(fields.STATUS_REQUESTED),
        fields.REASON: REASON,
        fields.REQUESTED_BY: str(CUSTOMER),
    }
    ticket = {
        "id": 9,
        "group_id": MANAGERS,
        "tags": [fields.TAG_ESCALATED, fields.status_tag(fields.STATUS_REQUESTED)],
        "custom_fields": [{"id": FIELD_IDS[key], "value": value} for key, value in values.items()],
        **changes,
    }
    comments = [
        {"author_id": CUSTOMER, "public": True},
        {"author_id": SERVICE, "public": False},
        {"author_id": SERVICE, "public": True},
    ]
    return ticket, comments


EXPECTED = Expectation(CUSTOMER, MANAGERS, SERVICE)


def test_a_ticket_escalated_and_confirmed_by_the_service_has_no_problems() -> None:
    assert escalation_problems(*escalated_ticket(), FIELD_IDS, EXPECTED) == []


def test_each_missing_part_of_an_escalation_is_named() -> None:
    ticket, _ = escalated_ticket(group_id=3, tags=[fields.TAG_ESCALATED, fields.TAG_CONFIRMATION_PENDING])
    problems = escalation_problems(ticket, [{"author_id": CUSTOMER, "public": True}], FIELD_IDS, EXPECTED)
    assert problems == [
        "tags missing: escalation_status_requested",
        "the confirmation is still owed",
        "the ticket is in group 3, not the managers' group",
        "no internal note for the managers",
        "no confirmation to the customer",
    ]


def test_the_diagnosis_says_what_to_fix_for_each_kind_of_failed_delivery() -> None:
    url = "https://escalations.example.com"
    assert "did not call the webhook" in delivery_diagnosis([], url)
    unreachable = delivery_diagnosis([{"http_status": None, "error": "connection refused"}], url)
    assert unreachable.startswith(f"Zendesk could not reach {url}/webhooks/zendesk (connection refused)")
    assert "run 'escalations setup' again" in delivery_diagnosis([{"http_status": 401}], url)
    assert "escalations doctor" in delivery_diagnosis([{"http_status": 202}], url)
    assert "answered Zendesk 500" in delivery_diagnosis([{"http_status": 500}], url)
