"""The alert rules and the Grafana dashboard: promtool checks and unit-tests the rules, and every metric they
and the dashboard name is one that a running service's /metrics really serves.

promtool (Debian's prometheus package) is skipped where it is missing, except on CI, which installs it.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, Service, wait_until
from tests.skips import require_tool

PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "escalations.json"
# A metric in a query, with its label matchers: escalations_webhooks_total{outcome="accepted"}.
SELECTOR = re.compile(r"\b(?P<name>escalations_[a-z0-9_]+|up)\b(?:\{(?P<matchers>[^}]*)\})?")
MATCHER = re.compile(r'(?P<label>[a-z_]+)\s*(?P<operator>=~|!~|!=|=)\s*"(?P<value>[^"]*)"')
# Labels whose every value the service creates at 0 from the start: a query naming one that does not exist
# would silently show nothing.
KNOWN_VALUES = ("outcome", "event")


def promtool(*arguments: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    tool = require_tool("promtool", "prometheus")
    return subprocess.run([tool, *arguments], cwd=cwd, capture_output=True, text=True, timeout=120)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_promtool_checks_the_rules_and_the_example_configuration() -> None:
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    tests = promtool("test", "rules", "alerts.test.yml")
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_every_alert_has_a_unit_test_in_which_it_fires() -> None:
    cases = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    fired = {check["alertname"] for case in cases for check in case["alert_rule_test"] if check["exp_alerts"]}
    assert fired == {rule["alert"] for rule in alert_rules()}


def test_the_issue_s_alerts_are_all_there() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    expected = {
        "EscalationsServiceDown",  # the service down
        "EscalationsWebhookFailing",  # webhook 5xx
        "EscalationsWebhookSignatureRejected",  # a burst of 401s: a signing-secret mismatch
        "EscalationsTicketsParked",  # parked tickets for 15 minutes
        "EscalationsSweepStale",  # the sweep stale
        "EscalationsNotificationsFailing",  # notifications failing
        "EscalationsZendeskRateLimited",  # 429s from Zendesk
    }
    assert expected <= names


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool checks PromQL in rule files: the dashboard's queries, as recording rules, are checked the same way.
    rules = [{"record": f"dashboard:query_{number}", "expr": expr} for number, expr in enumerate(dashboard_queries())]
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def selectors(query: str) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    for match in SELECTOR.finditer(query):
        matchers = [m.group("label", "operator", "value") for m in MATCHER.finditer(match.group("matchers") or "")]
        yield match.group("name"), matchers


def served(service: Service) -> dict[str, list[dict[str, str]]]:
    """Each sample name on the service's /metrics, with the label sets it is served with."""
    page = requests.get(f"{service.metrics_url}/metrics", timeout=5).text
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample.labels)
    return samples


def test_every_metric_the_alerts_and_the_dashboard_name_is_served_with_its_labels(service: Service) -> None:
    wait_until(lambda: service.sweeps_done() >= 1, what="the start-up sweep, which makes the first API calls")
    samples = served(service)
    jobs = [job["job_name"] for job in yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]]
    queries = dashboard_queries() + [rule["expr"] for rule in alert_rules()]
    assert len(queries) > 10
    for query in queries:
        found = list(selectors(query))
        assert found, f"no metric of the service in {query!r}"
        for name, matchers in found:
            if name == "up":  # Prometheus's own, one per scrape job
                for label, operator, value in matchers:
                    assert label == "job" and operator == "=~" and all(re.fullmatch(value, job) for job in jobs)
                continue
            assert name in samples, f"{name} (in {query!r}) is not served"
            for label, operator, value in matchers:
                label_sets = samples[name]
                assert any(label in labels for labels in label_sets), f"{name} has no label {label}"
                if label in KNOWN_VALUES and operator in ("=", "=~"):
                    values = {labels[label] for labels in label_sets}
                    wanted = value.split("|") if operator == "=~" else [value]
                    assert set(wanted) <= values, f"{name}{{{label}}} is never {set(wanted) - values}"
