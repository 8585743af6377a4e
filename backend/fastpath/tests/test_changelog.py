"""``fastpath.changelog.rewrite`` (PostgreSQL) leaves the change log and the KPIs' dirty
marks as the plain path of ``sync.changes.track`` does (a ``DELETE … RETURNING``, the
dirty mark, an insert): the same (bucket, kind, entity, deleted, unstamped) rows, an
entity's other rows and other entities' rows untouched. ``fastpath.changelog.insert``
(new entities) inserts the rows and marks the plain path's dirty mark and COPY do."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from backend.events.models import Event
from backend.fastpath import changelog
from backend.stats.models import DirtyEvent
from backend.territory.models import Grid
from sync.changes import track
from sync.entities import KINDS, bucket_row
from sync.models import Change
from tests.events_helpers import report

pytestmark = pytest.mark.django_db


def state() -> tuple[set, list]:
    rows = set(Change.objects.values_list("bucket", "kind", "entity_id", "deleted", "stamp"))
    return rows, sorted(str(e) for e in DirtyEvent.objects.values_list("event_id", flat=True))


def after(events: list[Event], *, fast: bool, monkeypatch) -> tuple[set, list]:
    monkeypatch.setattr(changelog, "applies", lambda: fast)
    kind = KINDS["event"]
    with transaction.atomic():
        track(kind, [bucket_row(kind, e) for e in events])
        seen = state()
        transaction.set_rollback(True)
    return seen


def test_a_rewrite_leaves_the_rows_the_plain_path_leaves(monkeypatch, is_postgres, as_persona):
    if not is_postgres:
        pytest.skip("the one-statement rewrite is PostgreSQL's (SQLite keeps the plain path)")
    assert connection.vendor == "postgresql"
    worker = as_persona("demo_grid_worker")
    ids = [report(worker, source="grid_patrol").json()["id"] for _ in range(3)]
    first, second, untouched = (Event.objects.get(pk=pk) for pk in ids)
    kind = KINDS["event"]
    now = {str(e.pk): kind.buckets([bucket_row(kind, e)])[0] for e in (first, second)}
    Change.objects.filter(entity_id__in=[str(first.pk), str(second.pk), str(untouched.pk)]).delete()
    rows = []
    for event in (first, second, untouched):
        current = sorted(now.get(str(event.pk), {"grid:1"}))
        # one bucket it stays in (stamped), one it left (stamped), an old tombstone, one never had
        rows += [
            Change(stamp=7, bucket=current[0], kind="event", entity_id=str(event.pk), deleted=False),
            Change(stamp=7, bucket="platform:999999", kind="event", entity_id=str(event.pk), deleted=False),
            Change(stamp=3, bucket="user:999999", kind="event", entity_id=str(event.pk), deleted=True),
            Change(stamp=None, bucket="department:999999", kind="event", entity_id=str(event.pk), deleted=False),
        ]
    Change.objects.bulk_create(rows)
    for events in ([first], [first, second]):
        plain = after(events, fast=False, monkeypatch=monkeypatch)
        fast = after(events, fast=True, monkeypatch=monkeypatch)
        assert fast == plain
        assert {r for r in fast[0] if r[2] == str(untouched.pk)} == {
            (r.bucket, r.kind, r.entity_id, r.deleted, r.stamp) for r in rows if r.entity_id == str(untouched.pk)
        }
        assert any(r[3] and r[4] is None and r[0] == "platform:999999" for r in fast[0])  # left: unstamped tombstone
    # An entity with no row yet gets its rows too.
    Change.objects.filter(entity_id=str(first.pk)).delete()
    assert after([first], fast=True, monkeypatch=monkeypatch) == after([first], fast=False, monkeypatch=monkeypatch)


def test_new_entities_rows_are_the_rows_the_plain_path_inserts(monkeypatch, is_postgres, as_persona, settings):
    if not is_postgres:
        pytest.skip("the one-statement insert is PostgreSQL's (SQLite keeps the plain path)")
    worker = as_persona("demo_grid_worker")
    ids = [report(worker, source="grid_patrol").json()["id"] for _ in range(3)]
    events = [Event.objects.get(pk=pk) for pk in ids]
    events[1].holder_user_id = events[1].reporter_id + 1  # a second user bucket
    Change.objects.filter(entity_id__in=ids).delete()
    DirtyEvent.objects.all().delete()
    kind = KINDS["event"]

    def inserted(fast: bool, *, chunk: int | None = None) -> tuple[set, list]:
        monkeypatch.setattr(changelog, "applies", lambda: fast)
        if chunk:
            monkeypatch.setattr("sync.changes.CHUNK", chunk)
        with transaction.atomic():
            track(kind, [bucket_row(kind, e) for e in events], created=True)
            seen = state()
            transaction.set_rollback(True)
        return seen

    plain = inserted(False)
    mine = [r for r in plain[0] if r[2] in ids]
    assert {r[2] for r in mine} == set(ids) and all(not r[3] and r[4] is None for r in mine)
    assert sorted(plain[1]) == sorted(ids)
    assert inserted(True) == plain
    assert inserted(True, chunk=2) == plain  # in parts as the plain path's COPY is
    settings.STATS_FACTS = False  # no KPIs kept: no dirty marks either way
    assert inserted(True) == inserted(False) and inserted(True)[1] == []
    # Other kinds (no dirty marks) too.
    grids = list(Grid.objects.all()[:3])
    grid_kind = KINDS["grid"]
    monkeypatch.setattr(changelog, "applies", lambda: True)
    with transaction.atomic():
        Change.objects.filter(kind="grid").delete()
        track(grid_kind, [bucket_row(grid_kind, g) for g in grids], created=True)
        fast = state()
        transaction.set_rollback(True)
    monkeypatch.setattr(changelog, "applies", lambda: False)
    with transaction.atomic():
        Change.objects.filter(kind="grid").delete()
        track(grid_kind, [bucket_row(grid_kind, g) for g in grids], created=True)
        slow = state()
        transaction.set_rollback(True)
    assert fast == slow and {r[2] for r in fast[0] if r[1] == "grid"} == {str(g.pk) for g in grids}
