"""A missing or malformed setting is a one-line error naming it, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from escalations.config import ConfigError, has_zendesk_credentials, load_settings
from tests.support.local_service import clean_environment

GOOD = {"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_EMAIL": "admin@acme.test", "ZENDESK_API_TOKEN": "t0ken"}


def test_defaults_fill_in_the_optional_settings() -> None:
    settings = load_settings(GOOD)
    assert settings.escalation_group == "Support Managers"
    assert settings.timezone.key == "UTC"
    assert settings.zendesk_base_url == "https://acme.zendesk.com"
    assert settings.data_dir == Path("var").resolve()
    assert settings.allow_copied_end_users and settings.reconcile_seconds == 300
    assert (settings.log_level, settings.log_format, settings.ticket_updates_per_minute) == ("INFO", "text", 100)


def test_logging_and_the_update_limit_are_settings_too() -> None:
    settings = load_settings(
        {**GOOD, "LOG_LEVEL": "debug", "LOG_FORMAT": "JSON", "ZENDESK_TICKET_UPDATES_PER_MINUTE": "300"}
    )
    assert (settings.log_level, settings.log_format, settings.ticket_updates_per_minute) == ("DEBUG", "json", 300)


def test_the_api_url_override_sends_every_call_elsewhere() -> None:
    settings = load_settings({**GOOD, "ZENDESK_API_URL": "http://127.0.0.1:8089/"})
    assert settings.zendesk_base_url == "http://127.0.0.1:8089"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"ZENDESK_SUBDOMAIN": ""}, "ZENDESK_SUBDOMAIN"),
        ({"ZENDESK_SUBDOMAIN": "acme.zendesk.com"}, "ZENDESK_SUBDOMAIN"),
        ({"ZENDESK_EMAIL": "admin"}, "ZENDESK_EMAIL"),
        ({"ZENDESK_API_TOKEN": "  "}, "ZENDESK_API_TOKEN"),
        ({"ZENDESK_API_URL": "127.0.0.1:8089"}, "ZENDESK_API_URL"),
        ({"PUBLIC_URL": "ftp://x"}, "PUBLIC_URL"),
        ({"ESCALATION_TIMEZONE": "Mars/Olympus"}, "ESCALATION_TIMEZONE"),
        ({"ESCALATION_REQUESTER_ONLY": "maybe"}, "ESCALATION_REQUESTER_ONLY"),
        ({"ESCALATIONS_RECONCILE_SECONDS": "soon"}, "ESCALATIONS_RECONCILE_SECONDS"),
        ({"REDIS_URL": "localhost"}, "REDIS_URL"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"ZENDESK_TICKET_UPDATES_PER_MINUTE": "0"}, "ZENDESK_TICKET_UPDATES_PER_MINUTE"),
        ({"ZENDESK_TICKET_UPDATES_PER_MINUTE": "many"}, "ZENDESK_TICKET_UPDATES_PER_MINUTE"),
        ({"ZENDESK_OAUTH_TOKEN": "oauth"}, "ZENDESK_OAUTH_TOKEN and ZENDESK_API_TOKEN are both set"),
        ({"ESCALATION_GROUP_BY_BRAND": "Acme Managers"}, "ESCALATION_GROUP_BY_BRAND"),
        ({"ESCALATION_GROUP_BY_BRAND": "Acme=A; acme=B"}, "ESCALATION_GROUP_BY_BRAND names the brand 'acme' twice"),
    ],
)
def test_a_bad_setting_is_named_in_one_line(change: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({**GOOD, **change})
    assert named in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, False),
        ({"ZENDESK_SUBDOMAIN": " ", "ZENDESK_EMAIL": "", "ZENDESK_API_TOKEN": ""}, False),
        (GOOD, True),
        ({"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_OAUTH_TOKEN": "oauth"}, True),
    ],
    ids=["none", "all empty", "all three", "an oauth token"],
)
def test_zendesk_credentials_are_all_or_nothing(given: dict[str, str], expected: bool) -> None:
    assert has_zendesk_credentials(given) is expected


def test_start_with_some_zendesk_settings_but_not_all_names_what_is_missing_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ZENDESK_SUBDOMAIN=acme\nZENDESK_EMAIL=admin@acme.test\n")
    result = subprocess.run(
        [sys.executable, "-m", "escalations.admin.cli", "start", "--port", "1", "--sandbox-port", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**clean_environment(), "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "plugin")},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "escalations: ZENDESK_API_TOKEN is not set but ZENDESK_SUBDOMAIN and ZENDESK_EMAIL are: "
        "set all three to use your Zendesk account, or none to use the local sandbox"
    )
    assert result.stdout == ""  # no sandbox was started


def test_the_real_environment_wins_over_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ZENDESK_SUBDOMAIN=fromfile\nZENDESK_EMAIL=a@b.test\nZENDESK_API_TOKEN=x\n")
    code = "from escalations.config import load_settings; print(load_settings().zendesk_subdomain)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENDESK_", "ESCALATION"))}
    root = str(Path(__file__).resolve().parents[1] / "plugin")
    run = lambda extra: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, **extra, "PYTHONPATH": root},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert run({}) == "fromfile"
    assert run({"ZENDESK_SUBDOMAIN": "fromenv"}) == "fromenv"


def test_the_command_line_reports_a_missing_setting_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENDESK_", "ESCALATION"))}
    result = subprocess.run(
        [sys.executable, "-m", "escalations.admin.cli", "doctor"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "plugin")},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "escalations: ZENDESK_SUBDOMAIN is not set (see .env.example)"


def test_an_oauth_token_signs_in_without_an_email_or_api_token() -> None:
    settings = load_settings({"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_OAUTH_TOKEN": " oauth-token "})
    assert settings.uses_oauth and settings.zendesk_oauth_token == "oauth-token"
    assert not load_settings(GOOD).uses_oauth


def test_an_oauth_token_without_the_subdomain_names_what_is_missing() -> None:
    with pytest.raises(ConfigError) as error:
        has_zendesk_credentials({"ZENDESK_OAUTH_TOKEN": "oauth"})
    assert str(error.value).startswith("ZENDESK_SUBDOMAIN is not set but ZENDESK_OAUTH_TOKEN is: set both")


def test_exclusions_and_the_managers_group_of_each_brand_are_read() -> None:
    settings = load_settings(
        {
            **GOOD,
            "ESCALATION_EXCLUDE_TAGS": "VIP, key_account  no_escalation",
            "ESCALATION_EXCLUDE_BRANDS": "Initech; Umbrella, Inc.",
            "ESCALATION_GROUP_BY_BRAND": "Acme=Acme Managers; Globex = Globex Managers;",
            "ESCALATION_GROUP": "Managers",
        }
    )
    assert settings.exclude_tags == ("vip", "key_account", "no_escalation")
    assert settings.exclude_brands == ("Initech", "Umbrella, Inc.")
    assert settings.group_by_brand == (("Acme", "Acme Managers"), ("Globex", "Globex Managers"))
    assert settings.manager_group_names == ("Managers", "Acme Managers", "Globex Managers")
