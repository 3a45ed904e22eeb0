"""The service run as local processes for the tests and the benchmark: `escalations demo`'s, plus what they look at.

Beyond setup, serve and stop: the private listener's address, the account state `setup` stored, and webhooks
signed as Zendesk signs them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import requests

from escalations.admin import local_service
from escalations.admin.local_service import (
    CommandFailed,
    clean_environment,
    free_port,
    service_environment,
    source_root,
    wait_for,
)
from escalations.core.signature import sign
from escalations.zendesk.state import AccountState
from escalations.zendesk.state_store import FileStateStore, RedisStateStore, StateStore, read_state

__all__ = [
    "CommandFailed",
    "LocalService",
    "clean_environment",
    "free_port",
    "service_environment",
    "source_root",
    "wait_for",
]


class LocalService(local_service.LocalService):
    """One instance of the service, its processes, and what a test reads of it or sends to it."""

    @property
    def metrics_url(self) -> str:
        """The private listener: /metrics, /readyz and /healthz."""
        return f"http://127.0.0.1:{self.env.get('METRICS_PORT') or 9810}"

    @property
    def data_dir(self) -> Path:
        return Path(self.env.get("ESCALATIONS_DATA_DIR") or self.workdir / "var")

    def state_store(self) -> StateStore:
        """Where this instance's account state is: Redis when its environment names one, else its data directory."""
        redis_url = self.env.get("REDIS_URL", "").strip()
        return RedisStateStore(redis_url) if redis_url else FileStateStore(self.data_dir / "state.json")

    def account_state(self) -> AccountState:
        """The account state `setup` stored for this instance."""
        return read_state(self.state_store())

    def webhook_headers(
        self, body: bytes, invocation_id: str | None = None, secret: str | None = None
    ) -> dict[str, str]:
        """The headers Zendesk sends with `body`, signed with `secret` (by default the one `setup` stored)."""
        state = self.account_state()
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "Content-Type": "application/json",
            "X-Zendesk-Webhook-Id": state.webhook_id,
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
            "X-Zendesk-Webhook-Signature": sign(secret if secret is not None else state.signing_secret, stamp, body),
        }
        if invocation_id is not None:
            headers["X-Zendesk-Webhook-Invocation-Id"] = invocation_id
        return headers

    def deliver(
        self, body: bytes, invocation_id: str | None = None, timeout: float = 5, secret: str | None = None
    ) -> requests.Response:
        """POST a webhook body as Zendesk does (signed with `secret` instead of the stored one, if given)."""
        return requests.post(
            f"{self.url}/webhooks/zendesk",
            data=body,
            headers=self.webhook_headers(body, invocation_id, secret),
            timeout=timeout,
        )
