"""Retention: what is kept how long, and the purge that never takes what is still needed.

| data | kept | never purged while |
| --- | --- | --- |
| patrol tracks (the points of a patrol; its summary stays) | ``RETENTION_PATROL_TRACK_DAYS`` after the patrol ended | the patrol has not ended (the phone is still uploading its parts), or its grid worker reported an event during it that is not finished |
| the personal-data access log (``backend.privacy``) | ``RETENTION_ACCESS_LOG_DAYS`` | the resident read about has a tip that is not finished |
| sync tombstones | ``RETENTION_TOMBSTONE_DAYS`` (``sync.changes.purge_tombstones``) | always safe: a phone whose cursor is older resyncs, and what it has not uploaded yet is in its own queue, answered by the push ledger, which is never purged |

Raw electricity readings: no such table exists in this project yet; a rule belongs here
when one does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.functions import Cast
from django.utils import timezone

from backend.events.models import Event, State
from backend.patrols.models import PatrolSession
from backend.privacy.models import PersonalDataRead, SubjectKind
from sync.changes import count_tombstones, purge_tombstones

FINISHED = (State.CLOSED, State.EVALUATED, State.REJECTED, State.MERGED)
BATCH = 2000


@dataclass
class PurgeResult:
    patrol_tracks: int = 0
    access_log_rows: int = 0
    tombstones: int = 0


def _open_events():
    return Event.objects.exclude(state__in=FINISHED)


def purgeable_patrols(now: datetime):
    cutoff = now - timedelta(days=settings.RETENTION["PATROL_TRACK_DAYS"])
    needed = _open_events().filter(
        reporter_id=OuterRef("user_id"),
        reported_at__gte=OuterRef("started_at"),
        reported_at__lte=OuterRef("ended_at"),
    )
    return (
        PatrolSession.objects.filter(ended_at__isnull=False, ended_at__lt=cutoff)
        .exclude(points=[])
        .filter(~Exists(needed))
    )


def purgeable_reads(now: datetime):
    cutoff = now - timedelta(days=settings.RETENTION["ACCESS_LOG_DAYS"])
    open_tip = (
        _open_events()
        .annotate(reporter_text=Cast("reporter_id", CharField()))
        .filter(reporter_text=OuterRef("subject_id"))
    )
    return PersonalDataRead.objects.filter(at__lt=cutoff).exclude(
        Q(subject_kind=SubjectKind.RESIDENT) & Exists(open_tip)
    )


def purge_expired(*, now: datetime | None = None, dry_run: bool = False) -> PurgeResult:
    """One pass of every rule, in batches (a year of tracks is many rows)."""
    now = now or timezone.now()
    result = PurgeResult()
    patrols = purgeable_patrols(now)
    reads = purgeable_reads(now)
    tombstone_age = timedelta(days=settings.RETENTION["TOMBSTONE_DAYS"])
    if dry_run:
        result.patrol_tracks = patrols.count()
        result.access_log_rows = reads.count()
        result.tombstones = count_tombstones(older_than=tombstone_age)
        return result
    ids = list(patrols.values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH):
        # The track's points go; the patrol (times, distance, point count) stays, and the
        # phones never had the points in their sync scope, so nothing changes for them.
        result.patrol_tracks += PatrolSession.objects.filter(pk__in=ids[start : start + BATCH]).update(points=[])
    ids = list(reads.values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH):
        result.access_log_rows += PersonalDataRead.objects.filter(pk__in=ids[start : start + BATCH]).delete()[0]
    result.tombstones = purge_tombstones(older_than=tombstone_age)
    return result
