"""The Help Center addition: "Escalate this request" on the customer's request page, packaged for one account.

Zendesk's standard Help Center theme (Copenhagen), which most accounts customise,
shows a request at `templates/request_page.hbs`. The addition is three files in
`plugin/help_center/`: a snippet for that template, one script and one
stylesheet (plain JavaScript and CSS, no build step). The snippet carries the
account's settings, so `escalations package-theme` writes it with them:

- the ids of the escalation fields customers may see (`state.json`, written by
  `escalations setup`), read from the request's `custom_fields`;
- the phrase the service listens for in each of the six languages of its
  replies (`ESCALATION_PHRASES`), which the customer's comment starts with;
- whether only the requester may escalate (`ESCALATION_REQUESTER_ONLY`).

Output: a folder, or a zip when the path ends in `.zip`, holding
`request_page_snippet.hbs` and `assets/escalation-request.{js,css}`.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plugin.config import ConfigError, Settings
from plugin.escalation_fields import ESCALATION_FIELDS
from plugin.state import AccountState
from plugin.text import Phrases

SOURCE = Path(__file__).parent / "help_center"
SNIPPET = "request_page_snippet.hbs"
SCRIPT = "escalation-request.js"
STYLESHEET = "escalation-request.css"
ASSETS = (SCRIPT, STYLESHEET)
# Where the snippet's settings go; a marker that is neither JSON nor a Handlebars expression.
SETTINGS_MARK = "ESCALATION_REQUEST_SETTINGS"
# The languages of the service's replies (plugin/templates/) and of the script's texts.
LOCALES = ("en", "de", "fr", "es", "pt-BR", "ja")
CUSTOMER_VISIBLE = tuple(field.key for field in ESCALATION_FIELDS if field.customer_visible)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the same bytes for the same files


def theme_settings(field_ids: Mapping[str, int], phrases: Phrases, *, requester_only: bool) -> dict[str, Any]:
    """The settings the script reads: customer-visible field ids, the phrase per locale, who may escalate."""
    missing = [key for key in CUSTOMER_VISIBLE if key not in field_ids]
    if missing:
        raise ConfigError(
            f"no field id for {', '.join(missing)} in the state file: run 'escalations setup' again, then package"
        )
    return {
        "fields": {key: field_ids[key] for key in CUSTOMER_VISIBLE},
        "phrases": {locale: phrases.for_locale(locale)[0] for locale in LOCALES},
        "requesterOnly": requester_only,
    }


def theme_files(settings: Mapping[str, Any]) -> dict[str, str]:
    """The files to add to a theme, by path, with `settings` written into the snippet."""
    snippet = (SOURCE / "request_page.hbs").read_text(encoding="utf-8")
    files = {SNIPPET: snippet.replace(SETTINGS_MARK, embedded_json(settings))}
    for name in ASSETS:
        files[f"assets/{name}"] = (SOURCE / name).read_text(encoding="utf-8")
    return files


def build_theme(state: AccountState, settings: Settings) -> dict[str, str]:
    """The account's files: field ids from `escalations setup`, phrases and the requester rule from the settings."""
    return theme_files(
        theme_settings(state.field_ids, settings.phrases, requester_only=not settings.allow_copied_end_users)
    )


def embedded_json(value: Any) -> str:
    """JSON that stays data inside a <script> element and plain text to Handlebars."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    # JSON's own structure never has "{{" or "<": only strings (phrases) can, and escapes keep them the same.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("{{", "{\\u007b")


def zip_bytes(files: Mapping[str, str]) -> bytes:
    """A zip of `files` with fixed timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(path, _ZIP_TIME), text.encode("utf-8"), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def write_theme(files: Mapping[str, str], output: Path) -> list[tuple[str, int]]:
    """Write `files` into the folder `output`, or a zip when it ends in .zip; the paths and sizes written."""
    try:
        if output.suffix.lower() == ".zip":
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(zip_bytes(files))
        else:
            for relative, text in files.items():
                path = output / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write {output}: {error.strerror or error}") from None
    return [(path, len(text.encode("utf-8"))) for path, text in sorted(files.items())]
