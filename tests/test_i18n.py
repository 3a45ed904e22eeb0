"""Customers read our replies in their own language.

Every shipped locale renders every customer message with realistic data, and
the result is compared with the reviewed files in tests/snapshots/<locale>/.
After changing a template, regenerate them and read the diff:

    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_i18n.py
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest

from escalations.config import ConfigError, load_settings
from escalations.core import fields
from escalations.core.calendar import WorkingCalendar
from escalations.core.locales import fallbacks, normalise
from escalations.core.messages import SHIPPED, TEMPLATE_NAMES, MessageRenderer
from escalations.core.policy import decide
from escalations.core.text import DEFAULT_PHRASES, Phrases, asks_for_escalation, reason_for_escalation
from escalations.core.tickets import Comment, Message, Person, PolicySettings, TicketSnapshot
from escalations.service.sweep import tickets_needing_attention
from escalations.zendesk.desired import TRIGGER_TITLE, desired_trigger
from tests.conftest import Service, wait_until

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"

LOCALES = ("en", "de", "fr", "es", "pt-BR", "ja")
CUSTOMER_MESSAGES = ("confirmation", "refusal", "reason_request")

BERLIN_TZ = "Europe/Berlin"
NOW = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)  # Friday 15:30 in Berlin
CUSTOMER, COLLEAGUE, ENGINEER, SERVICE = 10, 11, 20, 99
MANAGERS, SUPPORT = 7, 3

# What admins in these countries would plausibly configure; no message may contain any of them.
NATIVE_PHRASES = Phrases.of(
    {
        "en": ["escalation request"],
        "de": ["Eskalationsanfrage", "Eskalationsantrag", "Eskalationswunsch", "escalation request"],
        "fr": ["demande d'escalade", "demande d'escalation", "escalation request"],
        "es": ["solicitud de escalamiento", "solicitud de escalado", "solicitud de escalación", "escalation request"],
        "pt-BR": ["pedido de escalonamento", "solicitação de escalonamento", "pedido de escalação"],
        "ja": ["エスカレーション依頼", "エスカレーション要求", "エスカレーションリクエスト", "escalation request"],
    }
)


def settings(phrases: Phrases = DEFAULT_PHRASES) -> PolicySettings:
    return PolicySettings(
        manager_group_id=MANAGERS,
        calendar=WorkingCalendar.weekdays(ZoneInfo(BERLIN_TZ)),
        service_user_id=SERVICE,
        phrases=phrases,
    )


def renderer(override_dir: Path | None = None, phrases: Phrases = DEFAULT_PHRASES, **extra: Any) -> MessageRenderer:
    if override_dir is None and phrases == DEFAULT_PHRASES and not extra:
        return shipped_renderer()
    return MessageRenderer(ZoneInfo(BERLIN_TZ), override_dir, phrases, **extra)


@functools.cache
def shipped_renderer() -> MessageRenderer:
    """The renderer of the shipped templates, built once (a quarter of a second): without overrides nothing
    changes it after it is built."""
    return MessageRenderer(ZoneInfo(BERLIN_TZ))


def snapshot(locale: str | None, *bodies: str, escalation: dict[str, Any] | None = None) -> TicketSnapshot:
    people = {
        CUSTOMER: Person(CUSTOMER, "Ana Souza", "ana@example.com", "end-user", "+55 11 5555 0100", locale),
        COLLEAGUE: Person(COLLEAGUE, "Ben Colleague", "ben@example.com", "end-user", None, "en-US"),
        ENGINEER: Person(ENGINEER, "Sam Engineer", "sam@vendor.test", "agent"),
        SERVICE: Person(SERVICE, "Escalations", "api@vendor.test", "admin"),
    }
    comments = [Comment(1, CUSTOMER, "The nightly export fails with error 500.", True, NOW - timedelta(days=3))]
    comments += [
        Comment(index, CUSTOMER, body, True, NOW - timedelta(minutes=5)) for index, body in enumerate(bodies, start=6)
    ]
    return TicketSnapshot(
        id=48213,
        status="open",
        subject="Nightly export fails",
        requester_id=CUSTOMER,
        copied_ids=frozenset({COLLEAGUE}),
        group_id=SUPPORT,
        assignee_id=ENGINEER,
        tags=("export",),
        escalation=escalation or {},
        comments=tuple(comments),
        people=people,
        updated_at="2026-11-27T14:25:00Z",
        first_comment_id=1,
        group_names={SUPPORT: "Support"},
    )


ALREADY_ESCALATED = {
    fields.STATUS: "escalation_status_requested",
    fields.REASON: "Invoices are blocked",
    fields.REQUESTED_AT: "2026-11-26T15:45:00Z",  # Thursday 16:45 in Berlin
    fields.RESPONSE_DUE: "2026-11-27T15:45:00Z",  # not yet due
    fields.HANDLED_THROUGH: "5",
}


def messages(locale: str | None, render: MessageRenderer | None = None) -> dict[str, str]:
    """Every message the policy writes, for a customer whose Zendesk locale is `locale`."""
    render = render or renderer()
    reason = "the nightly export has failed since Monday and our invoicing is blocked."
    decisions = (
        decide(snapshot(locale, f"Escalation request: {reason}"), settings(), NOW),
        decide(snapshot(locale, "Escalation request"), settings(), NOW),
    )
    refused = decide(
        snapshot(locale, "Escalation request: still failing", escalation=ALREADY_ESCALATED), settings(), NOW
    )
    rendered: dict[str, str] = {}
    for decision in (*decisions, refused):
        for update in decision.updates:
            if update.message is not None and update.message.template not in rendered:
                assert update.message.template in (*CUSTOMER_MESSAGES, "manager_note")
                rendered[update.message.template] = render.render(update.message)
    return rendered


# ---- every locale, every message: reviewed snapshots -----------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_every_locale_renders_every_customer_message_like_its_reviewed_snapshot(locale: str) -> None:
    rendered = messages(locale)
    names = (*CUSTOMER_MESSAGES, "manager_note") if locale == "en" else CUSTOMER_MESSAGES
    for name in names:
        path = SNAPSHOTS / locale / f"{name}.txt"
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rendered[name], encoding="utf-8")
        assert path.is_file(), f"{path} is missing: run with UPDATE_SNAPSHOTS=1 and review it"
        assert rendered[name] == path.read_text(encoding="utf-8"), (
            f"{path} differs from what renders now: review the change, then run with UPDATE_SNAPSHOTS=1"
        )


def test_the_snapshots_are_exactly_the_shipped_locales_and_messages() -> None:
    found = {path.relative_to(SNAPSHOTS).as_posix() for path in SNAPSHOTS.rglob("*.txt")}
    expected = {f"{locale}/{name}.txt" for locale in LOCALES for name in CUSTOMER_MESSAGES} | {"en/manager_note.txt"}
    assert found == expected


# The facts every customer must read, in every language: who contacts them, when, once only, what to do instead.
FACTS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "confirmation": (
            "#48213",
            "A Support Manager, not the engineer",
            "contact details on this case",
            "The first response is due by Monday, November 30, 2026, 3:30\u00a0PM (Central European Standard Time)",
            "does not by itself make the resolution faster",
            "escalated only once",
            "add a comment",
        ),
        "refusal": (
            "Thursday, November 26, 2026, 4:45\u00a0PM",
            "escalated only once",
            "has not contacted you yet",
            "Friday, November 27, 2026, 4:45\u00a0PM",
            "Ask for an update",
            "higher severity",
        ),
        "reason_request": (
            "reply to this message with the reason",
            "Friday, December 4, 2026",
            "not been escalated yet",
        ),
    },
    "de": {
        "confirmation": (
            "#48213",
            "Ein Support-Manager – nicht die Person, die Ihren Fall derzeit bearbeitet",
            "hinterlegten Kontaktdaten",
            "bis Montag, 30. November 2026, 15:30 Uhr (Mitteleuropäische Normalzeit)",
            "allein dadurch wird die Lösung aber nicht schneller",
            "nur einmal eskaliert werden",
            "Kommentar",
        ),
        "refusal": (
            "am Donnerstag, 26. November 2026, um 16:45 Uhr",
            "nur einmal eskaliert werden",
            "noch nicht bei Ihnen gemeldet",
            "Freitag, 27. November 2026, 16:45 Uhr",
            "Zwischenstand",
            "höheren Schweregrad",
        ),
        "reason_request": ("auf diese Nachricht", "den Grund", "Freitag, 4. Dezember 2026", "noch nicht eskaliert"),
    },
    "fr": {
        "confirmation": (
            "n°\u00a048213",
            "Un responsable du support, et non la personne qui traite actuellement votre dossier",
            "coordonnées indiquées dans ce dossier",
            "au plus tard le lundi 30 novembre 2026 à 15:30 (heure normale d’Europe centrale)",
            "n’en accélère pas à elle seule la résolution",
            "qu’une seule fois",
            "ajouter un commentaire",
        ),
        "refusal": (
            "le jeudi 26 novembre 2026 à 16:45",
            "qu’une seule fois",
            "ne vous a encore contacté",
            "vendredi 27 novembre 2026 à 16:45",
            "point d’avancement",
            "gravité plus élevé",
        ),
        "reason_request": ("répondre à ce message", "le motif", "vendredi 4 décembre 2026", "pas encore été escaladé"),
    },
    "es": {
        "confirmation": (
            "n.º 48213",
            "Un responsable de soporte, y no la persona que trabaja actualmente en su caso",
            "datos de contacto que figuran en este caso",
            "a más tardar el lunes, 30 de noviembre de 2026, a las 15:30 (hora estándar de Europa central)",
            "no acelera por sí solo su resolución",
            "solo puede escalarse una vez",
            "añada un comentario",
        ),
        "refusal": (
            "el jueves, 26 de noviembre de 2026, a las 16:45",
            "solo puede escalarse una vez",
            "se ha puesto todavía en contacto",
            "viernes, 27 de noviembre de 2026, a las 16:45",
            "Solicite una actualización",
            "gravedad más alto",
        ),
        "reason_request": (
            "responda a este mensaje",
            "el motivo",
            "4 de diciembre de 2026",
            "todavía no se ha escalado",
        ),
    },
    "pt-BR": {
        "confirmation": (
            "nº 48213",
            "Um gerente de suporte, e não a pessoa que está atendendo seu chamado",
            "dados de contato informados neste chamado",
            "até segunda-feira, 30 de novembro de 2026, às 15:30 (Horário Padrão da Europa Central)",
            "por si só, não acelera a solução",
            "só pode ser escalado uma vez",
            "adicionar um comentário",
        ),
        "refusal": (
            "em 26 de novembro de 2026, às 16:45",
            "só pode ser escalado uma vez",
            "entrou em contato com você ainda",
            "27 de novembro de 2026, às 16:45",
            "Peça uma atualização",
            "severidade mais alta",
        ),
        "reason_request": ("responder a esta mensagem", "o motivo", "4 de dezembro de 2026", "ainda não foi escalado"),
    },
    "ja": {
        "confirmation": (
            "#48213",
            "現在本件を担当しているエンジニアではなく、サポートマネージャーが",
            "本件に登録されている連絡先",
            "2026年11月30日月曜日 15:30（中央ヨーロッパ標準時）までに",
            "それだけで解決が早まるものではございません",
            "1件につき1回のみ",
            "コメントを追加",
        ),
        "refusal": (
            "2026年11月26日木曜日 16:45",
            "1件につき1回のみ",
            "まだご連絡しておりません",
            "2026年11月27日金曜日 16:45",
            "最新の状況をお尋ねください",
            "重大度の引き上げ",
        ),
        "reason_request": ("理由をご返信", "2026年12月4日金曜日", "まだエスカレーションされておりません"),
    },
}

# What no reply promises: opening days or a "24 hours on weekdays" the working calendar does not state.
NO_OPENING_DAYS = {
    "en": ("Monday to Friday", "weekdays", "24 hours"),
    "de": ("montags bis freitags", "Arbeitstagen", "24 Stunden"),
    "fr": ("du lundi au vendredi", "jours ouvrés", "24 heures"),
    "es": ("de lunes a viernes", "días laborables", "24 horas"),
    "pt-BR": ("de segunda a sexta-feira", "dias úteis", "24 horas"),
    "ja": ("月曜日から金曜日", "平日", "24時間"),
}


@pytest.mark.parametrize("locale", LOCALES)
def test_no_reply_promises_opening_days(locale: str) -> None:
    for name, text in messages(locale).items():
        for promise in NO_OPENING_DAYS[locale]:
            assert promise not in text, f"{locale}/{name}: {promise!r}"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_locale_states_the_same_facts(locale: str) -> None:
    rendered = messages(locale)
    for name, facts in FACTS[locale].items():
        for fact in facts:
            assert fact in rendered[name], f"{locale}/{name}: {fact!r} missing"


@pytest.mark.parametrize("locale", LOCALES)
def test_no_customer_message_contains_any_plausible_phrase_so_quoted_replies_never_escalate(locale: str) -> None:
    render = renderer(phrases=NATIVE_PHRASES)
    assert render.problems == []
    for name, text in messages(locale, render).items():
        if name == "manager_note":
            continue
        assert not NATIVE_PHRASES.pattern.search(text), f"{locale}/{name}"
        assert not asks_for_escalation(f"Merci !\n\n{text}", NATIVE_PHRASES), f"{locale}/{name}"


def test_every_shipped_locale_has_every_customer_message_and_nothing_else() -> None:
    for locale in LOCALES:
        names = {path.stem for path in (SHIPPED / locale).glob("*.txt")}
        expected = {*CUSTOMER_MESSAGES, "manager_note"} if locale == "en" else set(CUSTOMER_MESSAGES)
        assert names >= expected and names <= {path.stem for path in (SHIPPED / "en").glob("*.txt")}, locale
    assert renderer().locales == tuple(sorted(LOCALES))


# ---- which language a reader gets ----------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "served", "date"),
    [
        ("de", "de", "Montag, 30. November 2026, 15:30 Uhr"),
        ("de-CH", "de", "Montag, 30. November 2026, 15:30 Uhr"),
        ("pt-br", "pt-BR", "segunda-feira, 30 de novembro de 2026, às 15:30"),
        ("pt", "pt-BR", "segunda-feira, 30 de novembro de 2026, às 15:30"),
        ("pt-PT", "pt-BR", "segunda-feira, 30 de novembro de 2026, às 15:30"),
        ("es-419", "es", "lunes, 30 de noviembre de 2026, a las 3:30\u00a0p.m."),
        ("fr-CA", "fr", "lundi 30 novembre 2026 à 15 h 30"),
        ("en-GB", "en", "Monday, 30 November 2026, 15:30"),
        ("en-US", "en", "Monday, November 30, 2026, 3:30\u00a0PM"),
        ("ko", "en", "Monday, November 30, 2026, 3:30\u00a0PM"),
        ("x-klingon", "en", "Monday, November 30, 2026, 3:30\u00a0PM"),
        (None, "en", "Monday, November 30, 2026, 3:30\u00a0PM"),
    ],
)
def test_a_reader_gets_their_locale_else_its_language_else_english_with_dates_in_their_own_variant(
    reader: str | None, served: str, date: str
) -> None:
    confirmation = messages(reader)["confirmation"]
    assert confirmation.startswith(messages(served)["confirmation"].split("\n", 1)[0])
    assert date in confirmation


def test_the_fallback_chain_is_exact_then_language_then_a_sibling_then_english() -> None:
    available = ["en", "de", "pt-BR", "es", "pt"]
    assert fallbacks("pt-BR", available) == ["pt-BR", "pt", "en"]
    assert fallbacks("pt-PT", ["en", "pt-BR"]) == ["pt-BR", "en"]
    assert fallbacks("PT_br", available) == ["pt-BR", "pt", "en"]
    assert fallbacks("ja", available) == ["en"]
    assert fallbacks(None, available) == ["en"]
    assert normalise("zh-hant-tw") == "zh-Hant-TW" and normalise("es_419") == "es-419"
    with pytest.raises(ValueError):
        normalise("english please")


def test_a_copied_colleague_who_escalates_reads_the_reply_in_their_own_language() -> None:
    ticket = snapshot("ja")
    people = {**ticket.people, COLLEAGUE: Person(COLLEAGUE, "Ben Colleague", "ben@example.com", "end-user", None, "de")}
    comment = Comment(6, COLLEAGUE, "Escalation request: the export blocks our invoicing", True, NOW)
    decision = decide(replace(ticket, comments=(*ticket.comments, comment), people=people), settings(), NOW)
    confirmation = decision.updates[1].message
    assert confirmation is not None and confirmation.locale == "de"
    assert renderer().render(confirmation).startswith("Guten Tag,")


def test_the_managers_note_stays_in_the_accounts_language() -> None:
    assert messages("ja")["manager_note"] == messages("en")["manager_note"]


# ---- missing keys ---------------------------------------------------------------------------


def test_a_message_missing_from_a_locale_falls_back_to_english_for_that_message_only(tmp_path: Path) -> None:
    shipped = tmp_path / "templates"
    shutil.copytree(SHIPPED, shipped)
    (shipped / "de" / "refusal.txt").unlink()
    german = messages("de", renderer(shipped_dir=shipped))
    assert german["confirmation"].startswith("Guten Tag,")
    assert german["refusal"].startswith("Hello,")
    assert "Thursday, November 26, 2026" in german["refusal"]  # English text, English dates


def test_a_message_without_a_variable_its_template_needs_fails_loudly_rather_than_blank() -> None:
    with pytest.raises(jinja2.UndefinedError):
        renderer().render(Message("confirmation", True, {"ticket_id": 1}, "de"))


def test_a_message_nobody_wrote_a_template_for_is_an_error() -> None:
    with pytest.raises(LookupError):
        renderer().render(Message("no_such_message", True, {"ticket_id": 1}, "de"))


def sidebar_strings(locale: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "translations" / f"{locale}.json").read_text(encoding="utf-8"))["sidebar"])


def leaves(node: Any, path: str = "") -> dict[str, str]:
    if isinstance(node, dict):
        return {k: v for key, child in node.items() for k, v in leaves(child, f"{path}.{key}" if path else key).items()}
    return {path: node}


@pytest.mark.parametrize("locale", [locale for locale in LOCALES if locale != "en"])
def test_the_sidebar_has_every_string_in_every_locale_with_the_same_placeholders(locale: str) -> None:
    english, translated = leaves(sidebar_strings("en")), leaves(sidebar_strings(locale))
    assert set(translated) == set(english), set(english) ^ set(translated)
    for key, text in translated.items():
        assert isinstance(text, str) and text.strip(), f"{locale}: {key} is empty"
        placeholders = set(re.findall(r"\{\{(\w+)\}\}", text))
        if key != "refused_repeats.one":  # English says "1", other languages use {{count}} (French "one" is 0 and 1)
            assert placeholders == set(re.findall(r"\{\{(\w+)\}\}", english[key])), f"{locale}: {key}"
    app = json.loads((ROOT / "translations" / f"{locale}.json").read_text(encoding="utf-8"))["app"]
    assert {"name", "short_description", "long_description", "installation_instructions"} <= set(app)


def test_the_sidebar_copies_of_the_translations_are_current() -> None:
    index = json.loads((ROOT / "assets" / "i18n" / "locales.json").read_text(encoding="utf-8"))
    assert sorted(index["locales"]) == sorted(LOCALES) and index["default"] == "en"
    for locale in LOCALES:
        copy = json.loads((ROOT / "assets" / "i18n" / f"{locale}.json").read_text(encoding="utf-8"))
        assert copy == sidebar_strings(locale), f"run: python scripts/build_app_assets.py ({locale})"


# ---- admin overrides: precedence -----------------------------------------------------------


def test_an_override_for_a_locale_replaces_the_shipped_template_for_that_locale_only(tmp_path: Path) -> None:
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "refusal.txt").write_text("Bereits eskaliert am {{ requested_at | date }}.", encoding="utf-8")
    render = renderer(tmp_path)
    assert render.problems == []
    assert messages("de", render)["refusal"] == "Bereits eskaliert am Donnerstag, 26. November 2026.\n"
    assert messages("de-AT", render)["refusal"].startswith("Bereits eskaliert am Donnerstag")
    assert messages("fr", render)["refusal"].startswith("Bonjour,")
    assert messages("en", render)["refusal"].startswith("Hello,")


def test_a_top_level_override_is_the_english_message_and_other_languages_keep_theirs(tmp_path: Path) -> None:
    (tmp_path / "reason_request.txt").write_text("Please add your reason to case #{{ ticket_id }}.", encoding="utf-8")
    render = renderer(tmp_path)
    assert messages("en-GB", render)["reason_request"] == "Please add your reason to case #48213.\n"
    assert messages("ko", render)["reason_request"] == "Please add your reason to case #48213.\n"
    assert messages("es", render)["reason_request"].startswith("Hola:")


def test_an_english_folder_override_wins_over_a_top_level_file_which_is_reported(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "reason_request.txt").write_text("Top level #{{ ticket_id }}", encoding="utf-8")
    (tmp_path / "en" / "reason_request.txt").write_text("English folder #{{ ticket_id }}", encoding="utf-8")
    render = renderer(tmp_path)
    assert messages("en", render)["reason_request"] == "English folder #48213\n"
    [problem] = render.problems
    assert problem.path == str(tmp_path / "reason_request.txt") and "that one is used" in str(problem)


def test_a_language_override_serves_its_regional_readers_before_a_shipped_sibling(tmp_path: Path) -> None:
    (tmp_path / "PT").mkdir()
    (tmp_path / "PT" / "reason_request.txt").write_text("Indique o motivo, por favor (#{{ ticket_id }}).")
    render = renderer(tmp_path)
    assert render.problems == []
    assert messages("pt-PT", render)["reason_request"] == "Indique o motivo, por favor (#48213).\n"
    assert messages("pt-BR", render)["reason_request"].startswith("Olá,")  # the exact locale still wins
    assert [(locale, origin) for locale, origin, _ in render.candidates("reason_request", "pt-PT")] == [
        ("pt", "override"),
        ("pt-BR", "shipped"),
        ("en", "shipped"),
    ]


def test_an_override_can_format_dates_and_durations_for_its_reader(tmp_path: Path) -> None:
    (tmp_path / "ja").mkdir()
    (tmp_path / "ja" / "confirmation.txt").write_text(
        "{{ response_due | datetime }}までにご連絡いたします。", encoding="utf-8"
    )
    render = renderer(tmp_path)
    assert (
        messages("ja", render)["confirmation"]
        == "2026年11月30日月曜日 15:30（中央ヨーロッパ標準時）までにご連絡いたします。\n"
    )


# ---- admin overrides: broken ones are reported and never reach a customer -------------------


def test_a_broken_override_is_reported_with_file_and_line_and_the_shipped_locale_is_used(tmp_path: Path) -> None:
    (tmp_path / "de").mkdir()
    (tmp_path / "fr").mkdir()
    (tmp_path / "de" / "confirmation.txt").write_text("Guten Tag,\n\n{% if response_due %}\nbis bald\n")
    (tmp_path / "fr" / "refusal.txt").write_text("Bonjour,\n\nDéjà escaladé le {{ requested_on | date }}.\n")
    render = renderer(tmp_path)
    problems = {Path(problem.path).relative_to(tmp_path).as_posix(): str(problem) for problem in render.problems}
    assert problems.keys() == {"de/confirmation.txt", "fr/refusal.txt"}
    assert problems["de/confirmation.txt"].startswith(
        f"{tmp_path / 'de' / 'confirmation.txt'}:3: syntax error"
    )  # the unclosed if
    assert problems["fr/refusal.txt"].startswith(f"{tmp_path / 'fr' / 'refusal.txt'}:3: unknown variable: requested_on")
    assert "shipped template is used instead" in problems["fr/refusal.txt"]
    assert messages("de", render)["confirmation"] == messages("de")["confirmation"]
    assert messages("fr", render)["refusal"] == messages("fr")["refusal"]


def test_an_override_that_fails_only_with_real_data_falls_back_at_send_time(tmp_path: Path) -> None:
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "reason_request.txt").write_text(
        "Hola:\n{% if ticket_id > 10000 %}\n{{ ticket_id / 0 }}\n{% endif %}Indique el motivo.\n", encoding="utf-8"
    )
    render = renderer(tmp_path)
    assert render.problems == []  # the sample case #1234 renders
    assert messages("es", render)["reason_request"] == messages("es")["reason_request"]
    [problem] = render.problems
    assert problem.line == 3 and "does not render for ticket 48213" in problem.problem


def test_an_override_in_another_language_is_checked_against_every_configured_phrase(tmp_path: Path) -> None:
    (tmp_path / "ja").mkdir()
    (tmp_path / "ja" / "reason_request.txt").write_text(
        "理由を添えて、もう一度「エスカレーション依頼」とご記入ください。", encoding="utf-8"
    )
    render = renderer(tmp_path, NATIVE_PHRASES)
    [problem] = render.problems
    assert "contains the escalation phrase 'エスカレーション依頼'" in str(problem) and problem.line == 1
    assert messages("ja", render)["reason_request"] == messages("ja")["reason_request"]


def test_misplaced_and_empty_overrides_are_reported(tmp_path: Path) -> None:
    (tmp_path / "german").mkdir()
    (tmp_path / "german" / "refusal.txt").write_text("Hallo")
    (tmp_path / "confirmaton.txt").write_text("typo in the name")
    (tmp_path / "refusal.txt").write_text("{% if false %}never{% endif %}\n")
    render = renderer(tmp_path)
    reported = sorted(f"{Path(problem.path).name}: {problem.problem}" for problem in render.problems)
    assert reported == [
        f"confirmaton.txt: is not a message (the messages are {', '.join(TEMPLATE_NAMES)})",
        "german: is not a locale folder (use e.g. de or pt-BR)",
        "refusal.txt: renders as empty text",
    ]


def test_a_shipped_template_that_contains_a_configured_phrase_falls_back_and_is_reported() -> None:
    too_broad = Phrases.of({"de": ["Eskalation"]})
    render = renderer(phrases=too_broad)
    paths = {Path(problem.path).relative_to(SHIPPED).as_posix() for problem in render.problems}
    assert paths == {"de/confirmation.txt"}  # the others say "eskalieren", not the noun
    assert messages("de", render)["confirmation"].startswith("Hello,")
    assert messages("de", render)["refusal"].startswith("Guten Tag,")


def test_a_phrase_found_in_the_english_text_is_reported_and_english_readers_still_get_a_reply() -> None:
    render = renderer(phrases=Phrases.of({"en": ["escalation"]}))
    reported = {Path(problem.path).relative_to(SHIPPED).as_posix(): str(problem) for problem in render.problems}
    assert "en/confirmation.txt" in reported and "still used, as the last fallback" in reported["en/confirmation.txt"]
    assert messages("en", render)["confirmation"] == messages("en")["confirmation"]
    assert messages("de", render)["confirmation"] == messages("de")["confirmation"]


# ---- dates and times: Babel, the reader's locale, the account's timezone ---------------------


def test_dates_are_in_the_accounts_timezone_with_its_name_in_the_readers_language() -> None:
    summer = datetime(2026, 7, 6, 7, 0, tzinfo=UTC)
    due = Message("confirmation", True, {"ticket_id": 1, "response_due": summer, "contact_details": ()}, "de")
    berlin = MessageRenderer(ZoneInfo("Europe/Berlin")).render(due)
    assert "bis Montag, 6. Juli 2026, 09:00 Uhr (Mitteleuropäische Sommerzeit)" in berlin
    tokyo = MessageRenderer(ZoneInfo("Asia/Tokyo")).render(Message("confirmation", True, due.context, "ja"))
    assert "2026年7月6日月曜日 16:00（日本標準時）" in tokyo
    utc = MessageRenderer(ZoneInfo("UTC")).render(Message("confirmation", True, due.context, "fr"))
    assert "le lundi 6 juillet 2026 à 07:00 (UTC)" in utc


def test_a_readers_own_time_zone_wins_over_the_accounts_and_is_named() -> None:
    summer = datetime(2026, 7, 6, 7, 0, tzinfo=UTC)
    context = {"ticket_id": 1, "response_due": summer, "contact_details": ()}
    in_sao_paulo = Message("confirmation", True, context, "pt-BR", timezone="America/Sao_Paulo")
    text = MessageRenderer(ZoneInfo("Europe/Berlin")).render(in_sao_paulo)
    assert "até segunda-feira, 6 de julho de 2026, às 04:00 (Horário Padrão de Brasília)" in text
    unknown = MessageRenderer(ZoneInfo("Europe/Berlin")).render(
        Message("confirmation", True, context, "de", "Mars/Base")
    )
    assert "09:00 Uhr (Mitteleuropäische Sommerzeit)" in unknown


@pytest.mark.parametrize(
    ("locale", "hour", "expected"),
    [
        ("es", 0, ", a la 1:05 ("),  # 01:05 in Berlin: "a la una", singular
        ("es", 12, ", a las 13:05 ("),
        ("pt-BR", 0, ", à 01:05 ("),
        ("pt-BR", 23, ", à 00:05 ("),
        ("pt-BR", 12, ", às 13:05 ("),
    ],
)
def test_the_hour_takes_the_right_article(locale: str, hour: int, expected: str) -> None:
    moment = datetime(2026, 11, 30, hour, 5, tzinfo=UTC)
    context = {"ticket_id": 1, "response_due": moment, "contact_details": ()}
    text = renderer().render(Message("confirmation", True, context, locale))
    assert expected in text


# ---- phrases: configurable, recognised by the policy, the sweep and the trigger ---------------


GERMAN = Phrases.of({"de": ["Eskalationsanfrage"], "fr": ["demande d'escalade"], "ja": ["エスカレーション依頼"]})


def test_by_default_the_english_phrase_serves_every_locale() -> None:
    assert DEFAULT_PHRASES.all == ("escalation request",)
    assert DEFAULT_PHRASES.for_locale("ja") == ("escalation request",)
    assert not asks_for_escalation("Eskalationsanfrage: der Export schlägt fehl")


def test_configured_phrases_count_from_anyone_and_english_stays_unless_replaced() -> None:
    assert GERMAN.all == ("escalation request", "Eskalationsanfrage", "demande d'escalade", "エスカレーション依頼")
    assert GERMAN.for_locale("de-AT") == ("Eskalationsanfrage",)
    assert GERMAN.for_locale("es") == ("escalation request",)
    assert Phrases.of({"en": ["urgent review"]}).all == ("urgent review",)
    decision = decide(
        snapshot("en-US", "ESKALATIONSANFRAGE – der Export schlägt seit Montag fehl"), settings(GERMAN), NOW
    )
    assert decision.outcome == "escalated"
    assert decision.updates[0].fields[fields.REASON] == "der Export schlägt seit Montag fehl"
    assert decide(snapshot("de", "Eskalationsanfrage"), settings(GERMAN), NOW).outcome == "reason_requested"
    assert decide(snapshot("de", "Eskalationsanfrage: kaputt"), settings(), NOW).outcome == "ignored"


@pytest.mark.parametrize(
    ("body", "asks", "reason"),
    [
        ("Demande d’escalade : la facturation est bloquée.", True, "la facturation est bloquée."),
        ("demande   d'escalade\nla facturation est bloquée", True, "la facturation est bloquée"),
        ("エスカレーション依頼です。本番環境が停止しています。", True, "です。本番環境が停止しています。"),
        ("エスカレーション依頼です。よろしくお願いいたします。", True, ""),
        ("Hallo, Eskalationsanfrage bitte. Danke!", True, ""),
        ("Das ist keine Eskalationsanfrage, nur eine Frage.", False, None),
        ("Ce n'est pas une demande d'escalade.", False, None),
        ("No es una escalation request, solo una pregunta.", False, None),
        ("Não é um escalation request.", False, None),
        ("Eskalationsanfragen sind hier kein Thema", False, None),
    ],
)
def test_phrases_in_other_languages_are_read_like_the_english_one(body: str, asks: bool, reason: str | None) -> None:
    assert asks_for_escalation(body, GERMAN) is asks
    if reason is not None:
        assert reason_for_escalation(body, GERMAN) == reason


def test_the_sweep_finds_comments_with_any_configured_phrase() -> None:
    events = [
        {"ticket_id": 5, "child_events": [{"event_type": "Comment", "public": True, "body": "Eskalationsanfrage: x"}]},
        {"ticket_id": 6, "child_events": [{"event_type": "Comment", "public": True, "body": "escalation request: y"}]},
    ]
    assert tickets_needing_attention(events, GERMAN) == {5, 6}
    assert tickets_needing_attention(events) == {6}


def test_the_trigger_fires_for_any_configured_phrase_or_a_ticket_waiting_for_a_reason() -> None:
    trigger = desired_trigger("01HWEBHOOK", GERMAN.all)
    conditions = trigger["conditions"]
    waiting = {"field": "current_tags", "operator": "includes", "value": fields.TAG_REASON_REQUESTED}
    assert conditions["any"] == [
        *({"field": "comment_includes_word", "operator": "is", "value": phrase} for phrase in GERMAN.all),
        waiting,
    ]
    assert [c["field"] for c in conditions["all"]] == ["update_type", "comment_is_public", "role", "status"]
    assert desired_trigger("01HWEBHOOK")["conditions"]["any"] == [
        {"field": "comment_includes_word", "operator": "is", "value": "escalation request"},
        waiting,
    ]


GOOD = {"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_EMAIL": "admin@acme.test", "ZENDESK_API_TOKEN": "t0ken"}


def test_the_phrases_setting_is_locale_equals_phrase_separated_by_commas() -> None:
    configured = load_settings(
        {**GOOD, "ESCALATION_PHRASES": " de = Eskalationsanfrage | escalation request , pt_br=pedido de escalonamento"}
    ).phrases
    assert configured.for_locale("de") == ("Eskalationsanfrage", "escalation request")
    assert configured.for_locale("pt-PT") == ("pedido de escalonamento",)
    assert configured.for_locale("en") == ("escalation request",)
    assert load_settings(GOOD).phrases == DEFAULT_PHRASES


@pytest.mark.parametrize(
    "value", ["Eskalationsanfrage", "de=", "=Eskalationsanfrage", "deutsch=Eskalationsanfrage", "de=!", "de=a|"]
)
def test_a_malformed_phrases_setting_is_one_line_naming_it(value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({**GOOD, "ESCALATION_PHRASES": value})
    assert "ESCALATION_PHRASES" in str(error.value) and "\n" not in str(error.value)


# ---- the whole way: a German customer, a German phrase, a German reply ----------------------


def test_a_customer_writing_a_configured_phrase_gets_the_reply_in_their_language(service_env: Service) -> None:
    service_env.env["ESCALATION_PHRASES"] = "de=Eskalationsanfrage,ja=エスカレーション依頼"
    service_env.env["ESCALATION_TIMEZONE"] = BERLIN_TZ
    service_env.run("setup")
    zendesk = service_env.zendesk
    [trigger] = [rule for rule in zendesk.state()["triggers"] if rule["title"] == TRIGGER_TITLE]
    phrases = ["escalation request", "Eskalationsanfrage", "エスカレーション依頼"]
    assert [condition["value"] for condition in trigger["conditions"]["any"]] == [*phrases, fields.TAG_REASON_REQUESTED]
    again = service_env.run("setup").stdout
    assert "created" not in again and re.search(r"unchanged\s+trigger", again)

    # A German customer living in Lisbon: his reply is German, its times in his profile's zone, not the account's.
    customer = zendesk.create_user(
        {"name": "Jonas Becker", "email": "jonas@example.de", "locale": "de", "time_zone": "Lisbon"}
    )
    ticket = zendesk.create_ticket(requester_id=customer["id"], subject="Export", description="Der Export bricht ab.")
    service_env.start()
    try:
        zendesk.add_comment(ticket["id"], author_id=customer["id"], body="Eskalationsanfrage: Rechnungen blockiert.")
        emails = wait_until(
            lambda: [e for e in zendesk.emails() if e["ticket_id"] == ticket["id"]], what="the German confirmation"
        )
    finally:
        service_env.stop()
    body = emails[0]["body"]
    assert body.startswith("Guten Tag,") and "Support-Manager" in body and "Uhr (Westeuropäische" in body
    assert not asks_for_escalation(f"Danke\n\n{body}", Phrases.of({"de": ["Eskalationsanfrage"]}))


def test_doctor_names_a_broken_override_in_a_locale_folder_with_its_file_and_line(service_env: Service) -> None:
    service_env.run("setup")
    override = service_env.data_dir / "templates" / "de" / "confirmation.txt"
    override.parent.mkdir(parents=True)
    override.write_text("Guten Tag,\n\nbis {{ response_due | datum }}\n", encoding="utf-8")
    doctor = service_env.run("doctor", check=False)
    assert doctor.returncode == 1
    assert f"FAIL  template override: {override}:3: syntax error: No filter named 'datum'" in doctor.stdout
