"""The hook through which a contract check sees every API request and response of the sandbox.

The sandbox does not know what the contract is (the test-suite checks Zendesk's
published OpenAPI spec, see ``tests/contract/``); it only hands each API
exchange over and refuses a request the check refuses. Without a check (the
command line, ``./run.sh``) nothing is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
        """Look at the answer to `request` (it is sent whatever the check thinks of it)."""
