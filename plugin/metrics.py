"""Prometheus metrics, counted in every process of the service and served by `GET /metrics`.

`escalations serve` runs several processes (gunicorn's workers and the queue
worker), so it points PROMETHEUS_MULTIPROC_DIR at a fresh folder in the data
directory and the web app adds the processes' counts up when scraped. Queue
depth, parked tickets and overdue escalations are read from the queue's
storage at scrape time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from plugin.escalation_fields import NOTIFY_EVENTS

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

WEBHOOKS = Counter(
    "escalations_webhooks_total",
    "Webhook invocations, by outcome: accepted, own_update, or the reason a request was rejected.",
    ["outcome"],
)
DECISIONS = Counter(
    "escalations_decisions_total",
    "Tickets handled, by what the policy decided (escalated, refused, reason_requested, ...).",
    ["outcome"],
)
NOTIFICATIONS = Counter(
    "escalations_notifications_total",
    "Notifications for managers, by event and outcome: sent; failed (an attempt, retried with backoff); gave_up "
    "(after retrying for an hour); interrupted (the worker died while sending: not sent again); dropped (the target "
    "is no longer configured); lost (could not be queued).",
    ["event", "outcome"],
)
API_CALLS = Counter(
    "escalations_zendesk_api_calls_total",
    "Zendesk API calls, by method, endpoint (ids replaced by {id}) and HTTP status.",
    ["method", "endpoint", "status"],
)
# The outcomes known in advance, so that each series exists from the start at 0: a rate or an alert on
# `accepted` or `escalated` works on a fresh process, before the first webhook.
WEBHOOK_OUTCOMES = (
    "accepted",
    "own_update",
    "unauthorized",
    "unknown_webhook",
    "unsupported_media_type",
    "too_large",
    "invalid_json",
    "invalid_body",
    "invalid_ticket_id",
)
DECISION_OUTCOMES = (
    "escalated",
    "refused",
    "reason_requested",
    "reason_wait_ended",
    "confirmation_resent",
    "acknowledged",
    "overdue",
    "resolved",
    "notification_claimed",
    "ignored",
)
NOTIFICATION_EVENTS = NOTIFY_EVENTS
NOTIFICATION_OUTCOMES = ("sent", "failed", "gave_up", "interrupted", "dropped", "lost")
for _outcome in WEBHOOK_OUTCOMES:
    WEBHOOKS.labels(outcome=_outcome)
for _outcome in DECISION_OUTCOMES:
    DECISIONS.labels(outcome=_outcome)
for _event in NOTIFICATION_EVENTS:
    for _outcome in NOTIFICATION_OUTCOMES:
        NOTIFICATIONS.labels(event=_event, outcome=_outcome)

PROCESSING = Histogram(
    "escalations_processing_seconds",
    "Time to handle one ticket: reads, decision and writes.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def endpoint_of(path: str) -> str:
    """An API path with its ids taken out, so that the label set stays small."""
    path = re.sub(r"/[0-9]+(?=/|\.json|$)", "/{id}", path)
    return re.sub(r"/webhooks/[0-9A-Z]{20,}", "/webhooks/{id}", path)


def count_api_call(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
    """A requests response hook: count every call Zendesk answered."""
    request = response.request
    path = urlsplit(request.url or "").path
    API_CALLS.labels(method=request.method or "", endpoint=endpoint_of(path), status=str(response.status_code)).inc()


class QueueCollector(Collector):
    """Gauges read from the queue's storage when scraped."""

    def __init__(self, read: Callable[[], Mapping[str, Any]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            status = self.read()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the queue is briefly unreadable
            return
        sweep = status.get("sweep") or {}
        for name, documentation, value in (
            ("escalations_queue_depth", "Jobs waiting in the queue.", status.get("pending", 0)),
            ("escalations_queue_scheduled", "Jobs waiting for a retry.", status.get("scheduled", 0)),
            ("escalations_parked_tickets", "Tickets parked after failing.", len(status.get("parked") or [])),
            ("escalations_overdue", "Open escalations past due, as of the last sweep.", sweep.get("overdue", 0)),
            (
                "escalations_notifications_waiting",
                "Notifications for managers queued or waiting for a retry.",
                (status.get("notifications") or {}).get("waiting", 0),
            ),
        ):
            yield GaugeMetricFamily(name, documentation, value=float(value))


def exposition(read_queue: Callable[[], Mapping[str, Any]]) -> tuple[bytes, str]:
    """The metrics page: every process's counts, and the queue's gauges."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_DIR):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(REGISTRY)
    registry.register(QueueCollector(read_queue))
    return generate_latest(registry), CONTENT_TYPE_LATEST
