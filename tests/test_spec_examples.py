"""Zendesk's own response examples, from its published Support API spec, fed through the product's readers.

The nearest thing to recorded real traffic: the JSON here is Zendesk's, not
the sandbox's. Each reader must take it without error and read it as Zendesk
means it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from escalations.admin.report import row_for
from escalations.config import load_settings
from escalations.core import fields
from escalations.core.policy import decide
from escalations.core.tickets import PolicySettings
from escalations.service.sweep import needs_follow_up, tickets_needing_attention
from escalations.zendesk.desired import desired_follow_up_triggers, merge_conditions, view_columns
from escalations.zendesk.gateway import cursor_pages, paged, snapshot_from_json
from escalations.zendesk.installation import Account
from escalations.zendesk.live_findings import definition_gaps
from escalations.zendesk.setup_plan import plan_setup
from tests.contract.checker import spec

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def example(name: str) -> dict[str, Any]:
    """`components.examples.<name>.value` of Zendesk's spec."""
    return dict(spec()["components"]["examples"][name]["value"])


def schema_example(name: str) -> dict[str, Any]:
    """`components.schemas.<name>.example` of Zendesk's spec."""
    return dict(spec()["components"]["schemas"][name]["example"])


class RecordedZendesk:
    """Answers API reads with recorded pages, in order, and records what was asked (no HTTP)."""

    def __init__(self, pages: Mapping[str, list[dict[str, Any]]]) -> None:
        self.pages = {path: list(answers) for path, answers in pages.items()}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.request_json("GET", path, params)

    def request_json(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        self.calls.append((method, path, dict(params or payload or {})))
        answers = self.pages.get(f"{method} {path}") or [{}]
        return answers.pop(0) if len(answers) > 1 else answers[0]


def test_a_ticket_and_its_comments_as_zendesk_shows_them_make_a_snapshot() -> None:
    ticket = example("TicketResponseExample")
    comments = example("TicketCommentsResponseExample")
    snapshot = snapshot_from_json(ticket, comments, {fields.REASON: 27642})
    assert snapshot.id == 35436 and snapshot.requester_id == 20978392 and snapshot.status == "open"
    assert snapshot.copied_ids == frozenset({35334, 234})  # collaborators count as copied
    assert snapshot.escalation == {fields.REASON: "745"}
    assert [(c.id, c.author_id, c.body, c.public) for c in snapshot.comments] == [
        (1274, 123123, "Thanks for your help!", True)
    ]
    assert snapshot.updated_at == "2011-05-05T10:38:52Z"
    # The comment's author was not sideloaded, so nothing about them is assumed: the policy ignores it.
    assert decide(snapshot, PolicySettings(manager_group_id=1), NOW).outcome == "ignored"


def test_incremental_ticket_events_as_zendesk_documents_them_are_read_by_the_sweep() -> None:
    page = example("ExportIncrementalTicketEventsResponseExample")
    assert tickets_needing_attention(page["ticket_events"]) == set()  # a metric event carries no comment
    # The comment child event as the endpoint's description shows it (spec, "Sideloading", ~line 5082):
    # `body` and `html_body`, no `plain_body`.
    comment = {
        "id": 91048994488,
        "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
        "via_reference_id": None,
        "type": "Comment",
        "author_id": 5031726587,
        "body": "Escalation request: this is a comment",
        "html_body": '<div class="zd-comment"><p dir="auto">Escalation request: this is a comment</p></div>',
        "public": True,
        "attachments": [],
        "audit_id": 91048994468,
        "created_at": "2009-06-25T10:15:18Z",
        "event_type": "Comment",
    }
    event = {**page["ticket_events"][0], "child_events": [comment]}
    assert tickets_needing_attention([event]) == {155}


def test_the_next_incremental_page_is_asked_with_our_parameters_not_only_the_documented_next_page() -> None:
    first = example("ExportIncrementalTicketEventsResponseExample")
    first = {**first, "end_of_stream": False}  # as if more followed
    last = {**first, "ticket_events": [], "end_of_stream": True}
    zendesk = RecordedZendesk({"GET /api/v2/incremental/ticket_events.json": [first, last]})
    pages = list(
        paged(
            zendesk,
            "/api/v2/incremental/ticket_events.json",
            {"start_time": 1, "include": "comment_events"},
            "ticket_events",
        )
    )
    assert len(pages) == 2
    assert zendesk.calls[1][2] == {"start_time": "1601357503", "include": "comment_events"}


def test_search_export_pages_as_zendesk_shows_them_are_followed_with_the_cursor() -> None:
    first = example("SearchExportResponseExample")
    last = {**first, "results": [example("TicketResponseExample")["ticket"]], "meta": {"has_more": False}}
    zendesk = RecordedZendesk({"GET /api/v2/search/export.json": [first, last]})
    params = {"query": "tags:escalated", "filter[type]": "ticket", "page[size]": 100}
    pages = list(cursor_pages(zendesk, "/api/v2/search/export.json", "results", params))
    assert [len(page) for page in pages] == [0, 1]
    assert zendesk.calls[1][2] == {**params, "page[after]": first["meta"]["after_cursor"]}
    found = pages[1][0]
    assert row_for(found, {fields.REQUESTED_AT: 999}) is None  # no escalation recorded on it
    assert not needs_follow_up(found, {fields.RESPONSE_DUE: 27642}, NOW)  # not tagged as a requested escalation


def test_setup_reads_zendesk_shaped_ticket_fields_and_moves_an_earlier_number_field_aside() -> None:
    listing = example("TicketFieldsResponseExample")
    subject = listing["ticket_fields"][0]
    earlier = {**subject, "id": 77, "type": "integer", "title": "Escalation requested by", "tag": None}
    account = Account(
        me={"id": 1, "role": "admin", "email": "admin@acme.test"},
        groups=[],
        ticket_fields=[subject, earlier],
        webhooks=[],
        triggers=[],
        views=[],
        brands=[schema_example("BrandObject")],
    )
    settings = load_settings(
        {
            "ZENDESK_SUBDOMAIN": "acme",
            "ZENDESK_EMAIL": "admin@acme.test",
            "ZENDESK_API_TOKEN": "t",
            "PUBLIC_URL": "https://escalations.acme.test",
        }
    )
    plan = plan_setup(account, settings)
    renamed = [step for step in plan.steps if step.action == "rename"]
    assert [step.request for step in renamed] == [
        (
            "PUT",
            "/api/v2/ticket_fields/77.json",
            {
                "ticket_field": {
                    "title": fields.EARLIER_NUMBER_FIELDS["requested_by"],
                    # The admin's own agent-only description stays; the mark is added to it.
                    "agent_description": f"{subject['agent_description']} [escalations:field:requested_by_number]",
                }
            },
        )
    ]
    assert renamed[0].role == f"field:{fields.earlier_key(fields.REQUESTED_BY)}" and renamed[0].object_id == 77
    created = [step for step in plan.steps if step.kind == "ticket field" and step.action == "create"]
    assert len(created) == len(fields.ESCALATION_FIELDS)


def test_views_are_compared_in_the_shape_zendesk_reads_them_back() -> None:
    view = schema_example("ViewObject")  # execution.columns as objects, a custom field by its id
    desired = {"all": view["conditions"]["all"], "any": view["conditions"].get("any") or []}
    merged, removed, added = merge_conditions(view["conditions"], desired, frozenset())
    assert (removed, added) == ([], []) and merged["all"] == view["conditions"]["all"]
    assert view_columns(view) == ["status", "updated", "5"]
    for listed in example("ViewsResponseExample")["views"]:  # `conditions: {}` and `execution: {}`
        assert view_columns(listed) == []
        assert merge_conditions(listed["conditions"], desired, frozenset())[2]  # every wanted condition is added


def test_trigger_definitions_as_zendesk_shows_them_are_checked_condition_by_condition() -> None:
    definitions = example("TriggerDefinitionResponseExample")["definitions"]
    solved = desired_follow_up_triggers("01HWEBHOOK")[1]
    gaps = definition_gaps([solved], definitions)
    # The example lists only the status condition: "changed to solved" passes, the rest is named.
    assert not any("'status" in gap for gap in gaps)
    assert any("the condition 'update_type' is not offered" in gap for gap in gaps)
