"""Retention: the purge lets go of old tracks and access-log rows, never of a patrol
still being uploaded or of what an open case needs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.db.models import Max
from django.utils import timezone

from backend.events.models import Event, State
from backend.ops.retention import purge_expired
from backend.patrols.models import PatrolSession
from backend.privacy.log import record_reads
from backend.privacy.models import PersonalDataRead, SubjectKind
from sync.models import Change, StampRound
from tests.events_helpers import GRID_A, report

TRACK = [[30.25, 120.17, "2025-01-01T09:00:00+00:00"], [30.26, 120.17, "2025-01-01T09:10:00+00:00"]]


def patrol(user, *, started, ended) -> PatrolSession:
    return PatrolSession.objects.create(
        id=uuid.uuid4(),
        user=user,
        started_at=started,
        ended_at=ended,
        points=TRACK,
        point_count=2,
        distance_m=1100.0,
        received_at=started,
    )


def test_it_purges_old_tracks_but_not_an_unfinished_patrol_or_one_an_open_case_needs(as_persona, persona_user):
    worker = persona_user("demo_grid_worker")
    now = timezone.now()
    long_ago = now - timedelta(days=400)
    old = patrol(worker, started=long_ago, ended=long_ago + timedelta(hours=1))
    recent = patrol(worker, started=now - timedelta(days=3), ended=now - timedelta(days=3) + timedelta(hours=1))
    uploading = patrol(worker, started=long_ago, ended=None)
    needed = patrol(
        worker, started=long_ago - timedelta(days=1), ended=long_ago - timedelta(days=1) + timedelta(hours=2)
    )
    event_id = report(as_persona("demo_grid_worker"), grid=GRID_A, source="grid_patrol").json()["id"]
    Event.objects.filter(pk=event_id).update(reported_at=needed.started_at + timedelta(minutes=30))
    assert Event.objects.get(pk=event_id).state not in (State.CLOSED, State.EVALUATED)

    assert purge_expired(dry_run=True).patrol_tracks == 1
    result = purge_expired()
    assert result.patrol_tracks == 1
    old.refresh_from_db()
    assert old.points == [] and old.point_count == 2 and old.distance_m == 1100.0  # the summary stays
    for kept in (recent, uploading, needed):
        kept.refresh_from_db()
        assert kept.points == TRACK
    Event.objects.filter(pk=event_id).update(state=State.CLOSED)
    assert purge_expired().patrol_tracks == 1  # the case closed: its patrol's track may go now
    assert purge_expired().patrol_tracks == 0  # and nothing twice


def test_it_purges_old_access_log_rows_except_of_a_resident_with_an_open_tip(as_persona, persona_user):
    reader = persona_user("demo_dispatcher")
    resident = persona_user("demo_resident")
    other = persona_user("demo_grid_worker_b")
    report(as_persona("demo_resident"), grid=GRID_A)  # an open tip of the resident
    record_reads(reader, SubjectKind.RESIDENT, [resident.pk, other.pk], "GET /api/v1/events/{id}")
    record_reads(reader, SubjectKind.KEY_PERSON, ["kp-1"], "GET /api/v1/key-subjects/{id}")
    PersonalDataRead.objects.update(at=timezone.now() - timedelta(days=2000))
    record_reads(reader, SubjectKind.RESIDENT, [other.pk], "GET /api/v1/events/{id}")  # recent
    out = StringIO()
    call_command("purge_expired", stdout=out)
    assert "2 access-log rows" in out.getvalue()
    left = set(PersonalDataRead.objects.values_list("subject_id", flat=True))
    assert left == {str(resident.pk), str(other.pk)}
    assert PersonalDataRead.objects.filter(subject_id=str(other.pk)).count() == 1


def test_a_dry_run_counts_the_sync_tombstones_the_purge_then_deletes(db):
    now = timezone.now()
    last = max(
        Change.objects.aggregate(m=Max("stamp"))["m"] or 0, StampRound.objects.aggregate(m=Max("stamp"))["m"] or 0
    )
    StampRound.objects.create(stamp=last + 1, at=now - timedelta(days=400))
    StampRound.objects.create(stamp=last + 2, at=now)
    old = Change.objects.create(stamp=last + 1, bucket="grid:test", kind="event", entity_id="old", deleted=True)
    fresh = Change.objects.create(stamp=last + 2, bucket="grid:test", kind="event", entity_id="fresh", deleted=True)
    out = StringIO()
    call_command("purge_expired", "--dry-run", stdout=out)
    counted = purge_expired(dry_run=True).tombstones
    assert counted >= 1 and f", {counted} sync tombstones" in out.getvalue()
    assert Change.objects.filter(pk=old.pk).exists()  # a dry run deletes nothing
    assert purge_expired().tombstones == counted
    assert not Change.objects.filter(pk=old.pk).exists() and Change.objects.filter(pk=fresh.pk).exists()
