"""Customers escalate from the Help Center: the theme files and `escalations package-theme`.

The script's pure part (which view, which words) is called in a blank page with
plain data, and the comment it writes is read back by the policy's own functions.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from plugin.escalation_fields import ESCALATION_FIELDS, status_tag
from plugin.state import load_state
from plugin.text import Phrases, asks_for_escalation, contact_details, reason_for_escalation
from plugin.theme_package import CUSTOMER_VISIBLE, LOCALES, SNIPPET, theme_files, theme_settings
from tests.conftest import Service

PRIVATE_FIELDS = tuple(f.key for f in ESCALATION_FIELDS if not f.customer_visible)
SETTINGS_BLOCK = re.compile(r"<script type=\"application/json\" data-escalation-request-config>(.*?)</script>", re.S)


def field_ids(service: Service) -> dict[str, int]:
    return load_state(service.data_dir / "state.json").field_ids


def settings_in(snippet: str) -> dict[str, Any]:
    match = SETTINGS_BLOCK.search(snippet)
    assert match is not None, "the snippet carries no settings"
    settings: dict[str, Any] = json.loads(match.group(1))
    return settings


# -- the script's pure part, in a blank page -------------------------------------------------------------

SETTINGS = theme_settings(
    {key: 100 + position for position, key in enumerate(CUSTOMER_VISIBLE)},
    Phrases(),
    requester_only=False,
)


@pytest.fixture(scope="module")
def script(browser: Browser) -> Iterator[Callable[..., Any]]:
    """Call `EscalationRequest.<name>(...args)` of the packaged script."""
    context = browser.new_context(locale="en-US", timezone_id="UTC")
    page = context.new_page()
    page.set_content("<!doctype html><title>logic</title>")
    page.add_script_tag(content=theme_files(SETTINGS)["assets/escalation-request.js"])

    def call(name: str, *args: Any) -> Any:
        return page.evaluate("([name, args]) => window.EscalationRequest[name](...args)", [name, list(args)])

    try:
        yield call
    finally:
        context.close()


CONFIGURED_PHRASES = Phrases.of(
    {
        "en": ["escalation request"],
        "de": ["Eskalationsanfrage"],
        "fr": ["demande d'escalade"],
        "es": ["solicitud de escalamiento"],
        "pt-BR": ["pedido de escalonamento"],
        "ja": ["エスカレーション依頼"],
    }
)


@pytest.mark.parametrize("phrases", [Phrases(), CONFIGURED_PHRASES], ids=["default", "configured"])
@pytest.mark.parametrize("locale", LOCALES)
def test_the_comment_the_form_writes_is_read_by_the_policy_as_the_phrase_and_the_reason(
    script: Callable[..., Any], locale: str, phrases: Phrases
) -> None:
    settings = theme_settings(SETTINGS["fields"], phrases, requester_only=False)
    reason = "Since Monday nothing works: 500 orders are stuck.\nPlease call me back."
    body = script("commentFor", settings, locale, reason, "jane.doe@example.com")

    assert phrases.for_locale(locale)[0].casefold() in body.casefold()
    assert asks_for_escalation(body, phrases)
    assert reason_for_escalation(body, phrases).startswith(reason)
    assert contact_details(body) == ("jane.doe@example.com",)


def test_the_help_center_locale_picks_the_texts_and_the_phrase(script: Callable[..., Any]) -> None:
    pairs = {"en-us": "en", "de": "de", "de-at": "de", "fr-ca": "fr", "es-419": "es", "pt-br": "pt-BR", "pt": "pt-BR"}
    assert {given: script("localeFor", given) for given in [*pairs, "ja", "nl", ""]} == {
        **pairs,
        "ja": "ja",
        "nl": "en",
        "": "en",
    }
    english = set(script("texts", "en"))
    for locale in LOCALES:
        assert set(script("texts", locale)) == english, f"{locale} lacks texts"


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def request_json(status: str = "open", *, escalated: str | None = None, cc: tuple[int, ...] = ()) -> dict[str, Any]:
    fields = SETTINGS["fields"]
    values = {fields["status"]: status_tag(escalated) if escalated else None, fields["requested_at"]: None}
    if escalated:
        values[fields["requested_at"]] = "2026-11-27T15:00:00Z"
        values[fields["response_due"]] = "2026-11-30T15:00:00Z"
    return {
        "id": 7,
        "status": status,
        "requester_id": 1,
        "email_cc_ids": list(cc),
        "collaborator_ids": list(cc),
        "custom_fields": [{"id": field_id, "value": value} for field_id, value in values.items()],
    }


@pytest.mark.parametrize(
    ("request_", "user_id", "role", "requester_only", "view"),
    [
        (request_json(), 1, "end-user", False, "offer"),
        (request_json("solved"), 1, "end-user", False, "offer"),
        (request_json("pending"), 1, "end-user", True, "offer"),
        (request_json(cc=(2,)), 2, "end-user", False, "offer"),
        (request_json(cc=(2,)), 2, "end-user", True, "requester_only"),
        (request_json(), 3, "end-user", False, "none"),
        (request_json(), 1, "agent", False, "none"),
        (request_json("closed"), 1, "end-user", False, "closed"),
        (request_json(escalated="requested"), 1, "end-user", False, "escalated"),
        (request_json("closed", escalated="resolved"), 1, "end-user", False, "escalated"),
        (request_json(escalated="acknowledged", cc=(2,)), 2, "end-user", True, "escalated"),
    ],
    ids=[
        "requester",
        "solved: escalating reopens it",
        "requester, requester only",
        "copied",
        "copied, requester only",
        "not on it",
        "agent",
        "closed",
        "escalated",
        "escalated then closed",
        "escalated, seen by a copied end-user",
    ],
)
def test_who_sees_what_follows_the_policy(
    script: Callable[..., Any], request_: dict[str, Any], user_id: int, role: str, requester_only: bool, view: str
) -> None:
    settings = {**SETTINGS, "requesterOnly": requester_only}
    assert script("viewFor", request_, {"id": user_id, "role": role}, settings) == view


def test_the_recorded_state_is_read_from_the_customer_visible_fields(script: Callable[..., Any]) -> None:
    escalation = script("escalationOf", request_json(escalated="requested"), SETTINGS["fields"])
    assert escalation == {
        "status": "requested",
        "requestedAt": "2026-11-27T15:00:00Z",
        "responseDue": "2026-11-30T15:00:00Z",
        "acknowledgedAt": None,
        "resolvedAt": None,
    }
    assert script("escalationOf", request_json(), SETTINGS["fields"]) is None


@pytest.mark.parametrize(
    ("contact", "accepted"),
    [
        ("", True),
        ("jane.doe@example.com", True),
        ("+44 20 7946 0958", True),
        ("(030) 1234-5678", True),
        ("+49 30 1234-5678", True),
        ("jane at example", False),
        ("12345", False),
        ("+1 234", False),
    ],
)
def test_the_form_accepts_contact_details_the_service_will_pass_on(
    script: Callable[..., Any], contact: str, accepted: bool
) -> None:
    assert script("formProblem", "The reason is long enough.", contact) == ("" if accepted else "contactInvalid")
    if accepted and contact:
        body = script("commentFor", SETTINGS, "en", "The reason is long enough.", contact)
        found = contact_details(body)
        assert len(found) == 1 and (found[0] == contact or digits(found[0]) == digits(contact))
    assert script("formProblem", " short    ", "") == "reasonTooShort"


# -- escalations package-theme ---------------------------------------------------------------------------


def test_package_theme_writes_the_snippet_with_the_accounts_fields_and_phrases(service_env: Service) -> None:
    service_env.env["ESCALATION_PHRASES"] = "de=Eskalationsanfrage,ja=エスカレーション依頼"
    service_env.env["ESCALATION_REQUESTER_ONLY"] = "true"
    service_env.run("setup")
    folder, archive = service_env.workdir / "out" / "theme", service_env.workdir / "out" / "theme.zip"
    printed = service_env.run("package-theme", "--output", str(folder)).stdout
    service_env.run("package-theme", "--output", str(archive))

    ids = field_ids(service_env)
    written = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert written == {SNIPPET, "assets/escalation-request.js", "assets/escalation-request.css"}
    snippet = (folder / SNIPPET).read_text(encoding="utf-8")
    assert settings_in(snippet) == {
        "fields": {key: ids[key] for key in CUSTOMER_VISIBLE},
        "phrases": {
            "en": "escalation request",
            "de": "Eskalationsanfrage",
            "fr": "escalation request",
            "es": "escalation request",
            "pt-BR": "escalation request",
            "ja": "エスカレーション依頼",
        },
        "requesterOnly": True,
    }
    assert not any(str(ids[key]) in snippet for key in PRIVATE_FIELDS), "a private field's id is in the snippet"
    assert "{{asset 'escalation-request.js'}}" in snippet and "{{request.id}}" in snippet
    with zipfile.ZipFile(archive) as packed:
        assert {name: packed.read(name).decode() for name in packed.namelist()} == {
            path: (folder / path).read_text(encoding="utf-8") for path in written
        }
    assert SNIPPET in printed and "assets/escalation-request.js" in printed


def test_package_theme_before_setup_or_into_an_unwritable_place_says_so_in_one_line(service_env: Service) -> None:
    before_setup = service_env.run("package-theme", check=False)
    service_env.run("setup")
    (service_env.workdir / "a-file").write_text("not a folder")
    unwritable = service_env.run(
        "package-theme", "--output", str(service_env.workdir / "a-file" / "theme"), check=False
    )

    assert before_setup.returncode == unwritable.returncode == 2
    assert len(before_setup.stderr.strip().splitlines()) == 1
    assert before_setup.stderr.strip().endswith("state.json does not exist: run 'escalations setup' first")
    assert len(unwritable.stderr.strip().splitlines()) == 1 and "cannot write" in unwritable.stderr
    assert "Traceback" not in before_setup.stderr + unwritable.stderr


def test_package_theme_with_a_field_missing_from_the_state_asks_for_setup_again(
    service_env: Service, tmp_path: Path
) -> None:
    """A state file from before the customer-visible fields existed is a one-line error, not a traceback."""
    service_env.run("setup")
    state_file = service_env.data_dir / "state.json"
    saved = json.loads(state_file.read_text())
    saved["field_ids"].pop("response_due")
    state_file.write_text(json.dumps(saved))

    result = service_env.run("package-theme", "--output", str(tmp_path / "theme"), check=False)

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "escalations: no field id for response_due in the state file: run 'escalations setup' again, then package"
    )
