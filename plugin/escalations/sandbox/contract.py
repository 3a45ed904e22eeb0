"""The hook through which a contract check sees every API request and response of the sandbox.

The sandbox does not know what the contract is (the test-suite checks Zendesk's
published OpenAPI spec, see ``tests/contract/``); it only hands each API
exchange over and refuses a request the check refuses.

A sandbox given no check looks at ``SANDBOX_CONTRACT_FINDINGS``: when a test
session sets it (to a directory), the sandbox writes every API exchange there,
one JSON line each, and the session checks them against the spec at its end.
That is how sandboxes the product starts in processes of its own (`escalations
demo`, ``./run.sh``, the benchmark) are checked, without the product depending
on the checker or the spec. Without the variable nothing is checked.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from escalations.sandbox.errors import SandboxError


@dataclass(frozen=True)
class ApiRequest:
    """An API request as the client sent it."""

    method: str
    path: str  # as sent, `.json` suffix included, without the query string
    query: str  # the raw query string
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class ApiResponse:
    """The sandbox's answer to an API request."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class ContractCheck(Protocol):
    """What the sandbox asks of a contract check."""

    def check_request(self, request: ApiRequest) -> SandboxError | None:
        """The error to answer instead of serving `request`, or None to serve it."""

    def check_response(self, request: ApiRequest, response: ApiResponse) -> None:
        """Look at the answer to `request` before it is sent (it is sent whatever the check thinks of it)."""


# Not a service setting (no ZENDESK_ prefix), so that the environments tests give the service keep it.
FINDINGS_VARIABLE = "SANDBOX_CONTRACT_FINDINGS"
EXCHANGES_PREFIX = "exchanges-"


class ExchangeRecorder:
    """A check that refuses nothing and writes every exchange to a file of its own in `directory`.

    The first line names the process (its command line); each further line is one exchange, written before
    its answer is sent, so that a process stopped once its client has the answer has recorded it.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / f"{EXCHANGES_PREFIX}{os.getpid()}-{uuid.uuid4().hex}.jsonl"
        self._lock = threading.Lock()
        self._write({"process": " ".join(sys.argv)})

    def check_request(self, request: ApiRequest) -> SandboxError | None:
        return None

    def check_response(self, request: ApiRequest, response: ApiResponse) -> None:
        self._write(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": dict(request.headers),
                "body": request.body.decode("utf-8", "replace"),
                "status": response.status,
                "response_headers": dict(response.headers),
                "response_body": response.body.decode("utf-8", "replace"),
            }
        )

    def _write(self, record: Mapping[str, object]) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


def contract_from_environment() -> ContractCheck | None:
    """The check a test session asks for through the environment, or None."""
    directory = os.environ.get(FINDINGS_VARIABLE)
    return ExchangeRecorder(Path(directory)) if directory else None
