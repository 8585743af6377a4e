"""``fastpath.changelog.rewrite`` (PostgreSQL) leaves the change log and the KPIs' dirty
marks as the plain path of ``sync.changes.track`` does (a ``DELETE … RETURNING``, the
dirty mark, an insert): the same (bucket, kind, entity, deleted, unstamped) rows, an
entity's other rows and other entities' rows untouched."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from backend.events.models import Event
from backend.fastpath import changelog
from backend.stats.models import DirtyEvent
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
