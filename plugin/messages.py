"""The words the service writes: customer replies and the managers' note, from templates.

Templates are Jinja2 text files shipped in `plugin/templates/`. An admin can
override any of them by putting a file of the same name in the override
directory. An override that does not load, does not render with the known
variables, or contains the escalation phrase (customers' email replies quote
our messages, and the quote must not count as a new escalation) is reported
and the shipped template is used instead: a customer never gets a broken
message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from plugin.policy import Message
from plugin.text import PHRASE

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).parent / "templates"
TEMPLATE_NAMES = ("confirmation", "refusal", "reason_request", "manager_note")

# Realistic values used to check that an override renders.
_SAMPLE: dict[str, Any] = {
    "ticket_id": 1234,
    "response_due": datetime(2026, 11, 30, 15, 0, tzinfo=UTC),
    "requested_at": datetime(2026, 11, 27, 15, 0, tzinfo=UTC),
    "status": "requested",
    "customer_name": "Ana Customer",
    "customer_email": "ana@example.com",
    "customer_is_requester": True,
    "reason": "Production is down since Monday.",
    "previous_group_id": 1,
    "previous_assignee_name": "Sam Engineer",
    "previous_assignee_id": 2,
    "new_contact_details": ("+1 555 0100",),
    "comment_id": 99,
    "timezone": "UTC",
}


def neutralise(text: str) -> str:
    """Customer text must not become a Zendesk placeholder when it is echoed back."""
    return text.replace("{{", "{ {").replace("}}", "} }").replace("{%", "{ %")


@dataclass(frozen=True)
class TemplateProblem:
    template: str
    path: str
    line: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.problem} (the shipped '{self.template}' template is used instead)"


class MessageRenderer:
    """Renders policy messages, preferring valid admin overrides."""

    def __init__(self, timezone: ZoneInfo, override_dir: Path | None = None) -> None:
        self.timezone = timezone
        self.problems: list[TemplateProblem] = []
        self._shipped = self._environment(SHIPPED)
        self._templates: dict[str, jinja2.Template] = {
            name: self._shipped.get_template(f"{name}.txt") for name in TEMPLATE_NAMES
        }
        if override_dir is not None and override_dir.is_dir():
            self._load_overrides(override_dir)

    def _environment(self, directory: Path) -> jinja2.Environment:
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain-text comments: Zendesk shows them as text
            keep_trailing_newline=False,
        )
        environment.filters["datetime"] = self._format_time
        environment.filters["quoted"] = lambda text: "\n".join(f"    {line}" for line in str(text).splitlines() or [""])
        return environment

    def _load_overrides(self, directory: Path) -> None:
        environment = self._environment(directory)
        for name in TEMPLATE_NAMES:
            path = directory / f"{name}.txt"
            if not path.is_file():
                continue
            try:
                template = environment.get_template(path.name)
                sample = template.render(_SAMPLE)
            except jinja2.TemplateSyntaxError as error:
                self._report(name, path, error.lineno, f"syntax error: {error.message}")
                continue
            except jinja2.UndefinedError as error:
                self._report(name, path, None, f"unknown variable: {error.message}")
                continue
            except Exception as error:  # noqa: BLE001 - any failure keeps the shipped template
                self._report(name, path, None, f"does not render: {error}")
                continue
            if PHRASE.search(sample):
                self._report(name, path, None, "contains the escalation phrase")
                continue
            self._templates[name] = template

    def _report(self, name: str, path: Path, line: int | None, problem: str) -> None:
        issue = TemplateProblem(name, str(path), line, problem)
        self.problems.append(issue)
        log.warning("template override ignored: %s", issue)

    def _format_time(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(self.timezone)
        return local.strftime("%A %d %B %Y, %H:%M ") + (local.tzname() or self.timezone.key)

    def render(self, message: Message) -> str:
        context: Mapping[str, Any] = {
            key: neutralise(value) if isinstance(value, str) else value for key, value in message.context.items()
        }
        return self._templates[message.template].render(context).strip() + "\n"
