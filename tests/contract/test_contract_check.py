"""The contract check can fail: what the spec does not allow is refused or caught, and recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from plugin.sandbox import SandboxServer, SandboxZendesk
from plugin.sandbox.contract import ApiRequest, ApiResponse
from tests.contract.checker import OpenApiContract, ViolationLog, find_operation, load_exceptions

AUTH = {"Authorization": "Basic YWRtaW5Ac2FuZGJveC50ZXN0L3Rva2VuOnNhbmRib3gtdG9rZW4="}


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
