"""Metrics, request ids, JSON logs, liveness and readiness, Sentry."""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import OperationalError
from django.test import Client
from prometheus_client import REGISTRY

from backend.asgi import application
from backend.events.models import Event, State
from backend.ops import health
from backend.ops.context import request_id_scope
from backend.ops.jobs import MeasuredSender, run_job
from backend.ops.logs import JsonFormatter, RequestIdFilter
from backend.ops.metrics import record_sms
from backend.ops.models import NotificationOrigin
from conftest import login_as
from push.models import Notification, NotificationKind
from push.senders import FakeSender
from push.services import notify
from sync.tests.test_push import Phone, offline_report

TOKEN = "metrics-token-for-the-tests-0123456789"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(settings, **headers) -> tuple[int, str]:
    settings.METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", headers=headers)
    return response.status_code, response.content.decode()


def line_of(text: str, prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{prefix} not in the scrape")


def test_it_refuses_metrics_without_the_token_or_a_staff_session(db, settings):
    status, body = scrape(settings)
    assert status == 403 and json.loads(body)["code"] == "forbidden"
    assert scrape(settings, Authorization="Bearer wrong-token-wrong-token-wrong")[0] == 403
    resident = Client()
    resident.force_login(get_user_model().objects.get(username="demo_resident"))
    assert resident.get("/metrics").status_code == 403
    admin = Client()
    admin.force_login(get_user_model().objects.get(username="demo_admin"))
    assert admin.get("/metrics").status_code == 200


def test_it_counts_requests_by_route_pattern_not_by_path(as_persona, settings):
    dispatcher = as_persona("demo_dispatcher")
    event = Event.objects.filter(street__name="清波街道").first() or Event.objects.first()
    route = "api/v1/events/<event_id>"
    before = sample("grid_http_requests_total", route=route, method="GET", status="404")
    for _ in range(2):
        dispatcher.get("/events/00000000-0000-0000-0000-000000000000")
    assert sample("grid_http_requests_total", route=route, method="GET", status="404") == before + 2
    status, text = scrape(settings, Authorization=f"Bearer {TOKEN}")
    assert status == 200
    assert f'grid_http_request_duration_seconds_count{{method="GET",route="{route}"}}' in text
    assert "00000000-0000" not in text  # no raw paths
    assert event is None or str(event.pk) not in text


def test_it_reads_queue_depths_and_overdue_counts_at_scrape_time(db, settings):
    Event.objects.filter(state=State.REPORTED).update(overdue=False)
    reported = Event.objects.filter(state=State.REPORTED).count()
    first = Event.objects.filter(state=State.REPORTED).first()
    if first is not None:
        Event.objects.filter(pk=first.pk).update(overdue=True)
    _, text = scrape(settings, Authorization=f"Bearer {TOKEN}")
    assert line_of(text, 'grid_events_open{state="reported"}') == reported
    assert line_of(text, 'grid_events_overdue{state="reported"}') == (1 if first else 0)
    assert 'grid_events_open{state="closed"}' not in text
    assert line_of(text, "grid_push_outbox_pending ") >= 0
    assert line_of(text, "grid_sync_conflicts_open ") == 0


def test_it_counts_sync_pushes_by_result_and_pull_pages(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    applied = sample("grid_sync_mutations_total", result="applied")
    rejected = sample("grid_sync_mutations_total", result="rejected")
    pulls = sample("grid_sync_pull_requests_total")
    bad = phone.mutation("event.step", event_id="00000000-0000-0000-0000-000000000000", step="sign", args={})
    response = phone.push([offline_report(phone), bad])
    assert [r["status"] for r in response.json()["results"]] == ["applied", "rejected"]
    assert sample("grid_sync_mutations_total", result="applied") == applied + 1
    assert sample("grid_sync_mutations_total", result="rejected") == rejected + 1
    pulled = phone.client.post("/sync/pull", {"device_id": phone.device.device_id, "protocol_version": 2})
    assert pulled.status_code == 200
    assert sample("grid_sync_pull_requests_total") == pulls + 1


def test_it_echoes_a_request_id_or_makes_one_and_logs_under_it(as_persona, caplog):
    client = as_persona("demo_grid_worker")
    with caplog.at_level(logging.INFO, logger="backend.requests"):
        given = client.get("/me", headers={"X-Request-ID": "edge-7f3a.1"})
    assert given["X-Request-ID"] == "edge-7f3a.1"
    (line,) = [
        r for r in caplog.records if r.name == "backend.requests" and getattr(r, "request_id", "") == "edge-7f3a.1"
    ]
    assert (line.method, line.route, line.status) == ("GET", "api/v1/me", 200)
    assert json.loads(JsonFormatter().format(line))["method"] == "GET"
    forged = client.get("/me", headers={"X-Request-ID": "bad id\nwith a newline"})
    made = client.get("/me")
    assert len(forged["X-Request-ID"]) == 32 and "\n" not in forged["X-Request-ID"]
    assert len(made["X-Request-ID"]) == 32 and made["X-Request-ID"] != forged["X-Request-ID"]


def test_a_json_log_line_is_one_object_with_the_request_id_and_extras():
    record = logging.LogRecord("backend.requests", logging.INFO, __file__, 1, "GET %s", ("api/v1/me",), None)
    record.duration_ms = 3.5
    with request_id_scope("req-42"):
        RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "GET api/v1/me" and entry["request_id"] == "req-42"
    assert entry["duration_ms"] == 3.5 and entry["level"] == "INFO" and entry["ts"].endswith("+00:00")


def test_with_json_logs_django_s_own_warnings_are_written_once_as_json_even_in_debug():
    # Django's default config gives the ``django`` logger a console handler of its own in
    # DEBUG; our config must leave only ours, or every 4xx warning also comes out raw.
    script = (
        "import logging, django\n"
        "from django.conf import settings\n"
        "from backend.ops.logs import logging_config\n"
        "settings.configure(DEBUG=True, LOGGING=logging_config(level='INFO', json_lines=True))\n"
        "django.setup()\n"
        "logging.getLogger('django.request').warning('Forbidden: %s', '/metrics')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["logger"] == "django.request" and entry["message"] == "Forbidden: /metrics"


def test_the_fcm_send_of_a_notification_is_logged_under_its_requests_id(db, persona_user, caplog):
    user = persona_user("demo_grid_worker")
    with request_id_scope("req-from-phone"):
        (made,) = notify(users=[user.pk], kind=NotificationKind.ASSIGNMENT, title="派遣", event=None)
    assert NotificationOrigin.objects.get(notification=made).request_id == "req-from-phone"
    ok = sample("grid_fcm_sends_total", outcome="ok")
    dead = sample("grid_fcm_sends_total", outcome="unregistered")
    sender = MeasuredSender(FakeSender())
    with caplog.at_level(logging.INFO, logger="backend.worker"):
        assert sender.send(token="real-token", data={"notification_id": str(made.pk), "kind": made.kind}).ok
    assert not sender.send(token="fake-unregistered-1", data={"notification_id": "0", "kind": "x"}).ok
    assert sample("grid_fcm_sends_total", outcome="ok") == ok + 1
    assert sample("grid_fcm_sends_total", outcome="unregistered") == dead + 1
    (sent,) = [r for r in caplog.records if r.getMessage() == "fcm send ok"]
    assert sent.request_id == "req-from-phone"


def test_it_gives_sms_a_counter_by_outcome():
    before = sample("grid_sms_sends_total", outcome="quota")
    record_sms("quota")
    assert sample("grid_sms_sends_total", outcome="quota") == before + 1


def test_worker_jobs_are_counted_with_their_outcome_and_lag():
    runs = sample("grid_worker_job_runs_total", job="test_job", outcome="ok")
    errors = sample("grid_worker_job_runs_total", job="test_job", outcome="error")
    assert run_job("test_job", lambda: 7, scheduled=None) == 7
    with pytest.raises(ZeroDivisionError):
        run_job("test_job", lambda: 1 / 0)
    assert sample("grid_worker_job_runs_total", job="test_job", outcome="ok") == runs + 1
    assert sample("grid_worker_job_runs_total", job="test_job", outcome="error") == errors + 1
    assert sample("grid_worker_job_last_success_timestamp_seconds", job="test_job") > 0


@pytest.fixture
def _keep_the_test_connection(monkeypatch):
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


def test_sockets_are_counted_and_a_live_notifications_lag_and_request_id_recorded(
    db, persona_user, _keep_the_test_connection, django_capture_on_commit_callbacks, caplog
):
    token = login_as("demo_grid_worker").token
    user = persona_user("demo_grid_worker")
    open_before = sample("grid_websocket_connections")
    lags = sample("grid_websocket_delivery_lag_seconds_count")
    after = Notification.objects.filter(user=user).order_by("-seq").values_list("seq", flat=True).first() or 0

    async def body():
        communicator = WebsocketCommunicator(
            application, f"/ws/v1/?after={after}", headers=[(b"authorization", f"Bearer {token}".encode())]
        )
        connected, _ = await communicator.connect()
        assert connected
        assert (await communicator.receive_json_from())["type"] == "hello"
        assert sample("grid_websocket_connections") == open_before + 1

        def make():
            with request_id_scope("req-live-1"), django_capture_on_commit_callbacks(execute=True):
                notify(users=[user.pk], kind=NotificationKind.URGE, title="催办")

        from channels.db import database_sync_to_async

        with caplog.at_level(logging.INFO, logger="push.consumers"):
            await database_sync_to_async(make)()
            message = await communicator.receive_json_from(timeout=5)
        assert message["type"] == "notification"
        await communicator.disconnect()

    async_to_sync(body)()
    assert sample("grid_websocket_connections") == open_before
    assert sample("grid_websocket_delivery_lag_seconds_count") == lags + 1
    assert any(r.request_id == "req-live-1" and "sent on a socket" in r.getMessage() for r in caplog.records)
    assert Notification.objects.filter(user=user, kind=NotificationKind.URGE).exists()


def test_liveness_answers_without_asking_the_database(db, monkeypatch):
    class DownConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr("backend.core.health.connection", DownConnection())
    assert Client().get("/healthz/live").json() == {"status": "ok"}
    ready = Client().get("/healthz/ready")
    assert ready.status_code == 503
    assert ready.json()["detail"]["checks"]["database"].startswith("error: OperationalError")


def test_readiness_fails_while_a_migration_is_pending(db, monkeypatch):
    assert Client().get("/healthz/ready").json() == {
        "status": "ok",
        "checks": {"database": "ok", "channel_layer": "ok", "migrations": "ok"},
    }

    class Pending:
        app_label, name = "events", "0099_not_yet"

    monkeypatch.setattr(health, "_migrated", False)
    monkeypatch.setattr(
        "django.db.migrations.executor.MigrationExecutor.migration_plan", lambda self, targets: [(Pending, False)]
    )
    response = Client().get("/healthz/ready")
    assert response.status_code == 503
    assert response.json()["detail"]["checks"]["migrations"] == "pending: events.0099_not_yet"


class _SentryInbox(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_errors_go_to_sentry_when_a_dsn_is_set():
    # A local stand-in for Sentry's ingest endpoint; the SDK runs in a fresh process with
    # the real settings so nothing of it stays in this one.
    server = HTTPServer(("127.0.0.1", 0), _SentryInbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = (
        "import django, sentry_sdk; django.setup();"
        "from django.conf import settings; assert settings.CONFIG.sentry_dsn;"
        "sentry_sdk.capture_exception(RuntimeError('boom-for-sentry')); sentry_sdk.flush(5)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DJANGO_ENV": "test",
        "NO_PROXY": "127.0.0.1",
        "SENTRY_DSN": f"http://publickey@127.0.0.1:{server.server_port}/1",
    }
    try:
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    finally:
        server.shutdown()
    assert any(b"boom-for-sentry" in body for body in _SentryInbox.received)


def test_the_worker_records_each_job_and_serves_its_metrics_on_its_port(db, settings):
    import socket
    import urllib.request

    from django.core.management import call_command

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.WORKER_METRICS_PORT, settings.WORKER_METRICS_ADDRESS = port, "127.0.0.1"
    before = {
        job: sample("grid_worker_job_runs_total", job=job, outcome="ok") for job in ("push_outbox", "supervision")
    }
    call_command("run_worker", once=True, stdout=open(os.devnull, "w"))
    for job, count in before.items():
        assert sample("grid_worker_job_runs_total", job=job, outcome="ok") == count + 1
    served = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'grid_worker_job_runs_total{job="supervision",outcome="ok"}' in served


def test_every_metric_the_operations_doc_names_is_served(db, settings):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text()
    named = set(re.findall(r"`(grid_[a-z_]+)", doc))
    _, text = scrape(settings, Authorization=f"Bearer {TOKEN}")
    served = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    served |= {name.removesuffix("_total") for name in served} | {f"{name}_total" for name in served}
    assert len(named) >= 15 and named <= served, named - served


def test_in_multiprocess_mode_the_scrape_sums_every_process(db, tmp_path, monkeypatch):
    # Two processes (as two gunicorn workers) count into one directory; a third answers the scrape.
    from backend.ops.metrics import exposition

    script = (
        "from backend.ops.metrics import HTTP_REQUESTS, WEBSOCKETS_OPEN;"
        "HTTP_REQUESTS.labels('api/v1/me', 'GET', '200').inc(3); WEBSOCKETS_OPEN.inc()"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    body, content_type = exposition()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert line_of(text, 'grid_http_requests_total{method="GET",route="api/v1/me",status="200"}') == 6
    assert "grid_events_open" in text  # the queue gauges come with it
