"""The words customers and managers read."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

from plugin.messages import TEMPLATE_NAMES, MessageRenderer
from plugin.policy import Message, decide
from plugin.text import PHRASE, asks_for_escalation
from tests.test_policy import ESCALATED, NOW, SETTINGS, comment, ticket

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
        "contact details",
        "24 hours",
        "weekdays",
        "Monday, November 30, 2026, 3:00\u00a0PM (UTC)",
        "does not by itself make the resolution faster",
        "escalated only once",
    ):
        assert promise in confirmation
    refusal = messages["refusal"]
    for promise in ("escalated only once", "update", "higher severity"):
        assert promise in refusal
    assert "reason" in messages["reason_request"]
    note = messages["manager_note"]
    for fact in (
        "Ana Customer",
        "Friday, November 27, 2026, 3:00\u00a0PM (UTC)",
        "Monday, November 30, 2026, 3:00\u00a0PM (UTC)",
        "prod down",
        "Sam Engineer",
    ):
        assert fact in note


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
    text = MessageRenderer(UTC_ZONE).render(Message("reason_request", True, {"ticket_id": 7}))
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
            message = Message("confirmation", True, {"ticket_id": 7, "response_due": NOW, "brand": brand}, locale)
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
