"""The words customers and managers read."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

from escalations.core import fields
from escalations.core.messages import TEMPLATE_NAMES, MessageRenderer
from escalations.core.policy import decide
from escalations.core.text import PHRASE, asks_for_escalation
from escalations.core.tickets import Message
from tests.test_policy import ESCALATED, NOW, PEOPLE, REQUESTER, SETTINGS, comment, ticket

UTC_ZONE = ZoneInfo("UTC")


def rendered_messages(renderer: MessageRenderer) -> dict[str, str]:
    escalated = decide(ticket(comment(2, "Escalation request: {{ticket.requester.email}} prod down")), SETTINGS, NOW)
    refused = decide(ticket(comment(6, "Escalation request: again"), escalation=ESCALATED), SETTINGS, NOW)
    asked = decide(ticket(comment(2, "Escalation request")), SETTINGS, NOW)
    updates = [*escalated.updates, *refused.updates, *asked.updates]
    return {update.message.template: renderer.render(update.message) for update in updates if update.message}


def test_every_message_renders_with_the_facts_the_policy_promises() -> None:
    messages = rendered_messages(MessageRenderer(UTC_ZONE))
    assert set(messages) == {"confirmation", "refusal", "reason_request", "manager_note"} <= set(TEMPLATE_NAMES)
    confirmation = messages["confirmation"]
    for promise in (
        "Support Manager",
        "contact details on this case",
        "The first response is due by Monday, November 30, 2026, 3:00\u00a0PM (UTC)",
        "does not by itself make the resolution faster",
        "escalated only once",
    ):
        assert promise in confirmation
    refusal = messages["refusal"]
    for promise in (
        "escalated only once",
        "A Support Manager has not contacted you yet; the first response is due by Monday, November 30, 2026",
        "update",
        "higher severity",
    ):
        assert promise in refusal
    for promise in ("reply to this message with the reason by Friday, December 4, 2026", "not been escalated yet"):
        assert promise in messages["reason_request"]
    note = messages["manager_note"]
    for fact in (
        "Customer: Ana Customer, ana@example.com, +1 555 0100",
        "Friday, November 27, 2026, 3:00\u00a0PM (UTC)",
        "Monday, November 30, 2026, 3:00\u00a0PM (UTC)",
        "prod down",
        "Sam Engineer",
    ):
        assert fact in note


def test_no_message_promises_opening_days_the_calendar_does_not_state() -> None:
    for name, text in rendered_messages(MessageRenderer(UTC_ZONE)).items():
        for promise in ("Monday to Friday", "weekdays", "24 hours"):
            assert promise not in text, f"{name}: {promise}"


def test_the_confirmation_says_how_the_manager_will_reach_the_customer() -> None:
    renderer = MessageRenderer(UTC_ZONE)
    body = "Escalation request: prod down\n\nNew contact details: +44 20 7946 0958"
    given = renderer.render(decide(ticket(comment(2, body)), SETTINGS, NOW).updates[1].message)
    assert "contact you at +44 20 7946 0958, as you asked." in given
    assert "reach you another way" not in given and "contact details on this case" not in given


def test_the_refusal_tells_a_customer_who_had_a_reply_when_it_came() -> None:
    replied = {
        **ESCALATED,
        fields.STATUS: "escalation_status_acknowledged",
        fields.ACKNOWLEDGED_AT: "2026-11-27T12:00:00Z",
    }
    decision = decide(ticket(comment(6, "Escalation request: again"), escalation=replied), SETTINGS, NOW)
    text = MessageRenderer(UTC_ZONE).render(decision.updates[0].message)
    assert "A Support Manager replied to you on Friday, November 27, 2026, 12:00\u00a0PM (UTC)" in text
    assert "has not contacted you" not in text


def test_the_request_for_a_reason_links_the_help_center_where_there_is_one() -> None:
    settings = replace(SETTINGS, help_center_url="https://acme.zendesk.com/hc")
    text = MessageRenderer(UTC_ZONE).render(
        decide(ticket(comment(2, "Escalation request")), settings, NOW).updates[0].message
    )
    assert "from your request in our Help Center: https://acme.zendesk.com/hc/requests/42" in text


def test_times_name_the_customers_own_time_zone() -> None:
    people = {**PEOPLE, REQUESTER: replace(PEOPLE[REQUESTER], time_zone="America/New_York")}
    decision = decide(ticket(comment(2, "Escalation request: prod down"), people=people), SETTINGS, NOW)
    note, confirmation = (MessageRenderer(UTC_ZONE).render(update.message) for update in decision.updates)
    assert "by Monday, November 30, 2026, 10:00\u00a0AM (Eastern Standard Time)" in confirmation
    assert "Monday, November 30, 2026, 3:00\u00a0PM (UTC)" in note


def test_the_managers_note_has_no_internal_ids_and_names_new_contact_details_once() -> None:
    body = "Escalation request: prod down\n\nNew contact details: +44 20 7946 0958"
    note = MessageRenderer(UTC_ZONE).render(decide(ticket(comment(2, body)), SETTINGS, NOW).updates[0].message)
    assert note.count("+44 20 7946 0958") == 1
    assert "comment 2" not in note and "from comment" not in note


def test_no_message_contains_the_escalation_phrase_so_quoted_replies_never_escalate() -> None:
    for name, text in rendered_messages(MessageRenderer(UTC_ZONE)).items():
        if name != "manager_note":  # internal notes are never emailed to the customer
            assert not PHRASE.search(text), name
            assert not asks_for_escalation(f"Thanks!\n\n{text}")


def test_customer_text_cannot_become_a_zendesk_placeholder() -> None:
    note = rendered_messages(MessageRenderer(UTC_ZONE))["manager_note"]
    assert "{{" not in note and "{ {ticket.requester.email} }" in note


def test_an_admin_override_replaces_the_shipped_template(tmp_path: Path) -> None:
    (tmp_path / "refusal.txt").write_text("Already escalated on {{ requested_at | datetime }}. One per case.")
    renderer = MessageRenderer(UTC_ZONE, tmp_path)
    assert renderer.problems == []
    assert rendered_messages(renderer)["refusal"].startswith("Already escalated on Friday, November 27, 2026")


def test_a_broken_override_is_reported_with_file_and_line_and_the_shipped_template_is_used(tmp_path: Path) -> None:
    (tmp_path / "confirmation.txt").write_text("Hello\n{% if %}\n")
    (tmp_path / "refusal.txt").write_text("Hello {{ no_such_variable }}")
    (tmp_path / "reason_request.txt").write_text("Please send your escalation request again")
    renderer = MessageRenderer(UTC_ZONE, tmp_path)
    problems = {problem.template: str(problem) for problem in renderer.problems}
    assert f"{tmp_path / 'confirmation.txt'}:2: syntax error" in problems["confirmation"]
    assert "unknown variable" in problems["refusal"] and "no_such_variable" in problems["refusal"]
    assert "contains the escalation phrase" in problems["reason_request"]
    messages = rendered_messages(renderer)
    assert "Support Manager" in messages["confirmation"] and "higher severity" in messages["refusal"]


def test_a_message_is_plain_text_ending_in_one_newline() -> None:
    context = {"ticket_id": 7, "answer_by": NOW, "help_center_link": ""}
    text = MessageRenderer(UTC_ZONE).render(Message("reason_request", True, context))
    assert text.endswith("\n") and not text.endswith("\n\n") and "#7" in text


def test_the_confirmation_is_signed_for_the_tickets_brand_in_every_shipped_language() -> None:
    renderer = MessageRenderer(UTC_ZONE)
    signatures = {
        "en": "Support Management, Globex",
        "de": "Ihr Support-Management, Globex",
        "fr": "La direction du support, Globex",
        "es": "Dirección de Soporte, Globex",
        "pt-BR": "Gestão de Suporte, Globex",
        "ja": "Globex サポートマネジメントチーム",
    }
    for locale, signature in signatures.items():
        for brand, last_line in (("Globex", signature), ("", signature.replace(", Globex", "").replace("Globex ", ""))):
            message = Message(
                "confirmation",
                True,
                {"ticket_id": 7, "response_due": NOW, "contact_details": (), "brand": brand},
                locale,
            )
            assert renderer.render(message).rstrip().splitlines()[-1] == last_line, (locale, brand)


def test_the_managers_note_names_the_brand_and_overrides_may_use_it(tmp_path: Path) -> None:
    named = decide(
        ticket(comment(2, "Escalation request: down."), brand_id=72), replace(SETTINGS, brand_names={72: "Globex"}), NOW
    )
    renderer = MessageRenderer(UTC_ZONE)
    note = next(u.message for u in named.updates if u.message is not None and u.message.template == "manager_note")
    assert "Brand: Globex" in renderer.render(note)
    (tmp_path / "refusal.txt").write_text("This {{ brand }} case was escalated already.\n", encoding="utf-8")
    overridden = MessageRenderer(UTC_ZONE, tmp_path)
    assert overridden.problems == []
    refused = decide(
        ticket(comment(6, "Escalation request: again"), escalation=ESCALATED, brand_id=72),
        replace(SETTINGS, brand_names={72: "Globex"}),
        NOW,
    )
    refusal = next(u.message for u in refused.updates if u.message is not None and u.message.template == "refusal")
    assert overridden.render(refusal) == "This Globex case was escalated already.\n"
