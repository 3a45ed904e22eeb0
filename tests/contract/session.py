"""The contract check across a pytest session, its worker processes and the sandboxes of other processes.

Loaded from tests/conftest.py (`pytest_plugins`). The session's controller (the
pytest process, or pytest-xdist's controller, never one of its workers) makes a
findings directory and names it in SANDBOX_CONTRACT_FINDINGS, which every
process started afterwards inherits, workers included:

- a sandbox a test starts with `checked_sandbox` checks each exchange as it
  happens (refusing what Zendesk would refuse), and its process appends each
  violation to `violations-<pid>.jsonl` in the directory;
- a sandbox started with no check, in another process (`escalations demo`,
  ``./run.sh``, ``python -m escalations.sandbox``, the benchmark) or in this one,
  writes its exchanges to `exchanges-*.jsonl` there (plugin/escalations/sandbox/contract.py),
  checked against the spec by the controller at the end.

At the end the controller reads every file, prints a summary and fails the
session on any violation not excepted in exceptions.yaml, and, in a full run
(see `partial_run`), on any exceptions.yaml entry that excepted nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from escalations.sandbox import SandboxServer, SandboxZendesk
from escalations.sandbox.contract import EXCHANGES_PREFIX, FINDINGS_VARIABLE, ApiRequest, ApiResponse
from tests.contract.checker import (
    ContractException,
    OpenApiContract,
    Violation,
    ViolationLog,
    load_exceptions,
    prepare,
)

VIOLATIONS_PREFIX = "violations-"
_EXCEPTIONS = load_exceptions()


class FindingsLog(ViolationLog):
    """The violations found in this process, each also written at once to the session's findings directory."""

    def __init__(self) -> None:
        super().__init__()
        self._out: IO[str] | None = None
        self._pid = 0

    def _added(self, violation: Violation) -> None:
        directory = os.environ.get(FINDINGS_VARIABLE)
        if not directory:
            return
        if self._out is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._out = open(Path(directory) / f"{VIOLATIONS_PREFIX}{self._pid}.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._out.write(violation.to_json() + "\n")
        self._out.flush()


SESSION_LOG = FindingsLog()


def zendesk_contract(log: ViolationLog = SESSION_LOG) -> OpenApiContract:
    """A contract check recording into `log`, by default the session's findings."""
    return OpenApiContract(_EXCEPTIONS, log)


@contextmanager
def checked_sandbox(account: SandboxZendesk | None = None, **server: Any) -> Iterator[SandboxServer]:
    """A sandbox serving `account` (a fresh seeded one by default) over HTTP, every exchange checked against
    Zendesk's spec; the one way tests start a sandbox in their own process."""
    prepare()
    with SandboxServer(account or SandboxZendesk(), contract=zendesk_contract(), **server) as started:
        yield started


def read_findings(directory: Path, exceptions: list[ContractException]) -> list[Violation]:
    """Every violation in `directory`: those recorded by checks, and those in the recorded exchanges."""
    found = ViolationLog()
    for path in sorted(directory.glob(f"{VIOLATIONS_PREFIX}*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            found.add(Violation.from_json(line))
    for path in sorted(directory.glob(f"{EXCHANGES_PREFIX}*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if not lines:
            continue
        contract = OpenApiContract(exceptions, found, where=f"sandbox of `{json.loads(lines[0])['process']}`")
        for line in lines[1:]:
            exchange = json.loads(line)
            request = ApiRequest(
                exchange["method"], exchange["path"], exchange["query"], exchange["headers"], exchange["body"].encode()
            )
            contract.check_request(request)
            response = ApiResponse(exchange["status"], exchange["response_headers"], exchange["response_body"].encode())
            contract.check_response(request, response)
    return found.all()


def unmatched_exceptions(violations: list[Violation], exceptions: list[ContractException]) -> list[str]:
    """The labels of the exceptions.yaml entries that excepted none of `violations`."""
    used = {v.excepted_by for v in violations}
    return [entry.label for entry in exceptions if entry.label not in used]


@dataclass(frozen=True)
class RunShape:
    """What decides whether a run exercised everything: how tests were chosen and how they ended."""

    chosen_by_testpaths: bool
    selected: bool  # -k, -m, --deselect, --last-failed, or any test deselected
    passed: int
    not_passed: int  # failed, errors, skipped, xfailed, xpassed
    exit_ok: bool


def partial_run(shape: RunShape) -> str | None:
    """Why the run does not exercise every test, or None for a full run.

    A full run chose its tests by `testpaths` alone (no file, directory or node id given, or only the tests
    directory), selected none away, and ran every test to a pass. Only then does an exceptions.yaml entry
    that excepted nothing mean it is stale: a partial run may simply not have reached its case.
    """
    if not shape.chosen_by_testpaths:
        return "tests chosen on the command line"
    if shape.selected:
        return "tests selected with -k, -m, --deselect or --last-failed"
    if not shape.exit_ok or shape.not_passed or not shape.passed:
        return "not every test ran and passed"
    return None


def _run_shape(session: pytest.Session) -> RunShape:
    config = session.config
    rootdir = config.rootpath
    testpaths = {(rootdir / p).resolve() for p in config.getini("testpaths")} or {rootdir}
    given = {(config.invocation_params.dir / arg).resolve() for arg in config.args if "::" not in arg}
    chosen_by_testpaths = config.args_source == pytest.Config.ArgsSource.TESTPATHS or (
        all("::" not in arg for arg in config.args) and given == testpaths
    )
    stats: dict[str, list[Any]] = getattr(config.pluginmanager.get_plugin("terminalreporter"), "stats", {})
    option = config.option
    selected = bool(
        getattr(option, "keyword", "")
        or getattr(option, "markexpr", "")
        or getattr(option, "deselect", None)
        or getattr(option, "lf", False)
        or stats.get("deselected")
    )
    not_passed = sum(len(stats.get(key, [])) for key in ("failed", "error", "skipped", "xfailed", "xpassed"))
    return RunShape(chosen_by_testpaths, selected, len(stats.get("passed", [])), not_passed, session.testsfailed == 0)


@dataclass
class _Verdict:
    violations: list[Violation] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    partial: str | None = None


_findings_directory: Path | None = None
_previous_variable: str | None = None
_verdict = _Verdict()


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")  # pytest-xdist gives its workers `workerinput`


def pytest_configure(config: pytest.Config) -> None:
    global _findings_directory, _previous_variable
    if not _is_controller(config):
        return  # a worker writes into the controller's directory, inherited through the environment
    _findings_directory = Path(tempfile.mkdtemp(prefix="zendesk-contract-"))
    _previous_variable = os.environ.get(FINDINGS_VARIABLE)
    os.environ[FINDINGS_VARIABLE] = str(_findings_directory)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _findings_directory is None:
        return
    if _previous_variable is None:
        os.environ.pop(FINDINGS_VARIABLE, None)
    else:
        os.environ[FINDINGS_VARIABLE] = _previous_variable
    shutil.rmtree(_findings_directory, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _findings_directory is None:
        return
    _verdict.violations = read_findings(_findings_directory, _EXCEPTIONS)
    _verdict.partial = partial_run(_run_shape(session))
    _verdict.unmatched = [] if _verdict.partial else unmatched_exceptions(_verdict.violations, _EXCEPTIONS)
    failures = any(v.excepted_by is None for v in _verdict.violations)
    if (failures or _verdict.unmatched) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    violations, unmatched = _verdict.violations, _verdict.unmatched
    if not violations and not unmatched:
        return
    failures = Counter(v.line() for v in violations if v.excepted_by is None)
    first_seen = {v.line(): v.where for v in reversed(violations)}
    excepted = Counter(v.excepted_by for v in violations if v.excepted_by is not None)
    terminalreporter.section("Zendesk contract")
    if failures:
        terminalreporter.write_line(f"{sum(failures.values())} violations of Zendesk's spec, not excepted:", red=True)
        for line, count in sorted(failures.items()):
            terminalreporter.write_line(f"  {count:>4} x {line}")
            terminalreporter.write_line(f"         first in {first_seen[line] or 'an unnamed place'}")
    terminalreporter.write_line(f"{sum(excepted.values())} let through by tests/contract/exceptions.yaml:")
    for label, count in sorted(excepted.items()):
        terminalreporter.write_line(f"  {count:>4} x {label}")
    if unmatched:
        terminalreporter.write_line(
            f"{len(unmatched)} entries of tests/contract/exceptions.yaml excepted nothing in this full run"
            " (remove them, or the case they cover is no longer exercised):",
            red=True,
        )
        for label in unmatched:
            terminalreporter.write_line(f"  matched nothing: {label}")
