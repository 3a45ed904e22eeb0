"""The contract check can fail: what the spec does not allow is refused or caught, and recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from escalations.sandbox import SandboxServer, SandboxZendesk
from escalations.sandbox.contract import FINDINGS_VARIABLE, ApiRequest, ApiResponse
from tests.app_pages import check_zaf_exchanges
from tests.conftest import wait_until
from tests.contract.checker import OpenApiContract, Violation, ViolationLog, find_operation, load_exceptions
from tests.contract.session import RunShape, partial_run, read_findings, unmatched_exceptions

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Basic YWRtaW5Ac2FuZGJveC50ZXN0L3Rva2VuOnNhbmRib3gtdG9rZW4="}
BASIC = ("admin@sandbox.test/token", "sandbox-token")


@pytest.fixture
def checked() -> Iterator[tuple[SandboxServer, ViolationLog]]:
    """A sandbox whose violations go to a log of its own, not the session's."""
    log = ViolationLog()
    account = SandboxZendesk()
    with SandboxServer(account, contract=OpenApiContract(load_exceptions(), log)) as server:
        yield server, log


def api(server: SandboxServer, method: str, path: str, **kwargs: object) -> requests.Response:
    return requests.request(
        method, f"{server.url}{path}", auth=("admin@sandbox.test/token", "sandbox-token"), timeout=5, **kwargs
    )  # type: ignore[arg-type]


def test_a_path_the_spec_does_not_know_is_an_invalid_endpoint_and_recorded(
    checked: tuple[SandboxServer, ViolationLog],
) -> None:
    server, log = checked

    answer = api(server, "GET", "/api/v2/tickets/1/nonsense.json")

    assert answer.status_code == 404 and answer.json()["error"] == "InvalidEndpoint"
    [violation] = log.failures()
    assert (violation.kind, violation.method, violation.path) == ("unknown-path", "GET", "/api/v2/tickets/1/nonsense")


def test_a_body_of_the_wrong_shape_is_refused_before_the_account_sees_it(
    checked: tuple[SandboxServer, ViolationLog],
) -> None:
    server, log = checked

    answer = api(server, "PUT", "/api/v2/tickets/1.json", json={"ticket": {"tags": "not-a-list", "status": 7}})

    assert answer.status_code == 422 and answer.json()["error"] == "RecordInvalid"
    details = [v.detail for v in log.failures() if v.kind == "request-body"]
    assert any("ticket/tags" in d for d in details) and any("ticket/status" in d for d in details)


def test_a_malformed_answer_is_caught() -> None:
    log = ViolationLog()
    contract = OpenApiContract([], log)
    request = ApiRequest("GET", "/api/v2/tickets/1.json", "", AUTH, b"")
    malformed = {"ticket": {"id": "one", "status": "sleeping", "tags": "vip"}}

    contract.check_response(
        request, ApiResponse(200, {"Content-Type": "application/json"}, json.dumps(malformed).encode())
    )
    contract.check_response(request, ApiResponse(201, {"Content-Type": "application/json"}, b"{}"))
    contract.check_response(request, ApiResponse(404, {"Content-Type": "text/html"}, b"<h1>Not found</h1>"))

    kinds = sorted({v.kind for v in log.failures()})
    assert kinds == ["error-body", "response-body", "response-status"]
    details = " ".join(v.detail for v in log.failures())
    assert "ticket/id" in details and "ticket/status" in details and "ticket/tags" in details


def test_an_exception_lets_only_its_own_problem_through() -> None:
    log = ViolationLog()
    contract = OpenApiContract(load_exceptions(), log)
    webhooks = ApiRequest("GET", "/api/v2/webhooks", "", AUTH, b"")
    unknown = ApiRequest("GET", "/api/v2/webhooks_of_another_kind", "", AUTH, b"")

    assert contract.check_request(webhooks) is None
    refusal = contract.check_request(unknown)

    assert refusal is not None and refusal.status == 404
    assert [v.excepted_by is not None for v in log.all()] == [True, False]


def test_operations_are_found_literal_paths_first() -> None:
    me = find_operation("GET", "/api/v2/users/me")
    user = find_operation("GET", "/api/v2/users/42")

    assert me is not None and me.template == "/api/v2/users/me"
    assert user is not None and user.template == "/api/v2/users/{user_id}"
    assert find_operation("PATCH", "/api/v2/tickets/1") is None


def test_every_exception_names_its_method_path_and_reason() -> None:
    entries = load_exceptions()

    assert entries and all(e.method and e.path.pattern and e.excepts and len(e.reason) > 20 for e in entries)
    assert {e.heading for e in entries} <= {"spec wrong or silent", "refusals probed on purpose"}


# -- faults and refusals are checked too -----------------------------------------------------------


def test_a_request_met_by_an_injected_fault_is_still_checked(checked: tuple[SandboxServer, ViolationLog]) -> None:
    server, log = checked
    server.zendesk.inject_fault(status=429, count=1)

    answer = api(server, "PUT", "/api/v2/tickets/1.json", json={"ticket": {"tags": "not-a-list"}})

    assert answer.status_code == 422
    assert [v.kind for v in log.failures()] == ["request-body"]


def test_the_answer_of_an_injected_429_is_checked(checked: tuple[SandboxServer, ViolationLog]) -> None:
    server, log = checked
    server.zendesk.inject_fault(status=429, count=1, body_format="html")

    answer = api(server, "GET", "/api/v2/tickets/1.json")

    assert answer.status_code == 429
    # The answer is checked once it is sent: wait for the check to have run.
    [violation] = wait_until(log.failures, timeout=5, what="the answer to be checked")
    assert violation.kind == "error-body" and "429" in violation.detail


def test_a_request_refused_for_its_credentials_is_still_checked(checked: tuple[SandboxServer, ViolationLog]) -> None:
    server, log = checked

    answer = requests.get(
        f"{server.url}/api/v2/tickets/1/nonsense.json", auth=("admin@sandbox.test/token", "no"), timeout=5
    )

    assert answer.status_code == 404
    assert [v.kind for v in log.failures()] == ["unknown-path"]


def test_a_refusal_for_missing_credentials_is_answered_by_the_sandbox_and_checked(
    checked: tuple[SandboxServer, ViolationLog],
) -> None:
    server, log = checked

    answer = requests.get(f"{server.url}/api/v2/tickets/1.json", timeout=5)

    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Basic")
    [violation] = log.all()
    assert violation.kind == "security" and violation.excepted_by is not None
    assert violation.excepted_by.startswith("refusals probed on purpose")


# -- findings across processes, and what the session makes of them ---------------------------------

SUBPROCESS_SANDBOX_PROBE = """
import subprocess, sys
import requests

def test_a_sandbox_in_another_process():
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "escalations.sandbox", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = sandbox.stdout.readline().split(" at ")[1].strip()
        answer = requests.get(
            f"{url}/api/v2/tickets/1/nonsense.json", auth=("admin@sandbox.test/token", "sandbox-token"), timeout=5
        )
        assert answer.status_code == 404
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
"""


def run_session(folder: Path, test_source: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A pytest session of its own in `folder`, with the contract plugin, over one test file in `checks/`."""
    (folder / "pytest.ini").write_text("[pytest]\ntestpaths = checks\n")
    (folder / "checks").mkdir()
    (folder / "checks" / "test_probe.py").write_text(test_source)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pytest", "-p", "tests.contract.session", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_a_violation_in_a_sandbox_of_another_process_fails_the_session(tmp_path: Path) -> None:
    result = run_session(tmp_path, SUBPROCESS_SANDBOX_PROBE, "-k", "another_process")

    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "GET /api/v2/tickets/1/nonsense: unknown-path" in result.stdout
    assert "first in sandbox of `" in result.stdout and "plugin/escalations/sandbox/__main__.py" in result.stdout


def test_a_sandbox_in_another_process_records_its_exchanges_where_the_variable_says(tmp_path: Path) -> None:
    env = {**os.environ, FINDINGS_VARIABLE: str(tmp_path)}
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "escalations.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert sandbox.stdout is not None
        url = sandbox.stdout.readline().split(" at ")[1].strip()
        requests.get(f"{url}/api/v2/tickets/1.json", timeout=5)
        requests.put(f"{url}/api/v2/tickets/1.json", json={"ticket": {"status": 7}}, auth=BASIC, timeout=5)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    found = read_findings(tmp_path, load_exceptions())

    anonymous, *bad_status = found
    assert anonymous.kind == "security" and anonymous.path == "/api/v2/tickets/1"
    assert anonymous.excepted_by is not None and anonymous.excepted_by.startswith("refusals probed on purpose")
    assert bad_status and all(v.kind == "request-body" and v.excepted_by is None for v in bad_status)
    assert "ticket/status" in bad_status[0].detail
    assert all("plugin/escalations/sandbox/__main__.py" in v.where for v in found)


UNMATCHED_PROBE = "def test_nothing_of_zendesk():\n    assert True\n"


def test_an_exception_that_matched_nothing_fails_a_full_run_and_is_named(tmp_path: Path) -> None:
    result = run_session(tmp_path, UNMATCHED_PROBE)

    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    labels = [entry.label for entry in load_exceptions()]
    assert f"{len(labels)} entries of tests/contract/exceptions.yaml excepted nothing" in result.stdout
    assert all(f"matched nothing: {label}" in result.stdout for label in labels)


def test_an_exception_that_matched_nothing_is_not_judged_in_a_partial_run(tmp_path: Path) -> None:
    result = run_session(tmp_path, UNMATCHED_PROBE, "-k", "nothing_of_zendesk")

    assert result.returncode == pytest.ExitCode.OK, result.stdout + result.stderr
    assert "matched nothing" not in result.stdout


def test_only_exceptions_no_violation_used_are_unmatched() -> None:
    entries = load_exceptions()
    used = Violation("unknown-path", "GET", "/api/v2/webhooks", "", excepted_by=entries[0].label)

    assert unmatched_exceptions([used], entries) == [entry.label for entry in entries[1:]]


@pytest.mark.parametrize(
    ("shape", "partial"),
    [
        (RunShape(chosen_by_testpaths=True, selected=False, passed=10, not_passed=0, exit_ok=True), False),
        (RunShape(chosen_by_testpaths=False, selected=False, passed=10, not_passed=0, exit_ok=True), True),
        (RunShape(chosen_by_testpaths=True, selected=True, passed=10, not_passed=0, exit_ok=True), True),
        (RunShape(chosen_by_testpaths=True, selected=False, passed=9, not_passed=1, exit_ok=True), True),
        (RunShape(chosen_by_testpaths=True, selected=False, passed=10, not_passed=0, exit_ok=False), True),
        (RunShape(chosen_by_testpaths=True, selected=False, passed=0, not_passed=0, exit_ok=True), True),
    ],
)
def test_a_run_is_full_only_when_every_test_was_chosen_ran_and_passed(shape: RunShape, partial: bool) -> None:
    assert (partial_run(shape) is not None) == partial


def test_the_zaf_doubles_answers_are_checked_with_the_apps_requests() -> None:
    log = ViolationLog()
    ticket = {"type": "GET", "url": "/api/v2/tickets/1.json"}
    update = {"type": "PUT", "url": "/api/v2/tickets/1.json", "data": json.dumps({"ticket": {"tags": ["vip"]}})}

    check_zaf_exchanges(
        [ticket, update], [{"status": 200, "body": {"ticket": {"id": 1}}}, {"status": 409, "body": {}}], log
    )

    assert [(v.method, v.kind) for v in log.failures()] == [("GET", "response-body"), ("PUT", "error-body")]
    assert "requester_id" in log.failures()[0].detail
