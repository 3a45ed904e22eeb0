"""The baseline the webhook route is compared with: the smallest Flask app that checks the signature and answers.

Served by gunicorn with the same worker settings as `escalations serve`, it
does what any webhook receiver must do and nothing else: read the body,
verify Zendesk's signature (the same check as the service, `escalations.core.signature`)
and answer 200. The secret comes from BENCH_SIGNING_SECRET.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Flask, request

from escalations.core.signature import SignatureRejected, verify


def create_app() -> Flask:
    """The baseline app; gunicorn loads it as `benchmarks.baseline_app:create_app()`."""
    secret = os.environ["BENCH_SIGNING_SECRET"]
    app = Flask(__name__)

    @app.post("/webhooks/zendesk")
    def webhook() -> tuple[str, int]:
        body = request.get_data(cache=False)
        try:
            verify(
                secret,
                request.headers.get("X-Zendesk-Webhook-Signature"),
                request.headers.get("X-Zendesk-Webhook-Signature-Timestamp"),
                body,
                datetime.now(UTC),
            )
        except SignatureRejected:
            return "", 401
        return "", 200

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "", 200

    return app
