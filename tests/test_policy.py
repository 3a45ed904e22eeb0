"""The escalation policy, as rules. Pure: a ticket snapshot in, a decision out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from escalations.core import fields
from escalations.core.calendar import WorkingCalendar
from escalations.core.policy import decide, staff_replies
from escalations.core.tickets import REASON_WINDOW, Comment, Decision, Person, PolicySettings, TicketSnapshot, iso

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # a Friday afternoon
REQUESTER, COLLEAGUE, STRANGER, AGENT, SERVICE = 10, 11, 12, 20, 99
MANAGERS, SUPPORT = 7, 3
SETTINGS = PolicySettings(manager_group_id=MANAGERS, service_user_id=SERVICE)

PEOPLE = {
    REQUESTER: Person(REQUESTER, "Ana Customer", "ana@example.com", "end-user", "+1 555 0100"),
    COLLEAGUE: Person(COLLEAGUE, "Ben Colleague", "ben@example.com", "end-user"),
    STRANGER: Person(STRANGER, "Cy Stranger", "cy@example.com", "end-user"),
    AGENT: Person(AGENT, "Sam Engineer", "sam@vendor.test", "agent"),
    SERVICE: Person(SERVICE, "Escalations", "api@vendor.test", "admin"),
}


def comment(comment_id: int, body: str, author: int = REQUESTER, public: bool = True) -> Comment:
    return Comment(comment_id, author, body, public, NOW - timedelta(minutes=5))


def ticket(*comments: Comment, escalation: dict[str, Any] | None = None, **overrides: Any) -> TicketSnapshot:
    base = TicketSnapshot(
        id=42,
        status="open",
        subject="Export fails",
        requester_id=REQUESTER,
        copied_ids=frozenset({COLLEAGUE}),
        group_id=SUPPORT,
        assignee_id=AGENT,
        tags=("export",),
        escalation=escalation or {},
        comments=(comment(1, "The export fails with error 500."), *comments),
        people=PEOPLE,
        updated_at="2026-11-27T14:55:00Z",
        first_comment_id=1,
        group_names={SUPPORT: "Support"},
    )
    return replace(base, **overrides)


ESCALATED = {
    fields.STATUS: "escalation_status_requested",
    fields.REASON: "Production down",
    fields.REQUESTED_AT: "2026-11-27T10:00:00Z",
    fields.RESPONSE_DUE: "2026-11-30T10:00:00Z",
    fields.HANDLED_THROUGH: "5",
}


def outcome(snapshot: TicketSnapshot, settings: PolicySettings = SETTINGS) -> str:
    return decide(snapshot, settings, NOW).outcome


# The phrase


def test_the_phrase_with_a_reason_escalates() -> None:
    assert outcome(ticket(comment(2, "Escalation request: production is down since Monday."))) == "escalated"


def test_the_phrase_matches_in_any_case_and_with_any_whitespace_between_the_words() -> None:
    for body in (
        "ESCALATION REQUEST - we lost data",
        "escalation\n  request: we lost data",
        "Escalation\trequest we lost data",
    ):
        assert outcome(ticket(comment(2, body))) == "escalated", body


def test_a_comment_without_the_phrase_is_ignored() -> None:
    assert outcome(ticket(comment(2, "Please escalate, the request is urgent"))) == "ignored"


def test_a_negated_phrase_does_not_count() -> None:
    for body in (
        "This is not an escalation request, just a question about exports.",
        "No escalation request needed, thanks.",
        "This isn't really an escalation request.",
    ):
        assert outcome(ticket(comment(2, body))) == "ignored", body


def test_the_phrase_only_in_quoted_email_lines_does_not_count() -> None:
    body = "Thanks for the update.\n\n> Escalation request: production is down\n> since Monday"
    assert outcome(ticket(comment(2, body))) == "ignored"


def test_the_phrase_only_below_a_reply_separator_does_not_count() -> None:
    for separator in ("On Fri, 27 Nov 2026 at 10:00, Support <help@vendor.test> wrote:", "-----Original Message-----"):
        body = f"Thanks, that works.\n\n{separator}\nEscalation request: production is down"
        assert outcome(ticket(comment(2, body))) == "ignored", separator


# Who may escalate


def test_an_internal_note_does_not_count() -> None:
    assert outcome(ticket(comment(2, "Escalation request: prod down", public=False))) == "ignored"


def test_an_agent_comment_does_not_count() -> None:
    assert outcome(ticket(comment(2, "Escalation request: prod down", author=AGENT))) == "ignored"


def test_the_services_own_comment_does_not_count() -> None:
    assert outcome(ticket(comment(2, "Escalation request: prod down", author=SERVICE))) == "ignored"


def test_an_end_user_copied_on_the_ticket_may_escalate() -> None:
    decision = decide(ticket(comment(2, "Escalation request: prod down", author=COLLEAGUE)), SETTINGS, NOW)
    assert decision.outcome == "escalated"
    assert decision.updates[0].fields[fields.REQUESTED_BY] == str(COLLEAGUE)


def test_only_the_requester_may_escalate_when_configured() -> None:
    requester_only = replace(SETTINGS, allow_copied_end_users=False)
    assert outcome(ticket(comment(2, "Escalation request: prod down", author=COLLEAGUE)), requester_only) == "ignored"


def test_an_end_user_who_is_neither_requester_nor_copied_may_not_escalate() -> None:
    assert outcome(ticket(comment(2, "Escalation request: prod down", author=STRANGER))) == "ignored"


def test_the_tickets_opening_description_is_not_an_escalation_of_it() -> None:
    opening = ticket(comments=(comment(1, "Escalation request: case 99 went badly"),))
    assert outcome(opening) == "ignored"


def test_comments_from_before_the_service_was_switched_on_do_not_count() -> None:
    later = replace(SETTINGS, active_since=NOW)
    assert outcome(ticket(comment(2, "Escalation request: prod down")), later) == "ignored"


def test_a_closed_ticket_cannot_be_escalated() -> None:
    assert outcome(ticket(comment(2, "Escalation request: prod down"), status="closed")) == "ignored"


# The escalation


def test_an_escalation_records_tags_fields_and_moves_the_ticket_to_the_managers() -> None:
    decision = decide(ticket(comment(2, "Escalation request: production is down since Monday.")), SETTINGS, NOW)
    record, confirmation = decision.updates
    assert record.group_id == MANAGERS and record.clear_assignee
    assert record.fields == {
        fields.STATUS: "escalation_status_requested",
        fields.REASON: "production is down since Monday.",
        fields.REQUESTED_AT: "2026-11-27T15:00:00Z",
        fields.REQUESTED_BY: str(REQUESTER),
        fields.RESPONSE_DUE: "2026-11-30T15:00:00Z",
        fields.HANDLED_THROUGH: "2",
    }
    assert record.tags is not None and {"export", "escalated", "escalation_status_requested"} <= set(record.tags)
    assert record.message.template == "manager_note" and not record.message.public
    assert confirmation.message.template == "confirmation" and confirmation.message.public
    assert confirmation.tags is not None and fields.TAG_CONFIRMATION_PENDING not in confirmation.tags
    assert set(confirmation.tags) == set(record.tags) - {fields.TAG_CONFIRMATION_PENDING}


def test_the_managers_note_tells_who_when_why_the_due_time_and_where_the_ticket_was() -> None:
    note = decide(ticket(comment(2, "Escalation request: prod down")), SETTINGS, NOW).updates[0].message
    assert note.context["customer_name"] == "Ana Customer"
    assert note.context["requested_at"] == NOW
    assert note.context["reason"] == "prod down"
    assert note.context["response_due"] == datetime(2026, 11, 30, 15, tzinfo=UTC)
    assert note.context["previous_group_id"] == SUPPORT
    assert note.context["previous_group_name"] == "Support"
    assert note.context["previous_assignee_name"] == "Sam Engineer"


def test_new_contact_details_in_the_comment_are_passed_to_the_managers() -> None:
    body = (
        "Escalation request: prod down. Call me on +44 20 7946 0958 or mail ana.private@example.org."
        " Old: ana@example.com"
    )
    note = decide(ticket(comment(2, body)), SETTINGS, NOW).updates[0].message
    assert note.context["new_contact_details"] == ("ana.private@example.org", "+44 20 7946 0958")


def test_the_confirmation_names_the_new_contact_details_the_customer_gave() -> None:
    body = "Escalation request: prod down\n\nNew contact details: +44 20 7946 0958"
    confirmation = decide(ticket(comment(2, body)), SETTINGS, NOW).updates[1].message
    assert confirmation is not None and confirmation.context["contact_details"] == ("+44 20 7946 0958",)
    plain = decide(ticket(comment(2, "Escalation request: prod down")), SETTINGS, NOW).updates[1].message
    assert plain is not None and plain.context["contact_details"] == ()


def test_a_confirmation_sent_after_a_stop_still_names_the_new_contact_details() -> None:
    body = "Escalation request: prod down, call +44 20 7946 0958"
    recorded = decide(ticket(comment(2, body)), SETTINGS, NOW).updates[0]
    pending = ticket(comment(2, body), escalation=dict(recorded.fields), tags=recorded.tags)
    (confirmation,) = decide(pending, SETTINGS, NOW).updates
    assert confirmation.message is not None and confirmation.message.context["contact_details"] == ("+44 20 7946 0958",)


def test_the_managers_note_names_the_contact_details_once_and_the_requesters_profile() -> None:
    body = "Escalation request: prod down\n\nNew contact details: ben.mobile@example.org"
    note = decide(ticket(comment(2, body, author=COLLEAGUE)), SETTINGS, NOW).updates[0].message
    assert note is not None
    assert note.context["reason"] == "prod down"
    assert note.context["new_contact_details"] == ("ben.mobile@example.org",)
    assert (note.context["requester_name"], note.context["requester_email"], note.context["requester_phone"]) == (
        "Ana Customer",
        "ana@example.com",
        "+1 555 0100",
    )
    assert "comment_id" not in note.context


# The customer's language and clock

FORM_IN_GERMAN = "Escalation request: Rechnungen hängen fest\n\n(Über das Hilfe-Center auf Deutsch gesendet)"


def customer(locale: str | None = None, time_zone: str | None = None) -> dict[int, Person]:
    return {**PEOPLE, REQUESTER: replace(PEOPLE[REQUESTER], locale=locale, time_zone=time_zone)}


def test_a_comment_from_the_help_center_form_is_answered_in_the_pages_language() -> None:
    decision = decide(ticket(comment(2, FORM_IN_GERMAN), people=customer("en-US")), SETTINGS, NOW)
    assert decision.updates[0].fields[fields.REASON] == "Rechnungen hängen fest"
    confirmation = decision.updates[1].message
    assert confirmation is not None and confirmation.locale == "de"


def test_a_typed_comment_is_answered_in_the_profiles_language() -> None:
    decision = decide(ticket(comment(2, "Escalation request: invoices"), people=customer("de")), SETTINGS, NOW)
    confirmation = decision.updates[1].message
    assert confirmation is not None and confirmation.locale == "de"


def test_the_page_in_the_profiles_language_keeps_the_profiles_variant() -> None:
    austrian = decide(ticket(comment(2, FORM_IN_GERMAN), people=customer("de-AT")), SETTINGS, NOW)
    confirmation = austrian.updates[1].message
    assert confirmation is not None and confirmation.locale == "de-AT"


def test_times_are_written_in_the_customers_time_zone_else_the_calendars() -> None:
    berlin = replace(SETTINGS, calendar=WorkingCalendar.weekdays(ZoneInfo("Europe/Berlin")))
    own = decide(ticket(comment(2, "Escalation request: x y"), people=customer(time_zone="Asia/Tokyo")), berlin, NOW)
    account = decide(ticket(comment(2, "Escalation request: x y")), berlin, NOW)
    assert [u.message.timezone for u in own.updates if u.message] == ["Europe/Berlin", "Asia/Tokyo"]
    assert [u.message.timezone for u in account.updates if u.message] == ["Europe/Berlin", "Europe/Berlin"]


# The refusal says where the escalation stands


def refusal_context(escalation: dict[str, Any], now: datetime = NOW) -> dict[str, Any]:
    decision = decide(ticket(comment(6, "Escalation request: again"), escalation=escalation), SETTINGS, now)
    (refusal,) = (update for update in decision.updates if update.purpose == "refusal")
    assert refusal.message is not None
    return dict(refusal.message.context)


def test_the_refusal_says_whether_a_manager_has_replied_and_when_the_first_response_is_due() -> None:
    waiting = refusal_context(ESCALATED)
    assert waiting["status"] == "escalation_status_requested" and waiting["acknowledged_at"] is None
    assert waiting["response_due"] == datetime(2026, 11, 30, 10, tzinfo=UTC) and waiting["overdue"] is False
    late = refusal_context(ESCALATED, now=datetime(2026, 11, 30, 11, tzinfo=UTC))
    assert late["overdue"] is True
    replied = refusal_context(
        {
            **ESCALATED,
            fields.STATUS: "escalation_status_acknowledged",
            fields.ACKNOWLEDGED_AT: "2026-11-27T12:00:00Z",
        }
    )
    assert replied["acknowledged_at"] == datetime(2026, 11, 27, 12, tzinfo=UTC)


def test_the_response_due_uses_the_configured_timezone() -> None:
    berlin = replace(SETTINGS, calendar=WorkingCalendar.weekdays(ZoneInfo("Europe/Berlin")))
    friday_late = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # Saturday 00:30 in Berlin
    record = decide(ticket(comment(2, "Escalation request: prod down")), berlin, friday_late).updates[0]
    assert record.fields[fields.RESPONSE_DUE] == "2026-11-30T23:00:00Z"


def test_several_escalation_comments_in_one_batch_escalate_once() -> None:
    decision = decide(
        ticket(comment(2, "Escalation request: prod down"), comment(3, "Escalation request: still down!")),
        SETTINGS,
        NOW,
    )
    assert decision.outcome == "escalated" and len(decision.updates) == 2
    assert decision.updates[0].fields[fields.HANDLED_THROUGH] == "3"


# Once only


def test_a_second_attempt_is_refused_politely_and_nothing_else_changes() -> None:
    decision = decide(ticket(comment(6, "Escalation request: still nothing"), escalation=ESCALATED), SETTINGS, NOW)
    assert decision.outcome == "refused"
    (refusal,) = decision.updates
    assert refusal.message.template == "refusal" and refusal.message.public
    assert refusal.group_id is None and not refusal.clear_assignee
    assert refusal.fields == {fields.REFUSED_REPEATS: 1, fields.HANDLED_THROUGH: "6"}
    assert refusal.tags is not None and "escalation_blocked" in refusal.tags


def test_refusals_are_counted() -> None:
    escalated = {**ESCALATED, fields.REFUSED_REPEATS: 2}
    decision = decide(ticket(comment(6, "Escalation request: again"), escalation=escalated), SETTINGS, NOW)
    assert decision.updates[0].fields[fields.REFUSED_REPEATS] == 3


def test_a_comment_already_answered_is_not_answered_again() -> None:
    answered = ticket(comment(5, "Escalation request: prod down"), escalation=ESCALATED)
    assert outcome(answered) == "ignored"


def test_a_resolved_escalation_still_cannot_be_repeated() -> None:
    resolved = {**ESCALATED, fields.STATUS: "escalation_status_resolved"}
    assert outcome(ticket(comment(6, "Escalation request: again"), escalation=resolved)) == "refused"


# Missing reason


def test_the_phrase_alone_asks_for_the_reason_and_does_not_use_up_the_escalation() -> None:
    decision = decide(ticket(comment(2, "Escalation request")), SETTINGS, NOW)
    assert decision.outcome == "reason_requested"
    (request,) = decision.updates
    assert request.message.template == "reason_request"
    assert request.fields == {fields.HANDLED_THROUGH: "2"}
    assert fields.STATUS not in request.fields


def test_greetings_around_the_phrase_are_not_a_reason() -> None:
    assert outcome(ticket(comment(2, "Hi team, escalation request please. Thanks!"))) == "reason_requested"


def test_after_asking_for_the_reason_the_next_comment_with_a_reason_escalates() -> None:
    asked = ticket(
        comment(2, "Escalation request"),
        comment(3, "Escalation request: invoices are wrong"),
        escalation={fields.HANDLED_THROUGH: "2"},
    )
    assert outcome(asked) == "escalated"


def test_asking_for_the_reason_makes_the_ticket_wait_for_it() -> None:
    (request,) = decide(ticket(comment(2, "Escalation request")), SETTINGS, NOW).updates
    assert request.tags == ("export", fields.TAG_REASON_REQUESTED)
    assert request.message is not None
    assert request.message.context["answer_by"] == NOW - timedelta(minutes=5) + REASON_WINDOW
    assert request.message.context["help_center_link"] == ""


def test_the_request_for_the_reason_links_the_help_center_form_where_there_is_one() -> None:
    with_help_center = replace(SETTINGS, help_center_url="https://acme.zendesk.com/hc/")
    (request,) = decide(ticket(comment(2, "Escalation request")), with_help_center, NOW).updates
    assert request.message is not None
    assert request.message.context["help_center_link"] == "https://acme.zendesk.com/hc/requests/42"


def waiting_for_reason(*comments: Comment, asked_at: datetime = NOW - timedelta(hours=2)) -> TicketSnapshot:
    """A ticket whose customer wrote the phrase alone (comment 2, at `asked_at`) and was asked for the reason."""
    return ticket(
        Comment(2, REQUESTER, "Escalation request", True, asked_at),
        *comments,
        escalation={fields.HANDLED_THROUGH: "2"},
        tags=("export", fields.TAG_REASON_REQUESTED),
    )


def test_the_customers_answer_to_the_request_for_a_reason_is_the_reason_and_escalates() -> None:
    decision = decide(waiting_for_reason(comment(3, "Our invoices cannot be sent since Monday.")), SETTINGS, NOW)
    assert decision.outcome == "escalated"
    record, confirmation = decision.updates
    assert record.fields[fields.REASON] == "Our invoices cannot be sent since Monday."
    assert record.fields[fields.HANDLED_THROUGH] == "3"
    assert record.fields[fields.REQUESTED_BY] == str(REQUESTER)
    assert fields.TAG_REASON_REQUESTED not in (record.tags or ())
    assert confirmation.message is not None and confirmation.message.template == "confirmation"


def test_a_thank_you_without_a_reason_is_not_the_answer_and_the_ticket_keeps_waiting() -> None:
    assert outcome(waiting_for_reason(comment(3, "Thanks!"))) == "ignored"
    later = waiting_for_reason(comment(3, "Thanks!"), comment(4, "The invoices cannot be sent."))
    assert decide(later, SETTINGS, NOW).updates[0].fields[fields.REASON] == "The invoices cannot be sent."


def test_a_customer_who_declines_in_reply_is_not_escalated() -> None:
    declined = waiting_for_reason(comment(3, "Sorry, this is not an escalation request after all."))
    assert outcome(declined) == "ignored"


def test_an_emailed_answer_quoting_the_thread_is_still_the_reason() -> None:
    quote = "On Fri, 27 Nov 2026 at 10:00, Ana <ana@example.com> wrote:\n> Escalation request"
    body = f"The invoices are blocked.\n\n{quote}"
    answered = decide(waiting_for_reason(comment(3, body)), SETTINGS, NOW)
    assert answered.outcome == "escalated" and answered.updates[0].fields[fields.REASON] == "The invoices are blocked."


def test_only_the_customer_who_was_asked_answers_with_the_reason() -> None:
    assert outcome(waiting_for_reason(comment(3, "I see the same problem here.", author=COLLEAGUE))) == "ignored"
    assert outcome(waiting_for_reason(comment(3, "Please try again.", author=AGENT))) == "ignored"
    assert outcome(waiting_for_reason(comment(3, "Our invoices are blocked.", public=False))) == "ignored"


def test_an_answer_after_the_window_is_an_ordinary_comment_and_ends_the_wait() -> None:
    late = waiting_for_reason(
        comment(3, "Our invoices cannot be sent since Monday."), asked_at=NOW - REASON_WINDOW - timedelta(hours=1)
    )
    decision = decide(late, SETTINGS, NOW)
    assert decision.outcome == "reason_wait_ended"
    (ended,) = decision.updates
    assert ended.message is None and ended.fields == {}
    assert ended.tags == ("export",)


def test_while_the_window_is_open_an_answer_just_inside_it_still_counts() -> None:
    asked_at = NOW - REASON_WINDOW + timedelta(minutes=10)
    assert outcome(waiting_for_reason(comment(3, "Invoices are blocked."), asked_at=asked_at)) == "escalated"


def test_a_second_comment_with_only_the_phrase_is_asked_again_for_the_reason() -> None:
    decision = decide(waiting_for_reason(comment(3, "Escalation request, please!")), SETTINGS, NOW)
    assert decision.outcome == "reason_requested"
    (request,) = decision.updates
    assert request.fields == {fields.HANDLED_THROUGH: "3"}
    assert request.tags == ("export", fields.TAG_REASON_REQUESTED)
    assert request.message is not None
    assert request.message.context["answer_by"] == NOW - timedelta(minutes=5) + REASON_WINDOW


def test_the_phrase_with_a_reason_while_waiting_escalates_with_that_reason() -> None:
    decision = decide(waiting_for_reason(comment(3, "Escalation request: invoices are blocked")), SETTINGS, NOW)
    assert decision.outcome == "escalated"
    assert decision.updates[0].fields[fields.REASON] == "invoices are blocked"


def test_a_ticket_waiting_for_a_reason_it_can_no_longer_find_stops_waiting() -> None:
    forgotten = ticket(escalation={fields.HANDLED_THROUGH: "2"}, tags=("export", fields.TAG_REASON_REQUESTED))
    assert outcome(forgotten) == "reason_wait_ended"


# Crash safety: what the ticket records drives what is still owed


def test_a_confirmation_still_owed_is_sent_once_and_nothing_is_recorded_again() -> None:
    pending = ticket(
        escalation={**ESCALATED, fields.HANDLED_THROUGH: "1"},
        tags=("export", "escalated", fields.TAG_CONFIRMATION_PENDING),
    )
    decision = decide(pending, SETTINGS, NOW)
    assert decision.outcome == "confirmation_resent"
    (confirmation,) = decision.updates
    assert confirmation.message.template == "confirmation" and not confirmation.fields
    assert confirmation.tags == ("export", "escalated")


def test_the_field_datetimes_are_iso_utc_text() -> None:
    assert iso(datetime(2026, 11, 27, 16, 4, 5, tzinfo=ZoneInfo("Europe/Berlin"))) == "2026-11-27T15:04:05Z"


def test_customer_messages_are_for_the_commenting_customers_locale() -> None:
    people = {
        **PEOPLE,
        COLLEAGUE: replace(PEOPLE[COLLEAGUE], locale="de"),
        REQUESTER: replace(PEOPLE[REQUESTER], locale="fr"),
    }
    by_colleague = decide(
        ticket(comment(2, "Escalation request: prod down", author=COLLEAGUE), people=people), SETTINGS, NOW
    )
    assert by_colleague.updates[1].message.locale == "de"
    assert by_colleague.updates[0].message.locale is None  # the managers' note: the account's language
    by_requester = decide(ticket(comment(2, "Escalation request"), people=people), SETTINGS, NOW)
    assert by_requester.updates[0].message.locale == "fr"


# Following up an escalation: acknowledged, overdue, resolved

MANAGER = 30
WITH_MANAGERS = replace(SETTINGS, manager_ids=frozenset({MANAGER}))
PEOPLE_WITH_MANAGER = {**PEOPLE, MANAGER: Person(MANAGER, "Maya Manager", "maya@vendor.test", "agent")}
REQUESTED = ESCALATED
ESCALATED_TAGS = ("export", "escalated", "escalation_status_requested")


def reply(comment_id: int, author: int, at: datetime, public: bool = True) -> Comment:
    return Comment(comment_id, author, "Hello, I am looking into this now.", public, at)


def follow_up(snapshot: TicketSnapshot, now: datetime = NOW) -> Decision:
    return decide(replace(snapshot, people=PEOPLE_WITH_MANAGER), WITH_MANAGERS, now)


def test_a_managers_first_public_reply_after_the_escalation_acknowledges_it() -> None:
    answered_at = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    decision = follow_up(ticket(reply(6, MANAGER, answered_at), escalation=REQUESTED, tags=ESCALATED_TAGS))
    assert decision.outcome == "acknowledged"
    (update,) = decision.updates
    assert update.message is None  # the customer already has the manager's reply; nothing more is sent
    assert update.fields == {
        fields.STATUS: "escalation_status_acknowledged",
        fields.ACKNOWLEDGED_AT: "2026-11-27T12:30:00Z",
        fields.ACKNOWLEDGED_BY: str(MANAGER),
    }
    assert update.tags == ("export", "escalated", "escalation_status_acknowledged")


def test_replies_by_the_engineer_or_internal_notes_by_a_manager_do_not_acknowledge() -> None:
    answered_at = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    by_engineer = ticket(reply(6, AGENT, answered_at), escalation=REQUESTED, tags=ESCALATED_TAGS)
    note = ticket(reply(6, MANAGER, answered_at, public=False), escalation=REQUESTED, tags=ESCALATED_TAGS)
    assert follow_up(by_engineer).outcome == "ignored" and follow_up(note).outcome == "ignored"


def test_a_managers_reply_from_before_the_escalation_does_not_acknowledge_it() -> None:
    earlier = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert follow_up(ticket(reply(4, MANAGER, earlier), escalation=REQUESTED, tags=ESCALATED_TAGS)).outcome == "ignored"


def test_an_unacknowledged_escalation_past_its_due_time_is_marked_overdue_with_one_note() -> None:
    late = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    decision = follow_up(ticket(escalation=REQUESTED, tags=ESCALATED_TAGS), late)
    assert decision.outcome == "overdue"
    (update,) = decision.updates
    assert update.message is not None and update.message.template == "overdue_note" and not update.message.public
    assert update.tags is not None and "escalation_overdue" in update.tags
    assert not update.fields


def test_overdue_is_noted_only_once() -> None:
    late = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    noted = ticket(escalation=REQUESTED, tags=(*ESCALATED_TAGS, "escalation_overdue"))
    assert follow_up(noted, late).outcome == "ignored"


def test_an_escalation_is_not_overdue_before_its_due_time_or_once_acknowledged() -> None:
    assert follow_up(ticket(escalation=REQUESTED, tags=ESCALATED_TAGS)).outcome == "ignored"
    acknowledged = {**REQUESTED, fields.STATUS: "escalation_status_acknowledged"}
    late = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    assert follow_up(ticket(escalation=acknowledged, tags=ESCALATED_TAGS), late).outcome == "ignored"


def test_acknowledging_late_keeps_the_overdue_tag_as_history() -> None:
    answered_at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    overdue = ticket(reply(6, MANAGER, answered_at), escalation=REQUESTED, tags=(*ESCALATED_TAGS, "escalation_overdue"))
    (update,) = follow_up(overdue, answered_at).updates
    assert update.tags is not None and {"escalation_overdue", "escalation_status_acknowledged"} <= set(update.tags)
    assert "escalation_status_requested" not in update.tags


def test_solving_the_ticket_resolves_the_escalation() -> None:
    decision = follow_up(ticket(escalation=REQUESTED, tags=ESCALATED_TAGS, status="solved"))
    assert decision.outcome == "resolved"
    (update,) = decision.updates
    assert update.fields == {fields.STATUS: "escalation_status_resolved", fields.RESOLVED_AT: "2026-11-27T15:00:00Z"}
    assert update.tags is not None and "escalation_status_resolved" in update.tags and "escalated" in update.tags


def test_a_resolved_escalation_is_left_alone_and_still_refuses_a_second_one() -> None:
    resolved = {**REQUESTED, fields.STATUS: "escalation_status_resolved"}
    reopened = ticket(comment(6, "Escalation request: it broke again"), escalation=resolved, status="open")
    decision = follow_up(reopened)
    assert decision.outcome == "refused" and len(decision.updates) == 1


def test_a_refusal_and_a_follow_up_in_one_decision_keep_each_others_tags() -> None:
    late = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    decision = follow_up(
        ticket(comment(6, "Escalation request: again"), escalation=REQUESTED, tags=ESCALATED_TAGS), late
    )
    refusal, overdue = decision.updates
    assert refusal.purpose == "refusal" and overdue.purpose == "overdue"
    assert overdue.tags is not None and {"escalation_blocked", "escalation_overdue"} <= set(overdue.tags)


def test_who_the_managers_are_is_only_needed_for_staff_replies_to_a_requested_escalation() -> None:
    answered_at = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    assert not staff_replies(ticket(comment(2, "Escalation request: prod down")))
    assert not staff_replies(ticket(escalation=REQUESTED))
    assert staff_replies(ticket(reply(6, AGENT, answered_at), escalation=REQUESTED))
    acknowledged = {**REQUESTED, fields.STATUS: "escalation_status_acknowledged"}
    assert not staff_replies(ticket(reply(6, AGENT, answered_at), escalation=acknowledged))


def test_the_services_own_confirmation_is_not_a_reply_that_asks_who_the_managers_are() -> None:
    answered_at = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    confirmed = ticket(reply(6, SERVICE, answered_at), escalation=REQUESTED)
    assert staff_replies(confirmed) and not staff_replies(confirmed, service_user_id=SERVICE)
    (manager,) = staff_replies(
        ticket(reply(6, SERVICE, answered_at), reply(7, AGENT, answered_at), escalation=REQUESTED),
        service_user_id=SERVICE,
    )
    assert manager.author_id == AGENT


def test_the_services_own_confirmation_never_acknowledges_even_when_its_user_is_one_of_the_managers() -> None:
    # The admin whose token the service uses is often in the managers' group; an engineer's reply then makes
    # the policy look at who the managers are, and the service's own confirmation must not be taken for theirs.
    confirmed_at, answered_at = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    managers_with_service = replace(SETTINGS, manager_ids=frozenset({MANAGER, SERVICE}))
    people = {**PEOPLE_WITH_MANAGER}
    engineer_replied = ticket(
        reply(6, SERVICE, confirmed_at), reply(7, AGENT, answered_at), escalation=REQUESTED, tags=ESCALATED_TAGS
    )
    assert decide(replace(engineer_replied, people=people), managers_with_service, NOW).outcome == "ignored"
    manager_replied = replace(engineer_replied, comments=(*engineer_replied.comments, reply(8, MANAGER, NOW)))
    decision = decide(replace(manager_replied, people=people), managers_with_service, NOW)
    assert decision.outcome == "acknowledged"
    assert decision.updates[0].fields[fields.ACKNOWLEDGED_BY] == str(MANAGER)


# Notifications for managers: marked as owed by the write that makes the event, claimed by a later write

ALL_EVENTS = frozenset(fields.NOTIFY_EVENTS)
NOTIFYING = replace(WITH_MANAGERS, notify_events=ALL_EVENTS)
OWED = "escalation_notification_owed"


def notifying(snapshot: TicketSnapshot, now: datetime = NOW, events: frozenset[str] = ALL_EVENTS) -> Decision:
    settings = replace(NOTIFYING, notify_events=events)
    return decide(replace(snapshot, people=PEOPLE_WITH_MANAGER), settings, now)


def claims(decision: Decision) -> list[tuple[str, str]]:
    """(the write's purpose, the event it claims), in the order they are written."""
    return [(update.purpose, claim.event) for update in decision.updates for claim in update.claims]


def marks(tags: tuple[str, ...] | None) -> set[str]:
    return {tag for tag in tags or () if tag.startswith("escalation_notif")}


def test_without_notifications_nothing_is_marked_or_claimed_and_the_writes_stay_the_same() -> None:
    escalation = ticket(comment(2, "Escalation request: production is down since Monday."))
    decision = decide(escalation, SETTINGS, NOW)
    assert [u.purpose for u in decision.updates] == ["escalation_record", "confirmation"]
    assert all(not marks(u.tags) and not u.claims for u in decision.updates)
    late = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    overdue = decide(
        replace(ticket(escalation=REQUESTED, tags=ESCALATED_TAGS), people=PEOPLE_WITH_MANAGER), SETTINGS, late
    )
    assert [u.purpose for u in overdue.updates] == ["overdue"] and not marks(overdue.updates[0].tags)


def test_an_escalation_marks_its_notification_owed_and_the_customers_confirmation_claims_it() -> None:
    decision = notifying(ticket(comment(2, "Escalation request: production is down since Monday.")))
    record, confirmation = decision.updates  # no extra write: the confirmation is the claim
    assert marks(record.tags) == {"escalation_notify_escalated", OWED} and not record.claims
    assert not marks(confirmation.tags)
    (notification,) = confirmation.claims
    assert notification.event == "escalated" and notification.ticket_id == 42
    assert notification.subject == "Export fails" and notification.customer_name == "Ana Customer"
    assert notification.reason == "production is down since Monday."
    assert notification.response_due == datetime(2026, 11, 30, 15, tzinfo=UTC) and notification.overdue_by is None


def test_a_refusal_is_claimed_by_a_tags_only_write_after_it() -> None:
    decision = notifying(ticket(comment(6, "Escalation request: again"), escalation=REQUESTED, tags=ESCALATED_TAGS))
    refusal, claim = decision.updates
    assert decision.outcome == "refused"
    assert marks(refusal.tags) == {"escalation_notify_refused", OWED} and not refusal.claims
    assert claim.purpose == "notification_claim" and claim.message is None and not claim.fields
    assert claim.tags == tuple(t for t in refusal.tags or () if t not in marks(refusal.tags))
    assert [n.event for n in claim.claims] == ["refused"]


def test_an_overdue_escalation_is_announced_with_how_long_it_is_past_due() -> None:
    late = datetime(2026, 11, 30, 13, 30, tzinfo=UTC)  # due at 10:00
    decision = notifying(ticket(escalation=REQUESTED, tags=ESCALATED_TAGS), late)
    assert claims(decision) == [("notification_claim", "overdue")]
    assert decision.updates[-1].claims[0].overdue_by == timedelta(hours=3, minutes=30)


def test_a_managers_reply_is_announced_as_acknowledged_with_the_managers_name() -> None:
    answered_at = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    decision = notifying(ticket(reply(6, MANAGER, answered_at), escalation=REQUESTED, tags=ESCALATED_TAGS))
    assert claims(decision) == [("notification_claim", "acknowledged")]
    assert decision.updates[-1].claims[0].acknowledged_by == "Maya Manager"


def test_acknowledged_and_solved_at_once_announces_both() -> None:
    answered_at = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    solved = ticket(reply(6, MANAGER, answered_at), escalation=REQUESTED, tags=ESCALATED_TAGS, status="solved")
    assert sorted(event for _, event in claims(notifying(solved))) == ["acknowledged", "resolved"]


def test_only_the_events_the_managers_want_are_marked() -> None:
    late = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    decision = notifying(ticket(escalation=REQUESTED, tags=ESCALATED_TAGS), late, frozenset({"escalated"}))
    assert [u.purpose for u in decision.updates] == ["overdue"] and not marks(decision.updates[0].tags)


def test_a_mark_left_by_a_run_that_stopped_after_the_event_is_claimed_by_the_next_decision() -> None:
    left = ticket(escalation=REQUESTED, tags=(*ESCALATED_TAGS, "escalation_blocked", "escalation_notify_refused", OWED))
    decision = notifying(left)
    assert decision.outcome == "notification_claimed"
    (claim,) = decision.updates
    assert claim.tags == (*ESCALATED_TAGS, "escalation_blocked") and [n.event for n in claim.claims] == ["refused"]
    assert notifying(replace(left, tags=claim.tags or ())).outcome == "ignored"  # claimed once: nothing after


def test_a_confirmation_still_owed_also_claims_the_escalations_notification() -> None:
    pending = ticket(
        escalation={**ESCALATED, fields.HANDLED_THROUGH: "1", fields.REQUESTED_BY: str(COLLEAGUE)},
        tags=("export", "escalated", fields.TAG_CONFIRMATION_PENDING, "escalation_notify_escalated", OWED),
    )
    decision = notifying(pending)
    assert claims(decision) == [("confirmation", "escalated")]
    (notification,) = decision.updates[0].claims
    assert notification.customer_name == "Ben Colleague" and notification.reason == "Production down"


def test_a_mark_for_an_event_no_longer_wanted_is_cleared_without_a_notification() -> None:
    left = ticket(escalation=REQUESTED, tags=(*ESCALATED_TAGS, "escalation_notify_refused", OWED))
    decision = notifying(left, events=frozenset({"escalated"}))
    (claim,) = decision.updates
    assert claim.tags == ESCALATED_TAGS and claim.claims == ()


def test_with_notifications_switched_off_marks_are_left_for_when_they_are_on_again() -> None:
    left = ticket(escalation=REQUESTED, tags=(*ESCALATED_TAGS, "escalation_notify_refused", OWED))
    assert decide(replace(left, people=PEOPLE_WITH_MANAGER), WITH_MANAGERS, NOW) == Decision("ignored")


def test_an_earlier_claim_and_a_new_event_in_one_decision_are_each_claimed_once() -> None:
    pending = ticket(
        comment(6, "Escalation request: again"),
        escalation={**ESCALATED, fields.HANDLED_THROUGH: "5"},
        tags=(*ESCALATED_TAGS, fields.TAG_CONFIRMATION_PENDING, "escalation_notify_escalated", OWED),
    )
    late = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    decision = notifying(pending, late)
    assert [u.purpose for u in decision.updates] == ["confirmation", "refusal", "overdue", "notification_claim"]
    assert claims(decision) == [
        ("confirmation", "escalated"),
        ("notification_claim", "overdue"),
        ("notification_claim", "refused"),
    ]
    assert not marks(decision.updates[-1].tags)


# Tickets kept out of the process, and brands


GLOBEX, GLOBEX_MANAGERS = 72, 8
KEEPING_OUT = replace(SETTINGS, excluded_tags=frozenset({"vip", "key_account"}), excluded_brand_ids=frozenset({GLOBEX}))


def test_an_attempt_on_a_ticket_with_an_excluded_tag_gets_no_answer() -> None:
    vip = ticket(comment(2, "Escalation request: production is down."), tags=("export", "vip"))
    decision = decide(vip, KEEPING_OUT, NOW)
    assert decision.outcome == "excluded" and decision.updates == ()
    assert outcome(vip) == "escalated"  # the same ticket, with nothing excluded


def test_an_attempt_on_a_ticket_of_an_excluded_brand_gets_no_answer() -> None:
    globex = ticket(comment(2, "Escalation request: production is down."), brand_id=GLOBEX)
    assert decide(globex, KEEPING_OUT, NOW).outcome == "excluded"
    assert outcome(replace(globex, brand_id=71), KEEPING_OUT) == "escalated"


def test_a_repeat_on_a_ticket_kept_out_after_its_escalation_is_not_answered_either() -> None:
    later_vip = ticket(comment(6, "Escalation request: again!"), escalation=ESCALATED, tags=("escalated", "vip"))
    assert decide(later_vip, KEEPING_OUT, NOW).outcome == "excluded"


def test_an_escalation_recorded_before_the_ticket_was_kept_out_is_still_confirmed_and_followed_up() -> None:
    owed = ticket(escalation=ESCALATED, tags=("escalated", fields.TAG_CONFIRMATION_PENDING, "vip"))
    assert decide(owed, KEEPING_OUT, NOW).outcome == "confirmation_resent"
    solved = ticket(escalation=ESCALATED, tags=("escalated", "escalation_status_requested", "vip"), status="solved")
    assert decide(solved, KEEPING_OUT, NOW).outcome == "resolved"


def test_a_brands_escalations_go_to_its_own_managers_group_and_the_others_to_the_default_one() -> None:
    routed = replace(SETTINGS, brand_group_ids={GLOBEX: GLOBEX_MANAGERS})
    globex = decide(ticket(comment(2, "Escalation request: down."), brand_id=GLOBEX), routed, NOW)
    acme = decide(ticket(comment(2, "Escalation request: down."), brand_id=71), routed, NOW)
    unknown = decide(ticket(comment(2, "Escalation request: down.")), routed, NOW)
    assert [d.updates[0].group_id for d in (globex, acme, unknown)] == [GLOBEX_MANAGERS, MANAGERS, MANAGERS]


def test_a_brands_managers_acknowledge_its_escalations() -> None:
    requested = {**ESCALATED, fields.REQUESTED_AT: "2026-11-27T10:00:00Z"}
    reply = Comment(7, AGENT, "Hello Ana, I am the Support Manager on your case.", True, NOW)
    escalated = ticket(reply, escalation=requested, tags=("escalated", "escalation_status_requested"), brand_id=GLOBEX)
    assert staff_replies(escalated)
    assert decide(escalated, replace(SETTINGS, manager_ids=frozenset({AGENT})), NOW).outcome == "acknowledged"
    assert decide(escalated, SETTINGS, NOW).outcome == "ignored"  # the reply was not by one of its managers


def test_the_messages_name_the_tickets_brand_when_it_is_known() -> None:
    named = replace(SETTINGS, brand_names={GLOBEX: "Globex"})
    decision = decide(ticket(comment(2, "Escalation request: down."), brand_id=GLOBEX), named, NOW)
    note, confirmation = (update.message for update in decision.updates)
    assert note is not None and confirmation is not None
    assert note.context["brand"] == "Globex" and confirmation.context["brand"] == "Globex"
    unnamed = decide(ticket(comment(2, "Escalation request: down.")), named, NOW)
    assert all(u.message is not None and u.message.context["brand"] == "" for u in unnamed.updates)
