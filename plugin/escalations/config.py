"""Configuration from the environment, also read from ./.env (the real environment wins).

ESCALATION_PHRASES lists the phrases that ask for an escalation, per Zendesk
locale: comma-separated `locale=phrase` entries, several phrases for one
locale separated by `|`, for example

    ESCALATION_PHRASES=en=escalation request,de=Eskalationsanfrage|escalation request,ja=エスカレーション依頼

Unset, the English phrase "escalation request" serves every locale. A locale
without an entry uses its language's entry, then the English one (`pt-BR` →
`pt` → `en`); English keeps "escalation request" unless `en=` says otherwise.
Every listed phrase counts, whoever writes it, and the trigger created by
`escalations setup` listens for all of them (run setup again after a change).

ESCALATION_NOTIFY lists Apprise URLs (separated by spaces or commas) that the
managers are notified at; ESCALATION_NOTIFY_EVENTS the events they hear of
(default `escalated,overdue`; also `acknowledged`, `resolved`, `refused`).

Zendesk is reached with an admin's email and API token (ZENDESK_EMAIL,
ZENDESK_API_TOKEN) or with an OAuth access token (ZENDESK_OAUTH_TOKEN), not
both. ESCALATION_EXCLUDE_TAGS and ESCALATION_EXCLUDE_BRANDS keep tickets out of
the process (tags separated by spaces or commas; brand names by `;`).
ESCALATION_GROUP_BY_BRAND sends each brand's escalations to its own managers'
group, `Acme=Acme Managers; Globex=Globex Managers`; ESCALATION_GROUP takes the
rest. Setup writes these into Zendesk: run it again after a change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from escalations.core.calendar import WorkingCalendar
from escalations.core.fields import DEFAULT_NOTIFY_EVENTS, NOTIFY_EVENTS
from escalations.core.locales import normalise
from escalations.core.text import DEFAULT_PHRASES, Phrases


class ConfigError(Exception):
    """A missing or malformed setting; the message is one line naming it."""


LOG_FORMATS = ("text", "json")
UPDATES_PER_MINUTE = 100  # Zendesk's Update Ticket limit per account (300 with the High Volume add-on)
LEASE_SECONDS = 10.0  # how long a worker's claim on its jobs, or a lock, outlives its last renewal
BACKOFF_SECONDS = 2.0  # a failing job's first retry, doubled for each retry after it
SECRET_GRACE_SECONDS = 600.0  # how long the previous signing secret is still accepted after a rotation


@dataclass(frozen=True)
class LogSettings:
    """How every process of the service writes its log: LOG_LEVEL and LOG_FORMAT."""

    level: str
    format: str  # "text": one line of text per record; "json": one JSON object per line


@dataclass(frozen=True)
class Settings:
    zendesk_subdomain: str
    zendesk_email: str
    zendesk_api_token: str
    zendesk_api_url: str | None
    public_url: str | None
    escalation_group: str
    data_dir: Path
    timezone: ZoneInfo
    calendar: WorkingCalendar  # weekdays in `timezone`, less public holidays when configured
    schedule: str | None  # a Zendesk business-hours schedule to count instead, by name or id
    allow_copied_end_users: bool
    templates_dir: Path
    phrases: Phrases
    reconcile_seconds: float
    redis_url: str | None
    webhook_max_bytes: int
    log_level: str
    log_format: str
    ticket_updates_per_minute: int  # the account's Update Ticket limit; the service keeps to 80 % of it
    notify_urls: tuple[str, ...] = ()  # Apprise URLs the managers are notified at; none: no notifications
    notify_events: frozenset[str] = frozenset()  # the events they are notified of, when there are URLs
    zendesk_oauth_token: str = ""  # an OAuth access token, used instead of the email and API token when set
    exclude_tags: tuple[str, ...] = ()  # tickets with any of these tags are kept out of the process
    exclude_brands: tuple[str, ...] = ()  # so are tickets of these brands (by name)
    group_by_brand: tuple[tuple[str, str], ...] = ()  # (brand name, its managers' group name)

    @property
    def uses_oauth(self) -> bool:
        return bool(self.zendesk_oauth_token)

    @property
    def manager_group_names(self) -> tuple[str, ...]:
        """Every managers' group the settings name: ESCALATION_GROUP first, then each brand's, once each."""
        return tuple(dict.fromkeys((self.escalation_group, *(group for _, group in self.group_by_brand))))

    help_center_url: str | None = None  # the Help Center whose theme has the escalation form, linked in replies
    lease_seconds: float = LEASE_SECONDS
    backoff_seconds: float = BACKOFF_SECONDS
    secret_grace_seconds: float = SECRET_GRACE_SECONDS

    @property
    def logging(self) -> LogSettings:
        return LogSettings(self.log_level, self.log_format)

    @property
    def zendesk_base_url(self) -> str:
        """Where every Zendesk API call goes."""
        return self.zendesk_api_url or f"https://{self.zendesk_subdomain}.zendesk.com"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "state.json"


_SUBDOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# ESCALATION_NOTIFY's URLs are separated by spaces or commas; a comma inside a URL (`?to=a,b`) stays in it.
_URL_START = re.compile(r"(?:\s+|\s*,\s*)(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def read_environment(dotenv_path: Path | None = None) -> dict[str, str]:
    """The process environment over the values in `.env`."""
    path = dotenv_path if dotenv_path is not None else Path.cwd() / ".env"
    values = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.is_file() else {}
    values.update(os.environ)
    return values


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raise ConfigError naming the first bad one.

    ESCALATION_NOTIFY's URLs are split here and checked by `notify.check_notify_urls`
    where they are used (Apprise parses them; the other commands never load it).
    """
    env = dict(read_environment() if environ is None else environ)

    def required(name: str) -> str:
        value = env.get(name, "").strip()
        if not value:
            raise ConfigError(f"{name} is not set (see .env.example)")
        return value

    subdomain = required("ZENDESK_SUBDOMAIN").lower()
    if not _SUBDOMAIN.match(subdomain):
        raise ConfigError(
            f"ZENDESK_SUBDOMAIN must be the account's subdomain, like 'acme' for acme.zendesk.com, not {subdomain!r}"
        )
    oauth_token = env.get("ZENDESK_OAUTH_TOKEN", "").strip()
    if oauth_token and env.get("ZENDESK_API_TOKEN", "").strip():
        raise ConfigError(
            "ZENDESK_OAUTH_TOKEN and ZENDESK_API_TOKEN are both set: keep one (the OAuth token, or the email and "
            "API token)"
        )
    email = env.get("ZENDESK_EMAIL", "").strip() if oauth_token else required("ZENDESK_EMAIL")
    if email and "@" not in email:
        raise ConfigError("ZENDESK_EMAIL must be the email address of the API user")
    token = "" if oauth_token else required("ZENDESK_API_TOKEN")
    logs = load_log_settings(env)
    timezone = _timezone(env.get("ESCALATION_TIMEZONE", "").strip() or "UTC")
    notify_urls, notify_events = _notifications(env)

    return Settings(
        zendesk_subdomain=subdomain,
        zendesk_email=email,
        zendesk_api_token=token,
        zendesk_api_url=_url(env, "ZENDESK_API_URL"),
        public_url=_url(env, "PUBLIC_URL"),
        escalation_group=env.get("ESCALATION_GROUP", "").strip() or "Support Managers",
        data_dir=Path(env.get("ESCALATIONS_DATA_DIR", "").strip() or "var").resolve(),
        timezone=timezone,
        calendar=_calendar(timezone, env.get("ESCALATION_HOLIDAYS", "").strip()),
        schedule=env.get("ESCALATION_SCHEDULE", "").strip() or None,
        allow_copied_end_users=not _flag(env, "ESCALATION_REQUESTER_ONLY", False),
        templates_dir=Path(
            env.get("ESCALATIONS_TEMPLATES_DIR", "").strip()
            or Path(env.get("ESCALATIONS_DATA_DIR", "").strip() or "var") / "templates"
        ).resolve(),
        phrases=_phrases(env.get("ESCALATION_PHRASES", "")),
        reconcile_seconds=_number(env, "ESCALATIONS_RECONCILE_SECONDS", 300.0, minimum=0.5),
        redis_url=_url(env, "REDIS_URL", schemes=("redis", "rediss", "unix")),
        webhook_max_bytes=int(_number(env, "ESCALATIONS_WEBHOOK_MAX_BYTES", 262144, minimum=1024)),
        log_level=logs.level,
        log_format=logs.format,
        ticket_updates_per_minute=ticket_updates_per_minute(env),
        notify_urls=notify_urls,
        notify_events=notify_events,
        zendesk_oauth_token=oauth_token,
        exclude_tags=_tags(env.get("ESCALATION_EXCLUDE_TAGS", "")),
        exclude_brands=_names(env.get("ESCALATION_EXCLUDE_BRANDS", "")),
        group_by_brand=_groups_by_brand(env.get("ESCALATION_GROUP_BY_BRAND", "")),
        help_center_url=_url(env, "ESCALATION_HELP_CENTER_URL"),
        lease_seconds=_number(env, "ESCALATIONS_LEASE_SECONDS", LEASE_SECONDS, minimum=0.5),
        backoff_seconds=_number(env, "ESCALATIONS_BACKOFF_SECONDS", BACKOFF_SECONDS, minimum=0.01),
        secret_grace_seconds=_number(env, "ESCALATION_SECRET_GRACE_SECONDS", SECRET_GRACE_SECONDS, minimum=0),
    )


def _tags(value: str) -> tuple[str, ...]:
    """ESCALATION_EXCLUDE_TAGS: tags separated by spaces or commas, as Zendesk stores them (lower case)."""
    return tuple(dict.fromkeys(tag.lower() for tag in re.split(r"[\s,]+", value) if tag))


def _names(value: str) -> tuple[str, ...]:
    """Names separated by ';' (brand names may hold spaces and commas)."""
    return tuple(dict.fromkeys(name.strip() for name in value.split(";") if name.strip()))


def _groups_by_brand(value: str) -> tuple[tuple[str, str], ...]:
    """`Acme=Acme Managers; Globex=Globex Managers` → (("Acme", "Acme Managers"), ("Globex", "Globex Managers"))."""
    name = "ESCALATION_GROUP_BY_BRAND"
    pairs: dict[str, str] = {}
    for entry in (part.strip() for part in value.split(";")):
        if not entry:
            continue
        brand, equals, group = (text.strip() for text in entry.partition("="))
        if not equals or not brand or not group:
            raise ConfigError(
                f"{name} must be brand=group entries separated by ';', like 'Acme=Acme Managers; "
                f"Globex=Globex Managers', not {entry!r}"
            )
        if brand.lower() in (known.lower() for known in pairs):
            raise ConfigError(f"{name} names the brand {brand!r} twice")
        pairs[brand] = group
    return tuple(pairs.items())


def _notifications(env: Mapping[str, str]) -> tuple[tuple[str, ...], frozenset[str]]:
    """ESCALATION_NOTIFY's URLs (split, not parsed) and ESCALATION_NOTIFY_EVENTS."""
    value = env.get("ESCALATION_NOTIFY", "").strip()
    events_value = env.get("ESCALATION_NOTIFY_EVENTS", "").strip()
    names = [name.strip().lower() for name in events_value.split(",") if name.strip()] or list(DEFAULT_NOTIFY_EVENTS)
    unknown = [name for name in names if name not in NOTIFY_EVENTS]
    if unknown:
        raise ConfigError(
            f"ESCALATION_NOTIFY_EVENTS: unknown event {unknown[0]!r} (the events are {', '.join(NOTIFY_EVENTS)})"
        )
    if not value:
        return (), frozenset()
    urls = tuple(url for url in (part.strip() for part in _URL_START.split(value)) if url)
    return urls, frozenset(names)


def load_log_settings(environ: Mapping[str, str] | None = None) -> LogSettings:
    """LOG_LEVEL and LOG_FORMAT alone, for the commands that need no Zendesk settings."""
    env = read_environment() if environ is None else environ
    level = _log_level(env.get("LOG_LEVEL", "").strip() or "INFO")
    log_format = env.get("LOG_FORMAT", "").strip().lower() or "text"
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be text or json, not {env.get('LOG_FORMAT', '').strip()!r}")
    return LogSettings(level, log_format)


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "unix"):
        raise ConfigError(
            f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}, not {value!r}"
        )
    return value.rstrip("/")


def _calendar(timezone: ZoneInfo, holidays: str) -> WorkingCalendar:
    if not holidays:
        return WorkingCalendar.weekdays(timezone)
    try:
        return WorkingCalendar.with_public_holidays(timezone, holidays)
    except ValueError as error:
        raise ConfigError(f"ESCALATION_HOLIDAYS: {error}") from None


def _timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"ESCALATION_TIMEZONE must be an IANA timezone such as Europe/Berlin, not {name!r}") from None


def _phrases(value: str) -> Phrases:
    """`en=escalation request,de=Eskalationsanfrage|escalation request` → Phrases."""
    name = "ESCALATION_PHRASES"
    if not value.strip():
        return DEFAULT_PHRASES
    by_locale: dict[str, list[str]] = {}
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        locale, equals, phrases = entry.partition("=")
        if not equals or not locale.strip() or not phrases.strip():
            raise ConfigError(
                f"{name} must be comma-separated locale=phrase entries, like "
                f"'en=escalation request,de=Eskalationsanfrage', not {entry!r}"
            )
        try:
            tag = normalise(locale)
        except ValueError:
            raise ConfigError(f"{name}: {locale.strip()!r} is not a Zendesk locale such as en, de or pt-BR") from None
        by_locale.setdefault(tag, []).extend(phrase.strip() for phrase in phrases.split("|"))
    try:
        return Phrases.of(by_locale)
    except ValueError as error:
        raise ConfigError(f"{name}: {error}") from None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, not {value!r}")
    return number


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {value!r}")
    return level


ZENDESK_CREDENTIALS = ("ZENDESK_SUBDOMAIN", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN")
ZENDESK_OAUTH_CREDENTIALS = ("ZENDESK_SUBDOMAIN", "ZENDESK_OAUTH_TOKEN")


def has_zendesk_credentials(environ: Mapping[str, str] | None = None) -> bool:
    """True when the Zendesk settings are all given (the subdomain with the email and API token, or with an
    OAuth token), False when none is; ConfigError naming what is missing when only some are (a typo must
    not silently switch to the sandbox)."""
    env = read_environment() if environ is None else environ
    oauth = bool(env.get("ZENDESK_OAUTH_TOKEN", "").strip())
    names = ZENDESK_OAUTH_CREDENTIALS if oauth else ZENDESK_CREDENTIALS
    missing = [name for name in names if not env.get(name, "").strip()]
    if len(missing) == len(names):
        return False
    if missing:
        given = [name for name in names if name not in missing]
        everything = "both" if oauth else "all three"
        raise ConfigError(
            f"{_listed(missing)} {'is' if len(missing) == 1 else 'are'} not set but {_listed(given)} "
            f"{'is' if len(given) == 1 else 'are'}: set {everything} to use your Zendesk account, "
            "or none to use the local sandbox"
        )
    return True


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def ticket_updates_per_minute(environ: Mapping[str, str] | None = None) -> int:
    """ZENDESK_TICKET_UPDATES_PER_MINUTE: the account's Update Ticket limit (100; 300 with High Volume)."""
    env = read_environment() if environ is None else environ
    name, value = "ZENDESK_TICKET_UPDATES_PER_MINUTE", env.get("ZENDESK_TICKET_UPDATES_PER_MINUTE", "").strip()
    if not value:
        return UPDATES_PER_MINUTE
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class WebSettings:
    """How `serve` and `web` run gunicorn; each has a command-line flag that wins over its variable."""

    host: str  # ESCALATIONS_HOST: the address the webhook is served on
    port: int  # ESCALATIONS_PORT
    workers: int  # ESCALATIONS_WEB_WORKERS: gunicorn worker processes
    threads: int  # ESCALATIONS_WEB_THREADS: threads per worker process
    timeout: int  # ESCALATIONS_WEB_TIMEOUT: seconds a silent worker process lives before gunicorn restarts it
    graceful_timeout: int  # ESCALATIONS_WEB_GRACEFUL_TIMEOUT: seconds requests in flight get on a stop
    keepalive: int  # ESCALATIONS_WEB_KEEPALIVE: seconds an idle connection is kept open


@dataclass(frozen=True)
class PrivateListenerSettings:
    """Where /metrics, /readyz and /healthz are served, apart from the webhook: METRICS_BIND and METRICS_PORT."""

    bind: str
    port: int


def load_web_settings(environ: Mapping[str, str] | None = None) -> WebSettings:
    """The web front's settings from the environment; ConfigError naming the first bad one."""
    env = read_environment() if environ is None else environ
    return WebSettings(
        host=env.get("ESCALATIONS_HOST", "").strip() or "127.0.0.1",
        port=_whole(env, "ESCALATIONS_PORT", 8000, 1, 65535),
        workers=_whole(env, "ESCALATIONS_WEB_WORKERS", 1, 1, 64),
        # Webhooks answer in milliseconds: 8 threads keep up with far more than Zendesk sends.
        threads=_whole(env, "ESCALATIONS_WEB_THREADS", 8, 1, 256),
        timeout=_whole(env, "ESCALATIONS_WEB_TIMEOUT", 30, 1, 3600),
        graceful_timeout=_whole(env, "ESCALATIONS_WEB_GRACEFUL_TIMEOUT", 10, 1, 3600),
        keepalive=_whole(env, "ESCALATIONS_WEB_KEEPALIVE", 2, 1, 3600),
    )


def load_private_listener_settings(environ: Mapping[str, str] | None = None) -> PrivateListenerSettings:
    """METRICS_BIND (default loopback: only this machine can scrape) and METRICS_PORT (default 9810)."""
    env = read_environment() if environ is None else environ
    return PrivateListenerSettings(
        bind=env.get("METRICS_BIND", "").strip() or "127.0.0.1",
        port=_whole(env, "METRICS_PORT", 9810, 1, 65535),
    )


def _whole(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not minimum <= int(value) <= maximum:
        raise ConfigError(f"{name} must be a whole number from {minimum} to {maximum}, not {value!r}")
    return int(value)
