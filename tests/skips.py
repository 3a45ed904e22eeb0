"""Skipped tests: a failure on CI, one line of what to install elsewhere.

CI (CI=true or 1) installs everything the tests need, so a skip there, from
whatever source (a fixture, a mark, a skip at collection), means a test did
not run: this plugin turns every skipped report into a failure. On a
newcomer's machine the run ends with one line: how many tests were skipped
and the Debian packages that would let them run, read from skip reasons of
the form "... (apt-get install <packages>)", as `require_tool` writes them.

Loaded from tests/conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from collections.abc import Generator

import pytest

_INSTALL = re.compile(r"\(apt-get install ([^)]+)\)")


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def require_tool(tool: str, package: str) -> str:
    """The tool's path; where it is missing, a skip that names the Debian package to install."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install {package})")
    return path


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """Why a report was skipped, as the skip said it."""
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr)


def _fail_on_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    # An expected failure (xfail) is reported as skipped too, with `wasxfail`: not a skip.
    if on_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = skip_reason(report)
        report.outcome = "failed"
        report.longrepr = f"skipped on CI, where every test must run (CI installs what they need): {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_on_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _fail_on_ci(report)
    return report


def skipped_line(reasons: list[str]) -> str:
    """One line for the skipped tests' reasons: how many, what to install, and any other reason."""
    wanted: set[str] = set()
    others: Counter[str] = Counter()
    for reason in reasons:
        install = _INSTALL.search(reason)
        if install is None:
            others[reason] += 1
        else:
            wanted.update(install.group(1).split())
    packages = sorted(wanted)
    parts = [f"install {', '.join(packages)} (apt-get install {' '.join(packages)})"] if packages else []
    parts += [f"{reason} ({count})" if packages or len(others) > 1 else reason for reason, count in others.items()]
    tests = "test" if len(reasons) == 1 else "tests"
    return f"{len(reasons)} {tests} skipped: {'; '.join(parts)}"


# The outermost wrapper: its line comes after the terminal's own summary, the last of the run.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None]:
    yield
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = [report for report in reporter.stats.get("skipped", []) if not hasattr(report, "wasxfail")]
    if skipped:
        reporter.write_line(skipped_line([skip_reason(report) for report in skipped]), yellow=True, bold=True)
