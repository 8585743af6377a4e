"""The fault drill's checkers (backend/ops/faults/checks.py) catch what they are there
to catch: a planted loss, a planted duplicate, a stale phone, a missing notification,
a supervision job that fell behind. The drill itself runs in CI (`make faults
FAULTS=short`, .ci/run), not here: it starts its own PostgreSQL and Redis."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from backend.events.models import Event
from backend.ops.faults import checks
from backend.ops.faults.drill import FaultRow, table
from backend.ops.faults.load import RequestLog, SocketState, failed_status, multipart, small_photo
from sync.tests.phones import phone_of, server_state
from tests.events_helpers import GRID_A, centre_of


def test_it_passes_a_ledger_that_holds_each_sent_mutation_once():
    verdict = checks.ledger_verdict({"phone-1": [1, 2, 3]}, {"phone-1": [3, 1, 2]})
    assert verdict.ok, verdict.problems


def test_it_finds_a_planted_lost_mutation():
    verdict = checks.ledger_verdict({"phone-1": [1, 2, 3], "phone-2": [1]}, {"phone-1": [1, 3], "phone-2": [1]})
    assert verdict.problems == ["phone-1: mutation 2 lost (no ledger row)"]


def test_it_finds_a_planted_mutation_applied_twice_and_one_never_sent():
    verdict = checks.ledger_verdict({"phone-1": [1, 2]}, {"phone-1": [1, 2, 2, 7]})
    assert verdict.problems == [
        "phone-1: mutation 2 applied 2 times",
        "phone-1: mutation 7 in the ledger, never sent",
    ]


def test_it_finds_a_report_lost_and_one_kept_twice():
    verdict = checks.once_verdict("reports", ["a", "b", "c"], {"a": 1, "c": 2})
    assert verdict.problems == ["b: lost", "c: kept 2 times"]
    assert checks.once_verdict("reports", ["a"], {"a": 1}).ok


def test_it_finds_a_phone_whose_store_differs_from_the_server():
    server = {"phone": {("event", "1"): {"version": 2}, ("event", "2"): {"version": 1}}}
    assert checks.convergence_verdict({"phone": dict(server["phone"])}, server).ok
    stale = checks.convergence_verdict(
        {"phone": {("event", "1"): {"version": 1}, ("event", "2"): {"version": 1}}}, server
    )
    assert stale.problems == ["phone: 0 missing, 0 extra, 1 stale (e.g. ('event', '1'))"]
    missing = checks.convergence_verdict({"phone": {("event", "2"): {"version": 1}, ("grid", "9"): {}}}, server)
    assert missing.problems == ["phone: 1 missing, 1 extra, 0 stale (e.g. ('event', '1'))"]


def test_it_finds_a_notification_missing_after_replay_and_one_sent_twice():
    held = {"a": {1, 2, 3}, "b": {1}}
    assert checks.notification_verdict({"a": {1, 2, 3}, "b": {1}}, held, duplicates=0).ok
    verdict = checks.notification_verdict({"a": {1, 3}, "b": {1}}, held, duplicates=1)
    assert verdict.problems == ["a: 1 missing (seq [2])", "1 notifications sent twice on one connection"]


def test_it_says_when_supervision_fell_behind_or_had_nothing_to_do():
    assert checks.supervision_verdict(0, 5, expected=5).ok
    assert checks.supervision_verdict(2, 3, expected=5).problems == [
        "2 events past their deadline not marked overdue",
        "2 of 5 dispatched events never marked overdue",
    ]
    assert not checks.supervision_verdict(0, 0, expected=0).ok


def test_a_socket_asks_to_replay_from_its_first_gap():
    state = SocketState("demo_grid_worker", received={1, 2, 3, 5, 6})
    assert state.after() == 3  # 4 was lost live: the reconnect replays it


def test_it_counts_failures_in_a_window_only():
    log = RequestLog(entries=[(1.0, False), (2.0, True), (3.0, True), (4.0, False)])
    assert log.window(2.0, 4.0) == (2, 2)
    assert log.window(0.0, 10.0) == (4, 2)
    assert log.failing_for(1.5, 10.0) == 1.5 and log.failing_for(3.5, 10.0) == 0.0
    for status in (500, None, 500, 200):
        log.add(failed_status(status), status)
    assert log.failure_kinds(0.0, time.monotonic() + 1) == "500 ×2, no answer ×1"
    assert [failed_status(s) for s in (None, 200, 409, 429, 500, 503)] == [True, False, False, True, True, True]


def test_it_prints_the_table_with_the_error_rate():
    text = table([FaultRow("Redis", 2.25, 50, 5, 3, 1.5, "worker", "500 ×4, no answer ×1")])
    assert text.splitlines()[-1] == "| Redis | 2.2 | 50 | 5 | 10.0% | 1.5 | 500 ×4, no answer ×1 | 3 | worker |"


def test_the_readers_find_a_planted_loss_and_duplicate_on_the_server(db, as_persona):
    """Against real tables: the phone's sent reports are on the server once; one it
    never pushed is lost; the store equals the scope; a second report row is a duplicate."""
    phone = phone_of("demo_grid_worker")
    lat, lng = centre_of(GRID_A)
    sent = [phone.report(category="06.01", description="演练", lat=lat, lng=lng) for _ in range(2)]
    phone.sync()
    never_pushed = str(uuid.uuid4())
    counts = checks.report_counts([*sent, never_pushed])
    assert checks.once_verdict("reports", [*sent, never_pushed], counts).problems == [f"{never_pushed}: lost"]
    ledger = checks.ledger_rows([phone.device_id])
    assert checks.ledger_verdict({phone.device_id: phone.results().keys()}, ledger).ok
    assert checks.ledger_verdict({phone.device_id: [*phone.results().keys(), 99]}, ledger).problems == [
        f"{phone.device_id}: mutation 99 lost (no ledger row)"
    ]
    assert checks.scope_state("demo_grid_worker") == server_state("demo_grid_worker") == phone.snapshot()

    event = Event.objects.get(pk=sent[0])
    first = event.actions.get(action="report")
    first.pk = None
    first.seq = 10_000
    first.save()  # planted: the report applied twice
    assert checks.report_counts(sent)[sent[0]] == 2


def test_supervision_counts_an_event_past_its_deadline_not_yet_marked(db, as_persona):
    phone = phone_of("demo_grid_worker")
    lat, lng = centre_of(GRID_A)
    event_id = phone.report(category="06.01", description="演练", lat=lat, lng=lng)
    phone.sync()
    Event.objects.filter(pk=event_id).update(state="dispatched", deadline_at=timezone.now() - timedelta(minutes=5))
    assert checks.supervision_counts([event_id], slack_s=1) == (1, 0)
    Event.objects.filter(pk=event_id).update(overdue=True, overdue_at=timezone.now())
    assert checks.supervision_counts([event_id], slack_s=1) == (0, 1)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_drill_photo_is_a_real_image_with_its_own_digest(seed):
    import io

    from PIL import Image

    data = small_photo(seed)
    assert Image.open(io.BytesIO(data)).format == "PNG"
    assert small_photo(seed) == data and small_photo(seed + 10) != data
    body, content_type = multipart({"phase": "before"}, data)
    assert content_type.startswith("multipart/form-data; boundary=") and data in body and b'name="phase"' in body


def test_it_reaps_only_what_a_dead_drill_left(tmp_path, monkeypatch):
    import subprocess
    import tempfile

    from backend.ops.faults.infra import PREFIX, reap_stale

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f"{PREFIX}left"
    running = tmp_path / f"{PREFIX}running"
    for directory, owner in ((left, dead.pid), (running, os.getpid())):
        directory.mkdir()
        (directory / "owner").write_text(str(owner))
    assert reap_stale() == [str(left)]
    assert not left.exists() and running.exists()


def test_the_worker_keeps_going_when_a_job_fails_as_in_a_database_outage(db, monkeypatch):
    """The drill's finding: the worker exited on the first failed job (PostgreSQL killed),
    and the supervision job stopped until something restarted it."""
    from django.core.management import call_command
    from django.db import OperationalError

    from backend.core.management.commands import run_worker

    passes = []

    def stamp_changes():
        passes.append(len(passes))
        if len(passes) == 1:
            raise OperationalError("terminating connection due to unexpected postmaster exit")

    class Stop(Exception):
        pass

    def sleep(seconds):
        if len(passes) >= 2:
            raise Stop

    monkeypatch.setattr(run_worker, "stamp_changes", stamp_changes)
    monkeypatch.setattr(run_worker.time, "sleep", sleep)
    with pytest.raises(Stop):
        call_command("run_worker", stdout=open(os.devnull, "w"))
    assert passes == [0, 1]  # the failed pass, then the next one
    with pytest.raises(OperationalError):  # --once still fails loudly
        passes.clear()
        call_command("run_worker", once=True, stdout=open(os.devnull, "w"))
