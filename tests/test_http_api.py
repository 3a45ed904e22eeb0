"""The shipped openapi.yaml is true: it names every route, and the running service answers as it says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import yaml
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from escalations.sandbox import SandboxZendesk
from tests.conftest import Service, free_port
from tests.contract.session import checked_sandbox
from tests.support.local_service import service_environment

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "openapi.yaml"
schema = schemathesis.openapi.from_path(str(SPEC))


def test_the_spec_names_exactly_the_routes_the_app_serves(client) -> None:  # type: ignore[no-untyped-def]
    documented = {
        (path, method.upper()) for path, item in yaml.safe_load(SPEC.read_text())["paths"].items() for method in item
    }
    served = {
        (rule.rule, method)
        for rule in client.application.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert documented == served


@pytest.fixture(scope="module")
def running_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for every generated case: setup and serve against a fresh sandbox."""
    account = SandboxZendesk()
    with checked_sandbox(account) as server:
        port = free_port()
        workdir = tmp_path_factory.mktemp("http-api")
        env = service_environment(
            zendesk_url=server.url,
            email=account.email,
            api_token=account.api_token,
            port=port,
            data_dir=workdir / "var",
        )
        service = Service(env, port, workdir, zendesk=account)
        try:
            service.run("setup")
            service.start()
            yield service
        finally:
            service.stop()


@schema.parametrize()
def test_generated_requests_get_documented_answers_and_never_a_5xx(case, running_service: Service) -> None:  # type: ignore[no-untyped-def]
    before = running_service.zendesk.requests_log()
    response = case.call(base_url=running_service.url)
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
    assert response.headers.get("x-content-type-options") == ["nosniff"], case.path
    if case.path == "/webhooks/zendesk":
        assert response.status_code != 202  # nothing generated here is signed
    # Unsigned input changes nothing in Zendesk: no write reaches it.
    after = running_service.zendesk.requests_log()
    assert [e for e in after[len(before) :] if e["method"] != "GET"] == []
