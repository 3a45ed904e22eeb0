"""The errors the sandbox answers with, shaped like Zendesk's."""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """A request the sandbox refuses, with the HTTP status and body Zendesk would send."""

    def __init__(self, status: int, error: str, description: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.details = details

    @property
    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        body: dict[str, Any] = {"error": self.error, "description": self.description}
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found() -> SandboxError:
    """Zendesk's answer for an id that does not exist."""
    return SandboxError(404, "RecordNotFound", "Not found")


def invalid(description: str) -> SandboxError:
    """Zendesk's answer for a record that fails validation."""
    return SandboxError(422, "RecordInvalid", description)


def record_invalid(problems: list[str]) -> SandboxError:
    """Zendesk's RecordInvalid, one `details.base` entry per problem (e.g. a trigger condition it does not offer)."""
    return SandboxError(
        422,
        "RecordInvalid",
        "Record validation errors",
        {"base": [{"description": problem, "error": "InvalidValue"} for problem in problems]},
    )


def forbidden() -> SandboxError:
    """Zendesk's answer to a user whose role may not use the endpoint."""
    return SandboxError(
        403,
        "Forbidden",
        "You do not have access to this page. Please contact the account owner of this help desk for further help.",
    )


def bad_request(description: str) -> SandboxError:
    """The answer for a body that is not what the endpoint expects."""
    return SandboxError(400, "InvalidValue", description)
