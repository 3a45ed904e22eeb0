"""The words the service writes: customer replies and the managers' notes, from templates.

Templates are Jinja2 text files shipped in `plugin/escalations/core/templates/<locale>/`, one
file per message (`confirmation.txt`, `refusal.txt`, …); `en` has every
message and is the last fallback. A customer reads a message in their Zendesk
locale: the exact locale, else its language (`pt-BR` → `pt`), else another
variant of that language (`pt-PT` → `pt-BR`), else English. Dates are written
for the reader's locale with Babel, in the reader's time zone (the message's),
else the account's, and name the zone.

An admin can replace any message in any locale: a file in the override
directory, `<name>.txt` for English or `<locale>/<name>.txt` for another
locale, wins over the shipped template of the same locale. An override that
does not load, uses a variable the message does not have, fails to render,
or contains an escalation phrase (customers' email replies quote our
messages, and the quote must not count as a new escalation) is reported with
its file and line, and the next template in line is used instead: a customer
never gets a broken message. Shipped templates are held to the same rules
against the configured phrases.
"""

from __future__ import annotations

import functools
import logging
import re
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import jinja2.meta
import jinja2.nodes
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, format_timedelta, get_timezone_name

from escalations.core.locales import DEFAULT_LOCALE, fallbacks, language, normalise
from escalations.core.text import DEFAULT_PHRASES, Phrases
from escalations.core.tickets import Message

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).parent / "templates"

# What the policy passes to each message: a template may use these names and no others.
# `brand` is the ticket's brand ('' when the account's brands could not be read).
VARIABLES: dict[str, tuple[str, ...]] = {
    "confirmation": ("ticket_id", "response_due", "contact_details", "brand"),
    "refusal": (
        "ticket_id",
        "requested_at",
        "status",
        "response_due",
        "overdue",
        "acknowledged_at",
        "resolved_at",
        "brand",
    ),
    "reason_request": ("ticket_id", "answer_by", "help_center_link", "brand"),
    "manager_note": (
        "customer_name",
        "customer_email",
        "customer_phone",
        "customer_is_requester",
        "requester_name",
        "requester_email",
        "requester_phone",
        "requested_at",
        "reason",
        "response_due",
        "previous_group_id",
        "previous_group_name",
        "previous_assignee_name",
        "previous_assignee_id",
        "new_contact_details",
        "timezone",
        "brand",
    ),
    "overdue_note": ("ticket_id", "response_due", "overdue_by", "brand"),
}

# Realistic values used to check that a template renders.
_SAMPLE: dict[str, Any] = {
    "ticket_id": 1234,
    "response_due": datetime(2026, 11, 30, 15, 0, tzinfo=UTC),
    "requested_at": datetime(2026, 11, 27, 15, 0, tzinfo=UTC),
    "status": "escalation_status_requested",
    "overdue": False,
    "acknowledged_at": datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
    "resolved_at": datetime(2026, 12, 2, 11, 0, tzinfo=UTC),
    "contact_details": ("+1 555 0199",),
    "answer_by": datetime(2026, 12, 4, 15, 0, tzinfo=UTC),
    "help_center_link": "https://acme.zendesk.com/hc/requests/1234",
    "customer_name": "Ana Customer",
    "customer_email": "ana@example.com",
    "customer_phone": "+1 555 0100",
    "customer_is_requester": True,
    "requester_name": "Ana Customer",
    "requester_email": "ana@example.com",
    "requester_phone": "+1 555 0100",
    "reason": "Production is down since Monday.",
    "previous_group_id": 1,
    "previous_group_name": "Support",
    "previous_assignee_name": "Sam Engineer",
    "previous_assignee_id": 2,
    "new_contact_details": ("+1 555 0199",),
    "timezone": "UTC",
    "overdue_by": timedelta(hours=3, minutes=20),
    "brand": "Acme",
}

# The values a message may also come with: a template must render with these too.
_SPARSE: dict[str, dict[str, Any]] = {
    "confirmation": {"response_due": None, "contact_details": (), "brand": ""},
    "refusal": {
        "requested_at": None,
        "status": None,
        "response_due": None,
        "overdue": True,
        "acknowledged_at": None,
        "resolved_at": None,
        "brand": "",
    },
    "reason_request": {"help_center_link": "", "brand": ""},
    "overdue_note": {"brand": ""},
    "manager_note": {
        "brand": "",
        "customer_email": "",
        "customer_phone": "",
        "customer_is_requester": False,
        "requester_email": "",
        "requester_phone": "",
        "previous_group_id": None,
        "previous_group_name": "",
        "previous_assignee_name": "",
        "previous_assignee_id": None,
        "new_contact_details": (),
    },
}

_LOCALE_KEY = "__message_locale__"
_ZONE_KEY = "__message_timezone__"
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"})
_FULL_WIDTH_BRACKETS = frozenset({"ja", "zh"})


def _shipped_names(directory: Path) -> tuple[str, ...]:
    """The messages there are: the English templates."""
    paths = [*directory.glob("*.txt"), *(directory / DEFAULT_LOCALE).glob("*.txt")]
    return tuple(sorted({path.stem for path in paths}))


TEMPLATE_NAMES = _shipped_names(SHIPPED)


def neutralise(text: str) -> str:
    """Customer text must not become a Zendesk placeholder when it is echoed back."""
    return text.replace("{{", "{ {").replace("}}", "} }").replace("{%", "{ %")


@dataclass(frozen=True)
class TemplateProblem:
    template: str
    path: str
    line: int | None
    problem: str
    instead: str = "the shipped template is used instead"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.problem} ({self.instead})"


@dataclass(frozen=True)
class _Template:
    name: str
    locale: str
    origin: str  # "override" or "shipped"
    path: Path
    source: str
    template: jinja2.Template


@functools.lru_cache(maxsize=256)
def babel_locale(tag: str) -> Locale:
    """Babel's data for a normalised locale tag; English when Babel does not know it."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LOCALE)


class MessageRenderer:
    """Renders policy messages in the reader's language, preferring valid admin overrides."""

    def __init__(
        self,
        timezone: ZoneInfo,
        override_dir: Path | None = None,
        phrases: Phrases = DEFAULT_PHRASES,
        shipped_dir: Path = SHIPPED,
    ) -> None:
        self.timezone = timezone
        self.phrases = phrases
        self.problems: list[TemplateProblem] = []
        self.names = _shipped_names(shipped_dir)
        self._shipped: dict[tuple[str, str], _Template] = {}
        self._overrides: dict[tuple[str, str], _Template] = {}
        self._last_resort: dict[str, _Template] = {}
        self._load(shipped_dir, "shipped")
        missing = [
            name for name in self.names if (DEFAULT_LOCALE, name) not in self._shipped and name not in self._last_resort
        ]
        if missing:
            raise RuntimeError(f"the shipped English templates do not render: {', '.join(missing)}")
        if override_dir is not None and override_dir.is_dir():
            self._load(override_dir, "override")

    @property
    def locales(self) -> tuple[str, ...]:
        """The locales the messages are shipped in."""
        return tuple(sorted({locale for locale, _ in self._shipped}))

    # ---- loading ---------------------------------------------------------------

    def _environment(self, directory: Path) -> jinja2.Environment:
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory, encoding="utf-8"),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain-text comments: Zendesk shows them as text
            keep_trailing_newline=False,
        )
        environment.filters.update(
            datetime=self._datetime,
            date=self._date,
            time=self._time,
            zone=self._zone,
            duration=self._duration,
            quoted=lambda text: "\n".join(f"    {line}" for line in str(text).splitlines() or [""]),
        )
        return environment

    def _files(self, directory: Path, origin: str) -> dict[tuple[str, str], Path]:
        """(locale, name) → file: `<name>.txt` is English, `<locale>/<name>.txt` any locale."""
        found: dict[tuple[str, str], Path] = {}
        top_level = sorted(path for path in directory.glob("*.txt") if path.is_file())
        for folder in sorted(path for path in directory.iterdir() if path.is_dir()):
            try:
                locale = normalise(folder.name)
            except ValueError:
                if origin == "override" and not folder.name.startswith("."):
                    self._report(folder.name, folder, None, "is not a locale folder (use e.g. de or pt-BR)", "ignored")
                continue
            for path in sorted(folder.glob("*.txt")):
                found[(locale, path.stem)] = path
        for path in top_level:
            key = (DEFAULT_LOCALE, path.stem)
            if key in found:
                if origin == "override":
                    self._report(path.stem, path, None, f"{found[key]} replaces this file too", "that one is used")
                continue
            found[key] = path
        return found

    def _load(self, directory: Path, origin: str) -> None:
        environment = self._environment(directory)
        for (locale, name), path in sorted(self._files(directory, origin).items()):
            if name not in self.names:
                if origin == "override":
                    self._report(
                        name, path, None, f"is not a message (the messages are {', '.join(self.names)})", "ignored"
                    )
                continue
            template = self._checked(environment, directory, path, name, locale, origin)
            if template is not None:
                (self._overrides if origin == "override" else self._shipped)[(locale, name)] = template

    def _checked(
        self, environment: jinja2.Environment, directory: Path, path: Path, name: str, locale: str, origin: str
    ) -> _Template | None:
        """The template when it loads, knows its variables, renders and never writes a phrase."""
        instead = (
            "the shipped template is used instead"
            if origin == "override"
            else "the next language in line is used instead"
        )

        def problem(line: int | None, text: str) -> None:
            self._report(name, path, line, text, instead)

        try:
            source = path.read_text(encoding="utf-8")
            template = environment.get_template(path.relative_to(directory).as_posix())
        except jinja2.TemplateSyntaxError as error:
            problem(error.lineno, f"syntax error: {error.message}")
            return None
        except UnicodeDecodeError:
            problem(None, "is not UTF-8 text")
            return None
        except OSError as error:
            problem(None, f"cannot be read: {error.strerror or error}")
            return None

        known = VARIABLES.get(name, tuple(_SAMPLE))
        tree = environment.parse(source)
        assigned = {node.name for node in tree.find_all(jinja2.nodes.Name) if node.ctx in ("store", "param")}
        used = jinja2.meta.find_undeclared_variables(tree) - assigned - set(environment.globals)
        unknown = sorted(used - set(known))
        if unknown:
            problem(_line_of(source, rf"\b{re.escape(unknown[0])}\b"), _unknown(unknown[0], known))
            return None

        loaded = _Template(name, locale, origin, path, source, template)
        sample = {key: _SAMPLE[key] for key in known if key in _SAMPLE}
        for context in (sample, {**sample, **_SPARSE.get(name, {})}):
            try:
                text = self._render(loaded, context, babel_locale(locale))
            except Exception as error:  # noqa: BLE001 - any failure means this template is not used
                problem(_error_line(error, template), f"does not render: {error}")
                return None
            if not text.strip():
                problem(None, "renders as empty text")
                return None
            phrase = self.phrases.pattern.search(text)
            if phrase is not None:
                line = _line_of(source, self.phrases.pattern.pattern, re.IGNORECASE)
                if origin == "shipped" and locale == DEFAULT_LOCALE:
                    self._report(
                        name,
                        path,
                        line,
                        f"contains the escalation phrase {phrase.group(0)!r}",
                        "it is still used, as the last fallback: choose a more specific phrase or override it",
                    )
                    self._last_resort[name] = loaded
                    return None
                problem(line, f"contains the escalation phrase {phrase.group(0)!r}")
                return None
        return loaded

    def _report(self, name: str, path: Path, line: int | None, problem: str, instead: str) -> None:
        issue = TemplateProblem(name, str(path), line, problem, instead)
        if issue in self.problems:
            return
        self.problems.append(issue)
        log.warning("message template: %s", issue)

    # ---- rendering -------------------------------------------------------------

    def candidates(self, name: str, reader: str | None) -> Iterator[tuple[str, str, Path]]:
        """(locale, origin, file) of the templates that would serve this reader, best first."""
        for template in self._candidates(name, reader):
            yield template.locale, template.origin, template.path

    def _candidates(self, name: str, reader: str | None) -> Iterator[_Template]:
        available = {locale for table in (self._overrides, self._shipped) for locale, n in table if n == name}
        for locale in fallbacks(reader, available):
            for table in (self._overrides, self._shipped):
                template = table.get((locale, name))
                if template is not None:
                    yield template
        if name in self._last_resort:
            yield self._last_resort[name]

    def render(self, message: Message) -> str:
        """The message's text in its reader's language, ending in one newline."""
        context: dict[str, Any] = {"brand": ""}  # every message may name the brand; unknown, it is left out
        context.update(
            (key, neutralise(value) if isinstance(value, str) else value) for key, value in message.context.items()
        )
        for template in self._candidates(message.template, message.locale):
            try:
                text = self._render(
                    template, context, _date_locale(message.locale, template.locale), self._zone_for(message.timezone)
                )
            except Exception as error:
                if template.origin == "shipped":
                    raise
                self._report(
                    template.name,
                    template.path,
                    _error_line(error, template.template),
                    f"does not render for ticket {context.get('ticket_id', '?')}: {error}",
                    "the shipped template is used instead",
                )
                continue
            return text.strip() + "\n"
        raise LookupError(f"no template for the message {message.template!r}")

    def _render(
        self, template: _Template, context: Mapping[str, Any], locale: Locale, zone: ZoneInfo | None = None
    ) -> str:
        return template.template.render({**context, _LOCALE_KEY: locale, _ZONE_KEY: zone or self.timezone})

    def _zone_for(self, name: str | None) -> ZoneInfo:
        """The reader's time zone, or the account's when they have none (or one this machine does not know)."""
        if not name:
            return self.timezone
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return self.timezone

    # ---- filters: dates and times in the reader's locale and time zone ----

    def _zone_of(self, context: jinja2.runtime.Context) -> ZoneInfo:
        zone = context.get(_ZONE_KEY)
        return zone if isinstance(zone, ZoneInfo) else self.timezone

    @jinja2.pass_context
    def _date(self, context: jinja2.runtime.Context, moment: datetime | None, length: str = "full") -> str:
        """Monday, November 30, 2026 · Montag, 30. November 2026; `date("long")`: 30 de novembro de 2026."""
        if moment is None:
            return ""
        return _plain(format_date(moment.astimezone(self._zone_of(context)), length, locale=_locale_of(context)))

    @jinja2.pass_context
    def _time(self, context: jinja2.runtime.Context, moment: datetime | None) -> str:
        """4:00 PM · 16:00 · 16 h 00."""
        if moment is None:
            return ""
        return _plain(format_time(moment, "short", tzinfo=self._zone_of(context), locale=_locale_of(context)))

    @jinja2.pass_context
    def _zone(self, context: jinja2.runtime.Context, moment: datetime | None) -> str:
        """The reader's time zone's name at that moment: Central European Standard Time, UTC."""
        if moment is None:
            return ""
        zone = self._zone_of(context)
        if zone.key in _UTC_NAMES:
            return "UTC"
        return str(get_timezone_name(moment.astimezone(zone), "long", locale=_locale_of(context)))

    @jinja2.pass_context
    def _datetime(self, context: jinja2.runtime.Context, moment: datetime | None) -> str:
        """Date, time and timezone, joined the way the locale joins them."""
        if moment is None:
            return ""
        locale = _locale_of(context)
        pattern = str(locale.datetime_formats.get("full", "{1} {0}"))
        when = pattern.replace("{1}", self._date(context, moment)).replace("{0}", self._time(context, moment))
        zone = self._zone(context, moment)
        return f"{when}（{zone}）" if locale.language in _FULL_WIDTH_BRACKETS else f"{when} ({zone})"

    @jinja2.pass_context
    def _duration(self, context: jinja2.runtime.Context, delta: timedelta | None) -> str:
        """3 hours · 3 Stunden."""
        if delta is None:
            return ""
        return format_timedelta(delta, threshold=1.5, locale=_locale_of(context))


def _plain(text: str) -> str:
    """CLDR's narrow no-break space (4:00\u202fPM) as the no-break space every mail client shows."""
    return text.replace("\u202f", "\u00a0")


def _locale_of(context: jinja2.runtime.Context) -> Locale:
    locale = context.get(_LOCALE_KEY)
    return locale if isinstance(locale, Locale) else babel_locale(DEFAULT_LOCALE)


def _date_locale(reader: str | None, template_locale: str) -> Locale:
    """The reader's own variant (en-GB, es-419) when the text is in their language, else the text's."""
    if reader:
        try:
            tag = normalise(reader)
        except ValueError:
            tag = ""
        if tag and language(tag) == language(template_locale):
            return babel_locale(tag)
    return babel_locale(template_locale)


def _unknown(name: str, known: tuple[str, ...]) -> str:
    return f"unknown variable: {name} (this message has {', '.join(known)})"


def _line_of(source: str, pattern: str, flags: int = 0) -> int | None:
    match = re.search(pattern, source, flags)
    return source.count("\n", 0, match.start()) + 1 if match else None


def _error_line(error: BaseException, template: jinja2.Template) -> int | None:
    """The template line an error happened on, from the traceback Jinja points at the file."""
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == template.filename]
    return lines[-1] if lines else None
