"""Notifications for managers, where they work: Slack, Microsoft Teams, email, PagerDuty, webhooks, … via Apprise.

ESCALATION_NOTIFY lists Apprise URLs (`slack://…`, `msteams://…`,
`mailtos://…`, `pagerduty://…`, `json://host/path`, …). The policy decides which
event is announced and when (see `escalations.core.policy`); this module only words a
notification and hands it to Apprise, one target at a time, so that a target
that fails is retried on its own and the others are not sent twice.

A URL holds secrets (tokens, passwords, webhook keys): outside this module a
target is named by its position and service, and the queue carries its
fingerprint, never the URL.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import ModuleType
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_timedelta, get_timezone_name

from escalations.config import ConfigError, Settings
from escalations.core.fields import NOTIFY_EVENTS
from escalations.core.tickets import Notification

log = logging.getLogger(__name__)

_parsing = threading.local()


class _QuietWhileParsing(logging.Filter):
    """Apprise logs a URL it cannot parse whole, and some services their invalid tokens: while a URL is
    parsed, its lines are dropped; we report a bad URL ourselves, by position."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_parsing, "active", False)


@functools.cache
def _apprise() -> ModuleType:
    """Apprise, loaded on first use: a service with notifications off never loads it (about 4 MB a process)."""
    import apprise

    # Apprise logs at INFO what it sends where; our own lines say what matters without the URLs.
    logging.getLogger("apprise").setLevel(logging.WARNING)
    logging.getLogger("apprise").addFilter(_QuietWhileParsing())
    return apprise


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    _parsing.active = True
    try:
        yield
    finally:
        _parsing.active = False


def _service(url: str) -> object | None:
    """Apprise's service for the URL, or None when it cannot send to it; never logs the URL."""
    with _quietly():
        return _apprise().Apprise.instantiate(url)  # type: ignore[no-any-return]


__all__ = ["NOTIFY_EVENTS", "compose", "deliver", "describe", "fingerprint", "url_problems"]

REASON_CHARACTERS = 500  # a longer reason is cut in the notification; the ticket has it whole

_HEADLINES = {
    "escalated": "Escalated",
    "overdue": "Escalation overdue",
    "acknowledged": "Escalation acknowledged",
    "resolved": "Escalation resolved",
    "refused": "Repeat escalation refused",
}
_TYPES = {  # Apprise's NotifyType, by name
    "escalated": "WARNING",
    "overdue": "FAILURE",
    "acknowledged": "INFO",
    "resolved": "SUCCESS",
    "refused": "INFO",
}


def scheme_of(url: str) -> str:
    """The URL's scheme, the only part of it safe to print."""
    scheme, separator, _ = url.partition("://")
    return scheme.lower() if separator and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,31}", scheme) else ""


def url_problems(urls: Sequence[str]) -> list[str]:
    """One line per URL Apprise cannot send to, naming it by position and scheme, never by its secrets."""
    problems = []
    for position, url in enumerate(urls, start=1):
        if _service(url) is None:
            scheme = scheme_of(url)
            shown = f"a {scheme}:// URL" if scheme else "not a URL"
            problems.append(f"URL {position} of {len(urls)} ({shown}) is not one Apprise can send to")
    return problems


def describe(url: str) -> str:
    """The target's service and scheme, for people: `Slack (slack://…)`."""
    service = _service(url)
    name = str(getattr(service, "service_name", "") or "unknown service") if service is not None else "unusable"
    return f"{name} ({scheme_of(url) or '?'}://…)"


def fingerprint(url: str) -> str:
    """What the queue carries to name a target: a digest, so that no secret is stored with the jobs."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def ticket_link(zendesk_url: str, ticket_id: int) -> str:
    """The ticket in the agent workspace."""
    return f"{zendesk_url.rstrip('/')}/agent/tickets/{ticket_id}"


def compose(notification: Notification, zendesk_url: str, timezone: ZoneInfo) -> tuple[str, str]:
    """The notification's title and plain-text body: ticket, link, customer, reason, due time, overdue by."""
    ticket = f"#{notification.ticket_id} {notification.subject}".strip()
    title = f"{_HEADLINES.get(notification.event, notification.event)}: {ticket}"
    reason = notification.reason.strip()
    if len(reason) > REASON_CHARACTERS:
        reason = reason[: REASON_CHARACTERS - 1].rstrip() + "…"
    lines = [
        f"Ticket {ticket}",
        ticket_link(zendesk_url, notification.ticket_id),
        f"Customer: {notification.customer_name}",
        f"Reason: {reason or '(none given)'}",
    ]
    if notification.response_due is not None:
        lines.append(f"Response due: {when(notification.response_due, timezone)}")
    if notification.overdue_by is not None:
        lines.append(f"Overdue by: {format_timedelta(notification.overdue_by, threshold=1.5, locale='en')}")
    if notification.acknowledged_by:
        lines.append(f"Acknowledged by: {notification.acknowledged_by}")
    return title, "\n".join(lines)


def when(moment: datetime, timezone: ZoneInfo) -> str:
    """Monday, November 30, 2026, 10:00 (Central European Standard Time): in the account's timezone."""
    local = moment.astimezone(timezone)
    zone = "UTC" if timezone.key in ("UTC", "Etc/UTC") else get_timezone_name(local, "long", locale="en")
    return f"{format_datetime(local, 'EEEE, MMMM d, y, HH:mm', locale='en')} ({zone})"


def deliver(url: str, title: str, body: str, event: str = "escalated") -> bool:
    """Send one notification to one target; True when the target accepted it.

    Apprise's HTTP services give up after their connect and read timeouts (4 s
    each unless the URL says `cto=`/`rto=`); a target that fails is retried by
    the caller, never here.
    """
    apprise = _apprise()
    service = apprise.Apprise()
    with _quietly():
        added = service.add(url)
    if not added:
        return False
    try:
        return bool(
            service.notify(
                body=body,
                title=title,
                notify_type=getattr(apprise.NotifyType, _TYPES.get(event, "INFO")),
                body_format=apprise.NotifyFormat.TEXT,
            )
        )
    except Exception:  # a target's failure is a failed delivery, never a crash of the job
        log.warning("notification target %s raised an error", describe(url), exc_info=True)
        return False


def check_notify_urls(settings: Settings) -> Settings:
    """Raise ConfigError naming each ESCALATION_NOTIFY URL Apprise cannot send to; the settings otherwise.

    For the processes that send (the worker, `notify-test`) and `serve`, which starts
    the worker; `doctor` reports each URL itself.
    """
    if settings.notify_urls:
        problems = url_problems(settings.notify_urls)
        if problems:
            raise ConfigError(f"ESCALATION_NOTIFY: {'; '.join(problems)}")
    return settings
