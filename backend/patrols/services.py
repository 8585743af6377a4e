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
from backend.core.errors import ApiError, register
from backend.core.times import wire_time
from backend.patrols.models import Finding, KeySubject, PatrolSession, Visit
from backend.territory.coords import to_wgs84
from backend.territory.geometry import locate_grid_id

MAX_POINTS = 20_000  # a whole day's walk at one point every 5 s
MAX_POINTS_PER_PART = 2_000

register("patrol_not_yours", 409, "该巡查标识属于其他人员", "This patrol id belongs to someone else")
register("visit_id_taken", 409, "该走访标识已被占用", "This visit id is already used")
register("key_subject_not_found", 404, "走访对象不存在", "Key person or place not found")
register(
    "too_many_points", 422, f"一次巡查最多 {MAX_POINTS} 个轨迹点", f"A patrol holds at most {MAX_POINTS} track points"
)
register("grid_worker_only", 403, "仅网格员可记录巡查与走访", "Only grid workers record patrols and visits")


def _require_grid_worker(actor: Actor) -> None:
    if Role.GRID_WORKER not in actor.scope.roles:
        raise ApiError("grid_worker_only")


def track_distance_m(points: list[list]) -> float:
    """Length of the track, point to point."""
    return sum(distance_m(a[0], a[1], b[0], b[1]) for a, b in zip(points, points[1:]))


def patrol_log(
    *,
    actor: Actor,
    patrol_id: uuid.UUID,
    started_at: datetime,
    ended_at: datetime | None,
    points: list[tuple[float, float, datetime]],
    crs: str = "wgs84",
    note: str = "",
    clock_offset_ms: int | None = None,
) -> PatrolSession:
    """Create the patrol or add a part of its track: points are merged by device time
    (a part sent twice adds nothing), the distance recomputed, the end moved on."""
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
        patrol.note = note
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
    return visit, True
