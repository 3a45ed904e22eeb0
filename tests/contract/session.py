"""The contract check across a pytest session: one violation log, printed at the end, failing the session.

Loaded from tests/conftest.py (`pytest_plugins`). Fixtures that start a sandbox
pass `zendesk_contract()` to it; every violation not excepted in exceptions.yaml
fails the session, whichever test caused it.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from tests.contract.checker import OpenApiContract, ViolationLog, load_exceptions, tolerated_rules

SESSION_LOG = ViolationLog()
_EXCEPTIONS = load_exceptions()

# Sandbox rules (trigger definitions, view columns) that the exceptions let through. Sandboxes that
# the product starts in its own processes (`escalations demo`, `./run.sh`, the benchmark) read it too.
TOLERATE_VARIABLE = "SANDBOX_TOLERATE"


def zendesk_contract() -> OpenApiContract:
    """A contract check recording into the session's log."""
    return OpenApiContract(_EXCEPTIONS, SESSION_LOG)


def pytest_configure(config: pytest.Config) -> None:
    os.environ[TOLERATE_VARIABLE] = ",".join(tolerated_rules(_EXCEPTIONS))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if SESSION_LOG.failures() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    violations = SESSION_LOG.all()
    if not violations:
        return
    failures = Counter(v.line() for v in violations if v.excepted_by is None)
    excepted = Counter(v.excepted_by for v in violations if v.excepted_by is not None)
    terminalreporter.section("Zendesk contract")
    if failures:
        terminalreporter.write_line(f"{sum(failures.values())} violations of Zendesk's spec, not excepted:", red=True)
        for line, count in sorted(failures.items()):
            terminalreporter.write_line(f"  {count:>4} x {line}")
    terminalreporter.write_line(f"{sum(excepted.values())} let through by tests/contract/exceptions.yaml:")
    for label, count in sorted(excepted.items()):
        terminalreporter.write_line(f"  {count:>4} x {label}")
