"""Prometheus metrics, counted in every process of the service and served by `GET /metrics`.

`escalations serve` runs several processes (gunicorn's workers and the queue
worker), so it points PROMETHEUS_MULTIPROC_DIR at a fresh temporary folder
and the page adds the processes' counts up when scraped (`web` does the same
for gunicorn's processes). The page is served by the private listener
(`escalations.service.private_listener`), not on the webhook's port. Queue depth, parked
tickets, overdue escalations and the last sweep (and the host that ran it)
are read from the queue's storage at scrape time: every host reads the same
storage, so dashboards and alerts take their `max`, not their sum.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from escalations.core.fields import NOTIFY_EVENTS

if TYPE_CHECKING:
    pass  # the web processes and the private listener never load it: only the annotation needs it

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

WEBHOOKS = Counter(
    "escalations_webhooks_total",
    "Webhook invocations, by outcome: accepted, own_update, unavailable (answered 503: the queue's storage "
    "failed), or the reason a request was rejected.",
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
    "unavailable",
    "secret_rotating",
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
    "excluded",
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


def sweep_last_success(sweep: Mapping[str, Any]) -> float:
    """When the last complete sweep started, in Unix seconds; 0 when none has completed."""
    last_run = sweep.get("last_run")
    return datetime.fromisoformat(last_run).timestamp() if isinstance(last_run, str) and last_run else 0.0


def oldest_parked_age(parked: Iterable[tuple[int, Mapping[str, Any]]], now: float) -> float:
    """How long, in seconds, the ticket parked the longest has been parked; 0 when none is."""
    since = [datetime.fromisoformat(record["since"]).timestamp() for _, record in parked if record.get("since")]
    return max(0.0, now - min(since)) if since else 0.0


class QueueCollector(Collector):
    """Gauges read from the queue's storage when scraped."""

    def __init__(
        self,
        read: Callable[[], Mapping[str, Any]],
        sweep_interval: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.read = read
        self.sweep_interval = sweep_interval
        self.clock = clock

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
            (
                "escalations_sweep_last_success_timestamp_seconds",
                "When the last complete catch-up sweep started, in Unix time (0: none has completed yet).",
                sweep_last_success(sweep),
            ),
            (
                "escalations_oldest_parked_ticket_age_seconds",
                "How long the ticket parked the longest has been parked (0: none is).",
                oldest_parked_age(status.get("parked") or [], self.clock()),
            ),
        ):
            yield GaugeMetricFamily(name, documentation, value=float(value))
        if self.sweep_interval is not None:
            # Alerts compare the last sweep with the interval this service is configured with.
            yield GaugeMetricFamily(
                "escalations_sweep_interval_seconds",
                "How often the catch-up sweep runs (ESCALATIONS_RECONCILE_SECONDS).",
                value=float(self.sweep_interval),
            )
        if sweep.get("host"):
            last_host = GaugeMetricFamily(
                "escalations_sweep_last_host_info",
                "The host and process that ran the last complete catch-up sweep of the cluster (always 1).",
                labels=["host"],
            )
            last_host.add_metric([str(sweep["host"])], 1.0)
            yield last_host


def exposition(
    read_queue: Callable[[], Mapping[str, Any]],
    sweep_interval: float | None = None,
    multiprocess_dir: Path | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[bytes, str]:
    """The metrics page: every process's counts (those counting into `multiprocess_dir`, by default
    PROMETHEUS_MULTIPROC_DIR; without either, this process's own), and the queue's gauges."""
    registry = CollectorRegistry()
    directory = str(multiprocess_dir or os.environ.get(MULTIPROCESS_DIR) or "")
    if directory:
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(REGISTRY)
    registry.register(QueueCollector(read_queue, sweep_interval, clock))
    return generate_latest(registry), CONTENT_TYPE_LATEST
