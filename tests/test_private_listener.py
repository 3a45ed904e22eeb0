"""Metrics and readiness on a listener of their own, never on the webhook's public port.

The rules as plain functions first (the gauges, the stale sweep, the settings), then the listener over real
HTTP, readiness against real storage (SQLite, a real redis-server, a dead port), and the running service.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from escalations.admin.cli import build_parser
from escalations.admin.doctor import sweep_is_stale
from escalations.admin.serve import gunicorn_command, web_settings
from escalations.config import (
    ConfigError,
    PrivateListenerSettings,
    WebSettings,
    load_private_listener_settings,
    load_settings,
    load_web_settings,
)
from escalations.service.metrics import exposition, oldest_parked_age, sweep_last_success
from escalations.service.private_listener import PrivateListener, readiness
from escalations.service.storage import make_huey
from escalations.zendesk.state import AccountState, save_state
from tests.conftest import Service, free_port, wait_until
from tests.support.local_service import source_root

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def gauges(page: bytes) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(page.decode())
        for sample in family.samples
        if not sample.labels
    }


def queue_status(**changes: Any) -> dict[str, Any]:
    return {"pending": 0, "scheduled": 0, "parked": [], "sweep": {}, "notifications": {"waiting": 0}, **changes}


# The gauges: what a scrape reads from the queue's storage.


def test_the_sweeps_last_success_is_when_the_last_complete_sweep_started_and_zero_before_any() -> None:
    assert (
        sweep_last_success({"last_run": "2026-12-07T11:55:00Z", "cursor": 1})
        == (NOW - timedelta(minutes=5)).timestamp()
    )
    assert sweep_last_success({"cursor": 1_796_000_000}) == 0.0  # a sweep that saved pages but never finished
    assert sweep_last_success({}) == 0.0


def test_the_oldest_parked_ticket_age_counts_from_the_earliest_since_and_is_zero_with_none_parked() -> None:
    parked = [
        (7, {"since": (NOW - timedelta(minutes=3)).isoformat(), "reason": "422"}),
        (9, {"since": (NOW - timedelta(minutes=20)).isoformat(), "reason": "bug"}),
    ]
    assert oldest_parked_age(parked, NOW.timestamp()) == 20 * 60
    assert oldest_parked_age([], NOW.timestamp()) == 0.0


def test_a_scrape_shows_the_last_sweep_the_oldest_parked_ticket_and_the_sweep_interval() -> None:
    status = queue_status(
        parked=[(7, {"since": (NOW - timedelta(seconds=90)).isoformat(), "reason": "422"})],
        sweep={"last_run": "2026-12-07T11:59:00Z", "overdue": 2},
    )
    page, content_type = exposition(lambda: status, 300.0, clock=NOW.timestamp)
    values = gauges(page)
    assert content_type.startswith("text/plain")
    assert values["escalations_sweep_last_success_timestamp_seconds"] == NOW.timestamp() - 60
    assert values["escalations_oldest_parked_ticket_age_seconds"] == 90
    assert values["escalations_parked_tickets"] == 1 and values["escalations_overdue"] == 2
    assert values["escalations_sweep_interval_seconds"] == 300


# Doctor's rule for a stale sweep.


def test_a_sweep_is_stale_only_after_three_intervals() -> None:
    interval = 300.0
    assert not sweep_is_stale("2026-12-07T11:45:00Z", interval, NOW)  # exactly three intervals ago
    assert sweep_is_stale("2026-12-07T11:44:59Z", interval, NOW)
    assert not sweep_is_stale("2026-12-07T11:50:00Z", interval, NOW)
    assert not sweep_is_stale(None, interval, NOW)  # none yet: doctor has its own line for that


# The settings: variables, flags over variables, and what gunicorn is given.


def test_the_private_listener_is_on_loopback_by_default_and_names_a_bad_port() -> None:
    assert load_private_listener_settings({}) == PrivateListenerSettings("127.0.0.1", 9810)
    assert load_private_listener_settings({"METRICS_BIND": "0.0.0.0", "METRICS_PORT": "9911"}).port == 9911
    with pytest.raises(ConfigError, match=r"^METRICS_PORT must be a whole number from 1 to 65535, not '70000'$"):
        load_private_listener_settings({"METRICS_PORT": "70000"})


def test_the_web_settings_come_from_the_environment_and_name_a_bad_one() -> None:
    assert load_web_settings({}) == WebSettings("127.0.0.1", 8000, 1, 8, 30, 10, 2)
    given = load_web_settings(
        {"ESCALATIONS_WEB_WORKERS": "3", "ESCALATIONS_WEB_THREADS": "16", "ESCALATIONS_PORT": "80"}
    )
    assert (given.workers, given.threads, given.port) == (3, 16, 80)
    with pytest.raises(ConfigError, match=r"^ESCALATIONS_WEB_THREADS must be a whole number from 1 to 256"):
        load_web_settings({"ESCALATIONS_WEB_THREADS": "0"})


def test_a_flag_wins_over_its_variable_and_gunicorn_gets_every_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("ESCALATIONS_WEB_WORKERS", "2")
    monkeypatch.setenv("ESCALATIONS_WEB_THREADS", "4")
    monkeypatch.setenv("ESCALATIONS_HOST", "0.0.0.0")
    args = build_parser().parse_args(["web", "--threads", "12", "--timeout", "45", "--port", "8443"])
    web = web_settings(args)
    assert web == WebSettings("0.0.0.0", 8443, 2, 12, 45, 10, 2)
    command = gunicorn_command(web, "INFO")
    given = dict(zip(command[4::2], command[5::2], strict=False))
    assert given["--bind"] == "0.0.0.0:8443" and given["--workers"] == "2" and given["--threads"] == "12"
    assert given["--timeout"] == "45" and given["--graceful-timeout"] == "10" and given["--keep-alive"] == "2"
    assert gunicorn_command(WebSettings("::", 8000, 1, 8, 30, 10, 2), "INFO")[5] == "[::]:8000"


def test_a_flag_that_is_not_a_positive_number_is_refused_with_exit_status_2() -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "escalations.admin.cli", "serve", "--threads", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert answer.returncode == 2 and "--threads: must be a whole number of at least 1, not '0'" in answer.stderr


# The listener over real HTTP.


@pytest.fixture
def listening() -> Iterator[tuple[PrivateListener, dict[str, Any]]]:
    """A listener on a free loopback port, whose readiness report the test sets."""
    report: dict[str, Any] = {"ready": True, "state": True, "queue": True}
    listener = PrivateListener(
        PrivateListenerSettings("127.0.0.1", free_port()),
        lambda: (b"escalations_queue_depth 0.0\n", "text/plain; version=0.0.4"),
        lambda: report,
    ).start()
    try:
        yield listener, report
    finally:
        listener.stop()


def test_the_listener_serves_metrics_readiness_and_health_and_nothing_else(
    listening: tuple[PrivateListener, dict[str, Any]],
) -> None:
    listener, report = listening
    url = f"http://{listener.address}"
    metrics = requests.get(f"{url}/metrics", timeout=5)
    assert metrics.status_code == 200 and metrics.text == "escalations_queue_depth 0.0\n"
    assert metrics.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(f"{url}/readyz", timeout=5).json() == {"ready": True, "state": True, "queue": True}
    report.update(ready=False, queue=False, queue_error="ConnectionError")
    not_ready = requests.get(f"{url}/readyz", timeout=5)
    assert not_ready.status_code == 503 and not_ready.json()["queue_error"] == "ConnectionError"
    assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.post(f"{url}/webhooks/zendesk", data=b"{}", timeout=5).status_code == 404
    assert requests.post(f"{url}/metrics", timeout=5).status_code == 405


def test_a_port_in_use_stops_the_listener_with_one_line_naming_the_setting(
    listening: tuple[PrivateListener, dict[str, Any]],
) -> None:
    taken = listening[0].settings
    with pytest.raises(ConfigError, match=rf"^METRICS_BIND/METRICS_PORT: cannot listen on 127\.0\.0\.1:{taken.port} "):
        PrivateListener(taken, lambda: (b"", "text/plain"), lambda: {}).start()


def test_healthcheck_exits_0_while_the_listener_answers_and_1_with_one_line_once_it_is_gone(
    listening: tuple[PrivateListener, dict[str, Any]], tmp_path: Path
) -> None:
    listener = listening[0]
    env = {"METRICS_PORT": str(listener.settings.port), "PYTHONPATH": str(source_root())}

    def healthcheck() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "escalations.admin.cli", "healthcheck", "--private", "--timeout", "2"]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)

    assert healthcheck().returncode == 0
    listener.stop()
    gone = healthcheck()
    assert gone.returncode == 1
    assert gone.stderr.startswith(f"escalations: http://127.0.0.1:{listener.settings.port}/healthz: ")
    assert len(gone.stderr.splitlines()) == 1


# Readiness against real storage.


def account_settings(data_dir: Path) -> Any:
    return load_settings(
        {
            "ZENDESK_SUBDOMAIN": "acme",
            "ZENDESK_EMAIL": "admin@acme.test",
            "ZENDESK_API_TOKEN": "token",
            "ESCALATIONS_DATA_DIR": str(data_dir),
        }
    )


def account_state(zendesk_url: str) -> AccountState:
    return AccountState(
        zendesk_url=zendesk_url,
        field_ids={},
        manager_group_id=1,
        webhook_id="01HWEBHOOK",
        signing_secret="secret",
        service_user_id=1,
        active_since="2026-11-01T00:00:00Z",
    )


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_readiness_needs_the_account_state_of_this_account(tmp_path: Path) -> None:
    settings = account_settings(tmp_path)
    queue = make_huey(None, tmp_path)
    missing = readiness(settings, [queue])
    assert missing["ready"] is False and missing["state"] is False and missing["queue"] is True
    assert "run 'escalations setup' first" in missing["state_error"]
    save_state(settings.state_file, account_state("https://globex.zendesk.com"))
    other: Mapping[str, Any] = readiness(settings, [queue])
    assert other["ready"] is False and "written for https://globex.zendesk.com" in other["state_error"]
    save_state(settings.state_file, account_state("https://acme.zendesk.com"))
    assert readiness(settings, [queue]) == {"ready": True, "state": True, "queue_pending": 0, "queue": True}


def test_readiness_reads_redis_and_is_not_ready_when_redis_does_not_answer(tmp_path: Path, redis_url: str) -> None:
    settings = account_settings(tmp_path)
    save_state(settings.state_file, account_state("https://acme.zendesk.com"))
    assert readiness(settings, [make_huey(redis_url, tmp_path)])["ready"] is True
    unreachable = make_huey(f"redis://127.0.0.1:{dead_port()}/0", tmp_path)
    report = readiness(settings, [unreachable])
    assert report["ready"] is False and report["queue"] is False and report["queue_error"] == "ConnectionError"


# The running service.


def test_the_public_port_serves_no_metrics_or_readiness_and_the_private_one_does(service: Service) -> None:
    assert requests.get(f"{service.url}/metrics", timeout=5).status_code == 404
    assert requests.get(f"{service.url}/readyz", timeout=5).status_code == 404
    ready = requests.get(f"{service.metrics_url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["ready"] is True
    wait_until(lambda: service.sweeps_done() >= 1, what="the start-up sweep to finish")
    values = gauges(requests.get(f"{service.metrics_url}/metrics", timeout=5).content)
    swept_at = datetime.fromtimestamp(values["escalations_sweep_last_success_timestamp_seconds"], UTC)
    assert timedelta(0) <= datetime.now(UTC) - swept_at < timedelta(minutes=2)
    assert values["escalations_sweep_interval_seconds"] == 3600
    assert values["escalations_oldest_parked_ticket_age_seconds"] == 0


def test_doctor_warns_when_the_last_sweep_is_older_than_three_intervals(service_env: Service) -> None:
    service_env.run("setup")
    queue = make_huey(None, service_env.data_dir)
    recent = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")  # interval: 3600 s
    queue.put("sweep", {"last_run": recent, "cursor": 1, "tickets": 0, "overdue": 0})
    assert "older than 3 sweep intervals" not in service_env.run("doctor").stdout
    stale = (datetime.now(UTC) - timedelta(hours=3, minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    queue.put("sweep", {"last_run": stale, "cursor": 1, "tickets": 0, "overdue": 0})
    doctor = service_env.run("doctor")  # a warning, not a failure: exit status 0
    assert "warn  the last sweep is older than 3 sweep intervals (3 × 3600 s)" in doctor.stdout
