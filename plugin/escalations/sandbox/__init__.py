"""A local sandbox that behaves like a Zendesk Support account (it is not Zendesk)."""

from escalations.sandbox.errors import SandboxError
from escalations.sandbox.server import SandboxServer, create_sandbox_app
from escalations.sandbox.zendesk import SandboxZendesk

__all__ = ["SandboxError", "SandboxServer", "SandboxZendesk", "create_sandbox_app"]
