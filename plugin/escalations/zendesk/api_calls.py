"""The Zendesk API calls the service makes, counted by method, endpoint and status (for `GET /metrics`).

An endpoint is named by its path with the ids taken out, here for the metric's labels and for the pacing's
endpoint budgets alike, so that the label set stays small and a budget covers every ticket.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_client import Counter

API_CALLS = Counter(
    "escalations_zendesk_api_calls_total",
    "Zendesk API calls, by method, endpoint (ids replaced by {id}) and HTTP status.",
    ["method", "endpoint", "status"],
)

_NUMBER_ID = re.compile(r"/[0-9]+(?=/|\.json|$)")
_WEBHOOK_ID = re.compile(r"/webhooks/[0-9A-Z]{20,}")  # webhooks have ULID-like ids, not numbers


def endpoint_of(path: str) -> str:
    """An API path with its ids taken out: /api/v2/tickets/42.json -> /api/v2/tickets/{id}.json."""
    return _WEBHOOK_ID.sub("/webhooks/{id}", _NUMBER_ID.sub("/{id}", path))


def count_api_call(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
    """A requests response hook: count every call Zendesk answered."""
    request = response.request
    path = urlsplit(request.url or "").path
    API_CALLS.labels(method=request.method or "", endpoint=endpoint_of(path), status=str(response.status_code)).inc()
