"""The Help Center addition: "Escalate this request" on the customer's request page, as snippets for one account.

Zendesk's standard Help Center theme (Copenhagen), which most accounts customise,
shows a request at `templates/request_page.hbs`. The addition is not a theme:
it is two snippets to paste into that template and two assets to add to the
theme, through Guide's code editor (plain JavaScript and CSS, no build step).
The snippets carry the account's settings, so `escalations package-theme`
writes them with them:

- the ids of the escalation fields customers may see (`state.json`, written by
  `escalations setup`), read from the request's `custom_fields`;
- the phrase the service listens for in each of the six languages of its
  replies (`ESCALATION_PHRASES`), which the customer's comment starts with;
- whether only the requester may escalate (`ESCALATION_REQUESTER_ONLY`), and
  the account's time zone for customers whose profile has none;
- the titles of those fields, which the second snippet leaves out of the
  request's details in the sidebar (Copenhagen lists every field there, raw;
  the form's panel shows the escalation's state instead).

Output: a folder holding `request_page_snippet.hbs`, `request_details_snippet.hbs`
and `assets/escalation-request.{js,css}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from escalations.config import ConfigError, Settings
from escalations.core.fields import ESCALATION_FIELDS
from escalations.core.text import Phrases
from escalations.zendesk.state import AccountState

SOURCE = Path(__file__).parent / "help_center"
SNIPPET = "request_page_snippet.hbs"
DETAILS_SNIPPET = "request_details_snippet.hbs"
SNIPPETS = (SNIPPET, DETAILS_SNIPPET)
SCRIPT = "escalation-request.js"
STYLESHEET = "escalation-request.css"
ASSETS = (SCRIPT, STYLESHEET)
# Where the snippet's settings go; a marker that is neither JSON nor a Handlebars expression.
SETTINGS_MARK = "ESCALATION_REQUEST_SETTINGS"
# The languages of the service's replies (plugin/escalations/core/templates/) and of the script's texts.
LOCALES = ("en", "de", "fr", "es", "pt-BR", "ja")
CUSTOMER_VISIBLE = tuple(field.key for field in ESCALATION_FIELDS if field.customer_visible)
CUSTOMER_VISIBLE_TITLES = tuple(field.title for field in ESCALATION_FIELDS if field.customer_visible)


def theme_settings(
    field_ids: Mapping[str, int], phrases: Phrases, *, requester_only: bool, timezone: str = "UTC"
) -> dict[str, Any]:
    """The settings the script reads: customer-visible field ids, the phrase per locale, who may escalate, and
    the time zone of dates for customers whose profile has none."""
    missing = [key for key in CUSTOMER_VISIBLE if key not in field_ids]
    if missing:
        raise ConfigError(
            f"no field id for {', '.join(missing)} in the state file: run 'escalations setup' again, then package"
        )
    return {
        "fields": {key: field_ids[key] for key in CUSTOMER_VISIBLE},
        "phrases": {locale: phrases.for_locale(locale)[0] for locale in LOCALES},
        "requesterOnly": requester_only,
        "timezone": timezone,
    }


def details_snippet(titles: Sequence[str] = CUSTOMER_VISIBLE_TITLES) -> str:
    """Copenhagen's `{{#each custom_fields}}` list of a request's fields, without the fields of `titles`."""
    opening = "".join(f"{{{{#is title {_handlebars_string(title)}}}}}{{{{else}}}}" for title in titles)
    closing = "{{/is}}" * len(titles)
    return (
        "{{!-- Escalation requests: the request's fields without the escalation's, which the escalation panel\n"
        "     shows in the customer's words. In templates/request_page.hbs, replace the block from\n"
        "     {{#each custom_fields}} to {{/each}} in the request sidebar with this. --}}\n"
        "{{#each custom_fields}}\n"
        f"  {opening}\n"
        "    <dt>{{title}}</dt>\n"
        "    <dd>{{value}}</dd>\n"
        f"  {closing}\n"
        "{{/each}}\n"
    )


def _handlebars_string(text: str) -> str:
    if "'" in text or "\\" in text or "}}" in text:
        raise ValueError(f"a field title the snippet cannot quote: {text!r}")
    return f"'{text}'"


def theme_files(settings: Mapping[str, Any]) -> dict[str, str]:
    """The files to add to a theme, by path, with `settings` written into the snippet."""
    snippet = (SOURCE / "request_page.hbs").read_text(encoding="utf-8")
    files = {SNIPPET: snippet.replace(SETTINGS_MARK, embedded_json(settings)), DETAILS_SNIPPET: details_snippet()}
    for name in ASSETS:
        files[f"assets/{name}"] = (SOURCE / name).read_text(encoding="utf-8")
    return files


def build_theme(state: AccountState, settings: Settings) -> dict[str, str]:
    """The account's files: field ids from `escalations setup`, phrases, the requester rule and the time zone
    from the settings."""
    return theme_files(
        theme_settings(
            state.field_ids,
            settings.phrases,
            requester_only=not settings.allow_copied_end_users,
            timezone=settings.timezone.key,
        )
    )


def embedded_json(value: Any) -> str:
    """JSON that stays data inside a <script> element and plain text to Handlebars."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    # JSON's own structure never has "{{" or "<": only strings (phrases) can, and escapes keep them the same.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("{{", "{\\u007b")


def write_theme(files: Mapping[str, str], output: Path) -> list[tuple[str, int]]:
    """Write `files` into the folder `output`; the paths and sizes written."""
    if output.suffix.lower() == ".zip":
        raise ConfigError(
            f"{output}: package-theme writes snippets to paste into your theme's code, not a theme to import; "
            "give a folder"
        )
    try:
        for relative, text in files.items():
            path = output / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write {output}: {error.strerror or error}") from None
    return [(path, len(text.encode("utf-8"))) for path, text in sorted(files.items())]
