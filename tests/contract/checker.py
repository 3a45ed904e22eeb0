"""Zendesk's published Support API spec, checked against every API exchange of the sandbox.

`OpenApiContract` is the sandbox's `ContractCheck`: it finds the operation a
request names, validates the request (parameters, body, Basic authentication)
and the answer (a documented status, the body against its schema) with
openapi-core, and records what does not match. A request that the spec does not
allow is refused as Zendesk would refuse it, unless `exceptions.yaml` excepts it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.datatypes import PathOperationServer
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import (
    MissingRequestBodyError,
    ParameterValidationError,
    RequestBodyValidationError,
    SecurityValidationError,
)
from openapi_core.validation.response.exceptions import ResponseValidationError
from werkzeug.datastructures import ImmutableMultiDict

from escalations.sandbox.contract import ApiRequest, ApiResponse
from escalations.sandbox.errors import SandboxError
from escalations.sandbox.help_center import SESSION_COOKIE

HERE = Path(__file__).resolve().parent
SPEC_PATH = HERE / "zendesk-support-openapi.yaml"
EXCEPTIONS_PATH = HERE / "exceptions.yaml"
HOST_URL = "https://sandbox.zendesk.com"  # matches the spec's server https://{subdomain}.{domain}.com
METHODS = ("get", "put", "post", "patch", "delete")

# What a check can find wrong; an exception names one of these, or a sandbox rule (see exceptions.yaml).
UNKNOWN_PATH = "unknown-path"
REQUEST_PARAMETERS = "request-parameters"
REQUEST_BODY = "request-body"
SECURITY = "security"
RESPONSE_STATUS = "response-status"
RESPONSE_BODY = "response-body"
ERROR_BODY = "error-body"


class _SpecLoader(yaml.CSafeLoader):
    """PyYAML's fast loader, reading the spec's bare `=` (YAML's `value` tag) as a plain string."""


_SpecLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


@functools.cache
def spec() -> dict[str, Any]:
    """The spec as data, read once per process."""
    with SPEC_PATH.open(encoding="utf-8") as source:
        loaded: dict[str, Any] = yaml.load(source, Loader=_SpecLoader)
    return loaded


class _RememberingPathFinder(APICallPathFinder):
    """openapi-core's path finder, remembering the operation it found for each method and URL.

    Alone, it matches the URL against every path of the spec on each request and again on its answer: about
    two fifths of the time a check takes. What it finds depends on nothing but the spec, the method and the URL.
    """

    _found: ClassVar[dict[tuple[str, str], PathOperationServer]] = {}  # shared by the finders each check makes

    def find(self, method: str, name: str) -> PathOperationServer:
        found = self._found.get((method, name))
        if found is None:
            found = self._found[method, name] = super().find(method, name)
        return found


@functools.cache
def openapi() -> OpenAPI:
    """openapi-core over the spec; the spec itself is not validated (it has undefined parameters)."""
    return OpenAPI.from_dict(spec(), config=Config(spec_validator_cls=None, path_finder_cls=_RememberingPathFinder))


@dataclass(frozen=True)
class Operation:
    """One documented operation: its path template and what the spec says of it."""

    template: str
    method: str
    definition: Mapping[str, Any]

    @property
    def statuses(self) -> set[str]:
        return {str(status) for status in self.definition.get("responses", {})}


@functools.cache
def _path_patterns() -> list[tuple[re.Pattern[str], str]]:
    """The spec's paths as patterns, literal paths before templated ones (`users/me` before `users/{id}`)."""
    patterns = []
    for template in spec()["paths"]:
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        patterns.append((re.compile(regex), template))
    return sorted(patterns, key=lambda pair: (pair[1].count("{"), -len(pair[1])))


def prepare() -> None:
    """Read the spec and build openapi-core's validators now, once per process (about a second, several on a
    busy machine), so that the first request a test makes is not the one that waits for them and times out."""
    openapi().validate_request(
        MockRequest(HOST_URL, "get", "/api/v2/tickets/1", headers={"authorization": "Basic eDp5"})
    )


def find_operation(method: str, path: str) -> Operation | None:
    """The documented operation for `method` on `path` (without `.json`), or None."""
    for pattern, template in _path_patterns():
        if pattern.fullmatch(path):
            definition = spec()["paths"][template].get(method.lower())
            if definition is not None:
                return Operation(template, method.upper(), definition)
    return None


@dataclass(frozen=True)
class Violation:
    """Something an API exchange did that the spec does not allow."""

    kind: str
    method: str
    path: str
    detail: str
    excepted_by: str | None = None
    where: str = ""  # the test running when it was found, or the process whose sandbox saw it

    def line(self) -> str:
        return f"{self.method} {self.path}: {self.kind}: {self.detail}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str) -> Violation:
        return cls(**json.loads(line))


@dataclass(frozen=True)
class ContractException:
    """One entry of exceptions.yaml: what is let through, where, and why."""

    heading: str
    method: str
    path: re.Pattern[str]
    excepts: str
    reason: str
    detail: re.Pattern[str] | None = None

    @property
    def label(self) -> str:
        """The entry, named uniquely: heading, method, path, what it excepts and its detail if any."""
        detail = f" /{self.detail.pattern}/" if self.detail is not None else ""
        return f"{self.heading}: {self.method} {self.path.pattern} {self.excepts}{detail}"

    def covers(self, kind: str, method: str, path: str, detail: str) -> bool:
        return (
            self.excepts == kind
            and self.method in ("*", method.upper())
            and self.path.fullmatch(path) is not None
            and (self.detail is None or self.detail.search(detail) is not None)
        )


def load_exceptions(path: Path = EXCEPTIONS_PATH) -> list[ContractException]:
    """The exceptions file, every entry checked to carry a method, a path, what it excepts and why."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = []
    for heading, items in data.items():
        for item in items or []:
            missing = {"method", "path", "excepts", "reason"} - item.keys()
            if missing:
                raise ValueError(f"{path.name}: an entry under {heading!r} lacks {sorted(missing)}: {item}")
            entries.append(
                ContractException(
                    heading=heading,
                    method=str(item["method"]).upper(),
                    path=re.compile(item["path"]),
                    excepts=str(item["excepts"]),
                    reason=" ".join(str(item["reason"]).split()),
                    detail=re.compile(item["detail"]) if item.get("detail") else None,
                )
            )
    labels = [entry.label for entry in entries]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ValueError(f"{path.name}: entries given twice: {twice}")
    return entries


class ViolationLog:
    """Violations recorded from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._violations: list[Violation] = []

    def add(self, violation: Violation) -> None:
        with self._lock:
            self._violations.append(violation)
            self._added(violation)

    def _added(self, violation: Violation) -> None:
        """Called under the lock for each violation added; a log that also keeps them elsewhere overrides it."""

    def all(self) -> list[Violation]:
        with self._lock:
            return list(self._violations)

    def failures(self) -> list[Violation]:
        return [v for v in self.all() if v.excepted_by is None]


class OpenApiContract:
    """The sandbox's contract check against Zendesk's published Support API spec."""

    def __init__(self, exceptions: list[ContractException], log: ViolationLog, where: str | None = None) -> None:
        self.exceptions = exceptions
        self.log = log
        self.where = where

    def check_request(self, request: ApiRequest) -> SandboxError | None:
        path = _api_path(request.path)
        operation = find_operation(request.method, path)
        if operation is None:
            problems = [(UNKNOWN_PATH, "the spec documents no such operation")]
        else:
            problems = _request_problems(request, path)
        refused = [(kind, detail) for kind, detail in problems if not self._record(kind, request.method, path, detail)]
        if not refused:
            return None
        kind, _ = refused[0]
        return _refusal(kind, "; ".join(detail for _, detail in refused))

    def check_response(self, request: ApiRequest, response: ApiResponse) -> None:
        path = _api_path(request.path)
        operation = find_operation(request.method, path)
        if operation is None:
            return  # an excepted unknown path: nothing to check the answer against
        for kind, detail in _response_problems(operation, request, response, path):
            self._record(kind, request.method, path, detail)

    def _record(self, kind: str, method: str, path: str, detail: str) -> bool:
        """Record a violation; True when an exception lets it through."""
        exception = next((e for e in self.exceptions if e.covers(kind, method, path, detail)), None)
        where = self.where if self.where is not None else os.environ.get("PYTEST_CURRENT_TEST", "").split(" (")[0]
        self.log.add(Violation(kind, method.upper(), path, detail, exception.label if exception else None, where))
        return exception is not None


def _api_path(path: str) -> str:
    return path.removesuffix(".json")


def _mock_request(request: ApiRequest, path: str) -> MockRequest:
    content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
    return MockRequest(
        HOST_URL,
        request.method.lower(),
        path,
        args=ImmutableMultiDict(parse_qsl(request.query, keep_blank_values=True)),
        headers={key.lower(): value for key, value in request.headers.items()},
        data=request.body.decode("utf-8", "replace") if request.body else None,
        content_type=content_type or "application/json",
    )


def _request_problems(request: ApiRequest, path: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    authorization = next((value for name, value in request.headers.items() if name.lower() == "authorization"), None)
    # A session (a Help Center theme's script, a Zendesk app's client.request) carries Zendesk's session cookie
    # and no credentials, an OAuth access token comes as a bearer token: say so, then check the rest of the
    # request as if it carried Basic credentials, so its parameters and body are still checked. One with neither
    # is said so too, and checked likewise.
    unlisted = None
    if authorization is None:
        unlisted = "no credentials: a session" if _has_session_cookie(request) else "no credentials"
    elif authorization.split(" ", 1)[0].lower() == "bearer":
        unlisted = "a bearer token: OAuth"
    if unlisted is not None:
        problems.append((SECURITY, f"Schemes not valid for any requirement: [['basicAuth']] ({unlisted})"))
        headers = {name: value for name, value in request.headers.items() if name.lower() != "authorization"}
        request = replace(request, headers={**headers, "Authorization": "Basic c2Vzc2lvbjpzZXNzaW9u"})
    try:
        openapi().validate_request(_mock_request(request, path))
    except SecurityValidationError as error:
        return [*problems, (SECURITY, str(error))]
    except ParameterValidationError as error:
        return [*problems, *((REQUEST_PARAMETERS, detail) for detail in _details(error))]
    except MissingRequestBodyError as error:
        return [*problems, (REQUEST_BODY, str(error))]
    except RequestBodyValidationError as error:
        return [*problems, *((REQUEST_BODY, detail) for detail in _details(error))]
    return problems


def _has_session_cookie(request: ApiRequest) -> bool:
    cookies = next((value for name, value in request.headers.items() if name.lower() == "cookie"), "")
    return any(part.strip().startswith(f"{SESSION_COOKIE}=") for part in cookies.split(";"))


def _response_problems(
    operation: Operation, request: ApiRequest, response: ApiResponse, path: str
) -> list[tuple[str, str]]:
    status = str(response.status)
    if status not in operation.statuses:
        if response.status >= 500:
            return []
        if response.status >= 400:
            return _error_body_problems(response)
        documented = ", ".join(sorted(operation.statuses)) or "none"
        return [(RESPONSE_STATUS, f"answered {status}; the spec documents {documented}")]
    if not response.body:
        return []
    mock = MockResponse(
        response.body.decode("utf-8", "replace"),
        status_code=response.status,
        headers={key.lower(): value for key, value in response.headers.items()},
        content_type=response.headers.get("Content-Type", "application/json").split(";")[0],
    )
    try:
        openapi().validate_response(_mock_request(request, path), mock)
    except ResponseValidationError as error:
        return [(RESPONSE_BODY, detail) for detail in _details(error)]
    return []


def _error_body_problems(response: ApiResponse) -> list[tuple[str, str]]:
    """Zendesk's error answers: `{"error": ..., "description": ...}` or `{"errors": [...]}`."""
    try:
        body = json.loads(response.body or b"null")
    except ValueError:
        return [(ERROR_BODY, f"answered {response.status} with a body that is not JSON")]
    shaped = isinstance(body, dict) and (
        isinstance(body.get("error"), (str, dict)) or isinstance(body.get("errors"), (list, dict))
    )
    return [] if shaped else [(ERROR_BODY, f"answered {response.status} with {str(body)[:120]}")]


def _refusal(kind: str, detail: str) -> SandboxError:
    """How Zendesk answers a request of that kind."""
    if kind == UNKNOWN_PATH:
        return SandboxError(404, "InvalidEndpoint", "Not found")
    if kind == SECURITY:
        return SandboxError(401, "Couldn't authenticate you", detail)
    if kind == REQUEST_BODY:
        return SandboxError(422, "RecordInvalid", f"Record validation errors: {detail}")
    return SandboxError(400, "InvalidValue", detail)


def _details(error: Exception) -> list[str]:
    """One line per schema error under `error` ("ticket/priority: None is not of type 'string'")."""
    schema_errors = getattr(error.__cause__, "schema_errors", None)
    if not schema_errors:
        return [" ".join(str(error).split())[:300]]
    details: list[str] = []
    for schema_error in schema_errors:
        # An anyOf or oneOf failed: its instance (a whole object) says little; each branch's own errors say what.
        for error_of in schema_error.context or [schema_error]:
            where = "/".join(str(part) for part in error_of.absolute_path) or "(body)"
            detail = " ".join(f"{where}: {error_of.message}".split())[:300]
            if detail not in details:
                details.append(detail)
    return details
