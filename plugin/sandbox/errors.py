"""The errors the sandbox answers with, shaped like Zendesk's."""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """A request the sandbox refuses, with the HTTP status and body Zendesk would send."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    @property
    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"error": self.error, "description": self.description}


def not_found() -> SandboxError:
    """Zendesk's answer for an id that does not exist."""
    return SandboxError(404, "RecordNotFound", "Not found")


def invalid(description: str) -> SandboxError:
    """Zendesk's answer for a record that fails validation."""
    return SandboxError(422, "RecordInvalid", description)


def bad_request(description: str) -> SandboxError:
    """The answer for a body that is not what the endpoint expects."""
    return SandboxError(400, "InvalidValue", description)
