"""A local sandbox that behaves like a Zendesk Support account (it is not Zendesk), for the tests, `start` and `demo`.

May import the core, the configuration and the Help Center snippet it serves; only `admin.cli` and `admin.demo`
import it.
"""

from escalations.sandbox.errors import SandboxError
from escalations.sandbox.server import SandboxServer, create_sandbox_app
from escalations.sandbox.zendesk import SandboxZendesk

__all__ = ["SandboxError", "SandboxServer", "SandboxZendesk", "create_sandbox_app"]
