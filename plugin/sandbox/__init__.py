"""A local sandbox that behaves like a Zendesk Support account (it is not Zendesk)."""

from plugin.sandbox.errors import SandboxError
from plugin.sandbox.server import SandboxServer, create_sandbox_app
from plugin.sandbox.zendesk import SandboxZendesk

__all__ = ["SandboxError", "SandboxServer", "SandboxZendesk", "create_sandbox_app"]
