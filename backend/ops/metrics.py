"""The Prometheus metrics, with the maintained client library (prometheus-client).

Multi-process: when ``PROMETHEUS_MULTIPROC_DIR`` names a directory (empty at start-up,
shared by every process of the host: gunicorn's workers, daphne, the worker), each
process writes its values there and ``/metrics`` sums them (``docs/operations.md``,
"Observe"). Without it every process counts for itself, which is right for one
process (``make run``'s daphne) and for the tests.

Queue depths and overdue counts are not counted as they change: they are read from the
database when Prometheus scrapes (``QueueCollector``, three queries).
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0)

HTTP_REQUESTS = Counter(
    "grid_http_requests_total", "HTTP requests by route pattern, method and status", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "grid_http_request_duration_seconds",
    "Server time per HTTP request, by route pattern and method",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
SYNC_PUSHES = Counter("grid_sync_push_requests_total", "Sync pushes answered")
SYNC_MUTATIONS = Counter(
    "grid_sync_mutations_total", "Offline mutations by result (applied, merged, conflict, rejected)", ["result"]
)
SYNC_PULLS = Counter("grid_sync_pull_requests_total", "Sync pull pages answered")
SYNC_PULL_CHANGES = Counter("grid_sync_pull_changes_total", "Changes sent in sync pull pages")
WEBSOCKETS_OPEN = Gauge(
    "grid_websocket_connections", "Open, authenticated websocket connections", multiprocess_mode="livesum"
)
WEBSOCKET_MESSAGES = Counter("grid_websocket_messages_total", "Messages sent on websockets by type", ["type"])
WEBSOCKET_LAG = Histogram(
    "grid_websocket_delivery_lag_seconds",
    "From a live notification's commit to its send on a socket",
    buckets=LAG_BUCKETS,
)
FCM_SENDS = Counter("grid_fcm_sends_total", "FCM sends by outcome (ok or the error)", ["outcome"])
SMS_SENDS = Counter("grid_sms_sends_total", "SMS sends by outcome (ok or the error)", ["outcome"])
WORKER_RUNS = Counter("grid_worker_job_runs_total", "Worker job runs by job and outcome", ["job", "outcome"])
WORKER_DURATION = Histogram("grid_worker_job_duration_seconds", "Worker job run time", ["job"], buckets=LATENCY_BUCKETS)
WORKER_LAG = Histogram(
    "grid_worker_job_lag_seconds", "How late a worker job started against its schedule", ["job"], buckets=LAG_BUCKETS
)
WORKER_LAST_SUCCESS = Gauge(
    "grid_worker_job_last_success_timestamp_seconds",
    "When each worker job last ran without error (Unix time)",
    ["job"],
    multiprocess_mode="max",
)


def record_sync_push(results: list[dict]) -> None:
    SYNC_PUSHES.inc()
    counts: dict[str, int] = {}
    for result in results:
        status = str(result.get("status", "unknown"))
        counts[status] = counts.get(status, 0) + 1
    for status, count in counts.items():
        SYNC_MUTATIONS.labels(status).inc(count)


def record_sync_pull(changes: int) -> None:
    SYNC_PULLS.inc()
    SYNC_PULL_CHANGES.inc(changes)


def record_fcm(outcome: str) -> None:
    FCM_SENDS.labels(outcome or "failed").inc()


def record_sms(outcome: str) -> None:
    """For the SMS sender: ``ok`` or the provider's error, named like FCM's (quota,
    unavailable, invalid, failed)."""
    SMS_SENDS.labels(outcome or "failed").inc()


def record_job(job: str, *, started: float, scheduled: float | None, ok: bool) -> None:
    """One worker job run: ``started`` and ``scheduled`` are ``time.time()`` values."""
    WORKER_RUNS.labels(job, "ok" if ok else "error").inc()
    WORKER_DURATION.labels(job).observe(max(0.0, time.time() - started))
    if scheduled is not None:
        WORKER_LAG.labels(job).observe(max(0.0, started - scheduled))
    if ok:
        WORKER_LAST_SUCCESS.labels(job).set(time.time())


class QueueCollector:
    """Open events by state and how many of them are overdue, the push outbox's backlog
    and the sync conflicts waiting: read at scrape time."""

    def collect(self):
        from django.db.models import Count, Min, Q

        from backend.events.models import Event, State
        from push.models import OutboxState, PushOutbox
        from sync.models import Conflict

        finished = (State.CLOSED, State.EVALUATED, State.REJECTED, State.MERGED)
        open_events = GaugeMetricFamily("grid_events_open", "Events not finished, by state", labels=["state"])
        overdue = GaugeMetricFamily("grid_events_overdue", "Overdue events not finished, by state", labels=["state"])
        rows = (
            Event.objects.exclude(state__in=finished)
            .values("state")
            .annotate(total=Count("pk"), late=Count("pk", filter=Q(overdue=True)))
            .order_by()
        )
        seen = {row["state"]: row for row in rows}
        for state in State:
            if state in finished:
                continue
            row = seen.get(state.value, {"total": 0, "late": 0})
            open_events.add_metric([state.value], row["total"])
            overdue.add_metric([state.value], row["late"])
        yield open_events
        yield overdue
        backlog = PushOutbox.objects.filter(state=OutboxState.PENDING).aggregate(
            total=Count("pk"), oldest=Min("next_attempt_at")
        )
        yield GaugeMetricFamily("grid_push_outbox_pending", "FCM sends waiting in the outbox", value=backlog["total"])
        oldest = backlog["oldest"]
        yield GaugeMetricFamily(
            "grid_push_outbox_oldest_due_seconds",
            "How long the oldest due FCM send has waited",
            value=max(0.0, time.time() - oldest.timestamp()) if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "grid_sync_conflicts_open",
            "Offline edit conflicts waiting",
            value=Conflict.objects.filter(status="open").count(),
        )


def exposition() -> tuple[bytes, str]:
    """The whole scrape: this host's processes (summed in multi-process mode) and the queues."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    queues = CollectorRegistry(auto_describe=False)
    queues.register(QueueCollector())
    return counted + generate_latest(queues), CONTENT_TYPE_LATEST
