"""Writes for patrols and visits. Both are made offline on a phone with its own UUID
and pushed through sync (``patrol.log``, ``visit.record``); pushing the same id again
is idempotent, and a patrol's track may arrive in several parts."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.utils import timezone

from backend.accounts.actor import Actor
from backend.accounts.models import Role
from backend.addresses.selectors import distance_m
from backend.care.services import visit_fulfil
from backend.core.errors import ApiError, register
from backend.core.times import wire_time
from backend.patrols.models import Finding, KeySubject, PatrolSession, Visit
from backend.territory.coords import to_wgs84
from backend.territory.geometry import locate_grid_id

MAX_POINTS = 20_000  # a whole day's walk at one point every 5 s
MAX_POINTS_PER_PART = 2_000
MAX_PARTS = 10_000  # a part index's bound
MAX_NOTED_PARTS = 200  # notes of 2,000 characters each: a patrol's notes stay bounded

register("patrol_not_yours", 409, "该巡查标识属于其他人员", "This patrol id belongs to someone else")
register("visit_id_taken", 409, "该走访标识已被占用", "This visit id is already used")
register("key_subject_not_found", 404, "走访对象不存在", "Key person or place not found")
register(
    "too_many_points", 422, f"一次巡查最多 {MAX_POINTS} 个轨迹点", f"A patrol holds at most {MAX_POINTS} track points"
)
register("grid_worker_only", 403, "仅网格员可记录巡查与走访", "Only grid workers record patrols and visits")
register(
    "too_many_notes",
    422,
    f"一次巡查最多 {MAX_NOTED_PARTS} 段带说明",
    f"A patrol holds the notes of at most {MAX_NOTED_PARTS} parts",
)


def _require_grid_worker(actor: Actor) -> None:
    if Role.GRID_WORKER not in actor.scope.roles:
        raise ApiError("grid_worker_only")


def track_distance_m(points: list[list]) -> float:
    """Length of the track, point to point."""
    return sum(distance_m(a[0], a[1], b[0], b[1]) for a, b in zip(points, points[1:]))


def _part_sort_key(entry: dict) -> tuple:
    return (entry["part"] is None, entry["part"] or 0, datetime.fromisoformat(entry["at"]), entry["note"])


def merge_part_note(notes: list[dict], *, part: int | None, at: datetime, note: str) -> list[dict]:
    """The patrol's notes with one part's note kept, in part order. A part is known by
    its index when the phone sends one (sent again, it replaces its own note: the same
    note changes nothing); without an index, by its place on the track (``at``) and its
    note, so a part sent again adds nothing and two parts' notes never overwrite each
    other. Parts without an index follow the numbered ones, by time."""
    if timezone.is_naive(at):  # a device time without an offset: read in the server's zone, as Django does
        at = timezone.make_aware(at)
    entry = {"part": part, "at": at.isoformat(), "note": note}
    if part is not None:
        kept = [e for e in notes if e["part"] != part]
    else:
        same = datetime.fromisoformat(entry["at"])
        kept = [
            e
            for e in notes
            if not (e["part"] is None and e["note"] == note and datetime.fromisoformat(e["at"]) == same)
        ]
    kept.append(entry)
    if len(kept) > MAX_NOTED_PARTS:
        raise ApiError("too_many_notes", detail={"max": MAX_NOTED_PARTS})
    return sorted(kept, key=_part_sort_key)


def patrol_log(
    *,
    actor: Actor,
    patrol_id: uuid.UUID,
    started_at: datetime,
    ended_at: datetime | None,
    points: list[tuple[float, float, datetime]],
    crs: str = "wgs84",
    note: str = "",
    part: int | None = None,
    clock_offset_ms: int | None = None,
) -> PatrolSession:
    """Create the patrol or add a part of its track: points are merged by device time
    (a part sent twice adds nothing), the distance recomputed, the end moved on. Each
    part's note is kept on its own (``merge_part_note``); the patrol's ``note`` is all
    of them in part order, so no part's note is lost, whichever part arrives last."""
    _require_grid_worker(actor)
    if ended_at is not None and ended_at < started_at:
        raise ApiError("validation_error", detail={"ended_at": "before started_at"})
    incoming = {}
    for lat, lng, at in points:
        wlat, wlng = to_wgs84(lat=lat, lng=lng, crs=crs)
        incoming[wire_time(at)] = [round(wlat, 7), round(wlng, 7), wire_time(at)]
    patrol = PatrolSession.objects.select_for_update().filter(pk=patrol_id).first()
    now = timezone.now()
    if patrol is None:
        patrol = PatrolSession(
            id=patrol_id, user=actor.user, device=actor.device, started_at=started_at, received_at=now
        )
        merged = {}
    else:
        if patrol.user_id != actor.user.pk:
            raise ApiError("patrol_not_yours")
        merged = {point[2]: point for point in patrol.points}
    merged.update(incoming)
    if len(merged) > MAX_POINTS:
        raise ApiError("too_many_points", detail={"max": MAX_POINTS})
    track = [merged[key] for key in sorted(merged, key=datetime.fromisoformat)]
    patrol.points = track
    patrol.point_count = len(track)
    patrol.distance_m = round(track_distance_m(track), 1)
    patrol.started_at = min(patrol.started_at, started_at)
    if ended_at is not None:
        patrol.ended_at = max(patrol.ended_at or ended_at, ended_at)
    if note:
        # Where the part sits on the track: its first point, else its end, else the start.
        at = min((p[2] for p in points), default=None) or ended_at or started_at
        patrol.part_notes = merge_part_note(patrol.part_notes or [], part=part, at=at, note=note)
        patrol.note = "\n".join(entry["note"] for entry in patrol.part_notes)
    if patrol.grid_id is None and track:
        grid_id = locate_grid_id(track[0][1], track[0][0])
        scope = actor.scope
        patrol.grid_id = grid_id if grid_id in scope.grid_ids else next(iter(sorted(scope.grid_ids)), None)
    patrol.clock_offset_ms = clock_offset_ms
    patrol.received_at = now
    patrol.save()
    return patrol


def access_subject(actor: Actor, subject_id: int) -> KeySubject:
    """A key person or place of one of the actor's grids, else 404."""
    subject = KeySubject.objects.filter(pk=subject_id, grid_id__in=actor.scope.grid_ids, active=True).first()
    if subject is None:
        raise ApiError("key_subject_not_found")
    return subject


def visit_record(
    *,
    actor: Actor,
    visit_id: uuid.UUID,
    subject_id: int,
    visited_at: datetime,
    finding: str,
    note: str = "",
    photos: list[str] | None = None,
    lat: float | None = None,
    lng: float | None = None,
    crs: str = "wgs84",
    patrol_id: uuid.UUID | None = None,
) -> tuple[Visit, bool]:
    """走访记录. Returns (visit, created); the same id from the same worker returns the visit kept."""
    _require_grid_worker(actor)
    existing = Visit.objects.filter(pk=visit_id).first()
    if existing is not None:
        if existing.user_id != actor.user.pk:
            raise ApiError("visit_id_taken")
        return existing, False
    subject = access_subject(actor, subject_id)
    Finding(finding)
    if lat is not None and lng is not None:
        lat, lng = to_wgs84(lat=lat, lng=lng, crs=crs)
    patrol = None
    if patrol_id is not None:
        patrol = PatrolSession.objects.filter(pk=patrol_id, user=actor.user).first()
    visit = Visit.objects.create(
        id=visit_id,
        subject=subject,
        user=actor.user,
        device=actor.device,
        patrol=patrol,
        visited_at=visited_at,
        finding=finding,
        note=note,
        photos=list(photos or []),
        lat=lat,
        lng=lng,
        received_at=timezone.now(),
    )
    visit_fulfil(visit)  # the due visit it belongs to (backend.care)
    return visit, True
