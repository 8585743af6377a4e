"""视频告警: a batch from the camera platform, answered item by item; review into an
event or dismissal; precision per camera and type."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from pydantic import ValidationError

from backend.accounts.actor import Actor
from backend.core.errors import ApiError, register
from backend.events.models import Source
from backend.events.services import event_report
from backend.intake.models import AlertCounter, AlertState, AlertType, Camera, SourceSystem, VideoAlert
from backend.intake.schemas import VideoAlertItem
from media.services import photo_attach, photo_intake

SNAPSHOT_MAX_BYTES = 512 * 1024

register("alert_reviewed", 409, "该告警已审核", "This alert has already been reviewed")

# uuid5 namespace of snapshots: the same item's snapshot sent again is the same photo.
SNAPSHOT_NAMESPACE = uuid.UUID("6b1c1c9e-4f1e-4d3e-9f7a-3f0e2a9b5c11")


@dataclass
class Outcome:
    id: str | None
    status: str
    alert_id: int | None = None
    error: dict | None = None
    alert: VideoAlert | None = field(default=None, repr=False)


def _errors(error: ValidationError) -> dict:
    return {".".join(str(p) for p in e["loc"]) or "item": e["msg"] for e in error.errors()}


def counters_add(deltas: dict[tuple[int, int], dict[str, int]]) -> None:
    """Add to the per camera-and-type counters in one statement (an upsert that adds)."""
    if not deltas:
        return
    columns = ("received", "dropped", "suppressed", "confirmed", "dismissed")
    table = AlertCounter._meta.db_table
    rows = []
    params: list = []
    for (camera_id, type_id), delta in sorted(deltas.items()):
        rows.append("(" + ", ".join(["%s"] * (2 + len(columns))) + ")")
        params += [camera_id, type_id, *(delta.get(c, 0) for c in columns)]
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
    sql = (
        f"INSERT INTO {table} (camera_id, type_id, {', '.join(columns)}) VALUES {', '.join(rows)} "
        f"ON CONFLICT (camera_id, type_id) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _snapshot(source: SourceSystem, item: VideoAlertItem):
    try:
        data = base64.b64decode(item.snapshot, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("validation_error", detail={"snapshot": "not base64"}) from None
    if len(data) > SNAPSHOT_MAX_BYTES:
        raise ApiError("validation_error", detail={"snapshot": f"at most {SNAPSHOT_MAX_BYTES} bytes"})
    photo, _ = photo_intake(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        phase="before",
        photo_id=uuid.uuid5(SNAPSHOT_NAMESPACE, f"{source.pk}:{item.id}"),
        uploader=source.account,
    )
    return photo


def video_alerts_take(*, source: SourceSystem, items: list[dict], now: datetime | None = None) -> list[Outcome]:
    """Each item checked on its own: an unknown camera or type, or a bad field, is
    ``rejected``; an item id already kept is a ``duplicate``; below its type's
    threshold it is ``dropped`` (and counted); a repeat of the same camera and type
    within the type's suppression window joins the open alert (``attached``);
    otherwise a new alert is ``accepted``. One query per look-up kind, bulk writes."""
    now = now or timezone.now()
    outcomes: list[Outcome] = [None] * len(items)  # type: ignore[list-item]
    parsed: list[tuple[int, VideoAlertItem]] = []
    for index, raw in enumerate(items):
        try:
            parsed.append((index, VideoAlertItem.model_validate(raw)))
        except ValidationError as error:
            item_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
            outcomes[index] = Outcome(item_id, "rejected", error=_errors(error))
    cameras = {
        c.code: c
        for c in Camera.objects.filter(source=source, active=True, code__in={item.camera for _, item in parsed})
    }
    types = {t.code: t for t in AlertType.objects.filter(code__in={item.type for _, item in parsed})}
    known = set(
        VideoAlert.objects.filter(source=source, item_id__in=[item.id for _, item in parsed]).values_list(
            "item_id", flat=True
        )
    )
    deltas: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    candidates: list[tuple[int, VideoAlertItem, Camera, AlertType]] = []
    seen_ids: set[str] = set()
    for index, item in parsed:
        camera, kind = cameras.get(item.camera), types.get(item.type)
        if camera is None or kind is None:
            name = "camera" if camera is None else "type"
            outcomes[index] = Outcome(item.id, "rejected", error={name: f"unknown {name} {getattr(item, name)!r}"})
            continue
        if item.id in known or item.id in seen_ids:
            outcomes[index] = Outcome(item.id, "duplicate")
            continue
        seen_ids.add(item.id)
        deltas[(camera.pk, kind.pk)]["received"] += 1
        if item.confidence < kind.threshold:
            deltas[(camera.pk, kind.pk)]["dropped"] += 1
            outcomes[index] = Outcome(item.id, "dropped")
            continue
        candidates.append((index, item, camera, kind))

    # The open alert of each camera and type, the latest (one query for the batch).
    pairs = {(camera.pk, kind.pk) for _, _, camera, kind in candidates}
    open_alerts: dict[tuple[int, int], VideoAlert] = {}
    if pairs:
        earliest = min(item.at - timedelta(minutes=kind.suppress_minutes) for _, item, _, kind in candidates)
        for alert in VideoAlert.objects.filter(
            state=AlertState.OPEN,
            camera_id__in={p[0] for p in pairs},
            type_id__in={p[1] for p in pairs},
            last_at__gte=earliest,
        ).order_by("last_at"):
            open_alerts[(alert.camera_id, alert.type_id)] = alert
    new: list[tuple[int, VideoAlert]] = []
    changed: dict[int, VideoAlert] = {}
    added: dict[int, int] = {}  # repeats this batch adds to alerts saved before it
    for index, item, camera, kind in sorted(candidates, key=lambda c: c[1].at):
        key = (camera.pk, kind.pk)
        alert = open_alerts.get(key)
        window = timedelta(minutes=kind.suppress_minutes)
        if alert is not None and alert.first_at - window <= item.at <= alert.last_at + window:
            alert.repeats += 1
            alert.last_at = max(alert.last_at, item.at)
            alert.confidence = max(alert.confidence, item.confidence)
            if alert.pk is not None:
                changed[alert.pk] = alert
                added[alert.pk] = added.get(alert.pk, 0) + 1
            deltas[key]["suppressed"] += 1
            outcomes[index] = Outcome(item.id, "attached", alert=alert)
            continue
        alert = VideoAlert(
            source=source,
            camera=camera,
            type=kind,
            item_id=item.id,
            confidence=item.confidence,
            first_at=item.at,
            last_at=item.at,
            received_at=now,
        )
        if item.snapshot:
            try:
                alert.snapshot = _snapshot(source, item)
            except ApiError as error:
                outcomes[index] = Outcome(item.id, "rejected", error={"code": error.code, **(error.detail or {})})
                deltas[key]["received"] -= 1
                continue
        open_alerts[key] = alert
        new.append((index, alert))
        outcomes[index] = Outcome(item.id, "accepted", alert=alert)
    with transaction.atomic():
        VideoAlert.objects.bulk_create([alert for _, alert in new])
        if changed:
            # Relative changes, one statement run for many rows (psycopg pipelines it), in
            # id order: concurrent batches joining the same open alert neither lose each
            # other's repeats nor deadlock. (bulk_update's CASE over a few hundred rows
            # also cost more to compile than to run.)
            table = VideoAlert._meta.db_table
            adapt = connection.ops.adapt_datetimefield_value
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {table} SET repeats = repeats + %s, "
                    "last_at = CASE WHEN last_at < %s THEN %s ELSE last_at END, "
                    "confidence = CASE WHEN confidence < %s THEN %s ELSE confidence END WHERE id = %s",
                    [
                        (added[pk], adapt(a.last_at), adapt(a.last_at), a.confidence, a.confidence, pk)
                        for pk, a in sorted(changed.items())
                    ],
                )
        for alert in {id(a): a for _, a in new}.values():
            if alert.pk is None:  # backends without RETURNING ids on bulk insert
                alert.pk = VideoAlert.objects.get(source=source, item_id=alert.item_id).pk
        counters_add({key: dict(delta) for key, delta in deltas.items()})
    for outcome in outcomes:
        if outcome.alert is not None:
            outcome.alert_id = outcome.alert.pk
    return outcomes


def video_alert_confirm(*, alert: VideoAlert, actor: Actor, note: str = ""):
    """确认立案: the alert becomes an event through the report path (source
    ``video_alert``, the type's category, the camera's place and grid), its snapshot
    the event's evidence; counted as confirmed for the camera and type."""
    if alert.state != AlertState.OPEN:
        raise ApiError("alert_reviewed", detail={"state": alert.state})
    camera = alert.camera
    description = f"视频告警：{alert.type.name}（{camera.name}，置信度 {alert.confidence:.2f}"
    description += f"，重复 {alert.repeats} 次）" if alert.repeats else "）"
    if note:
        description += f" {note}"
    event, _ = event_report(
        actor=actor,
        source=Source.VIDEO_ALERT,
        category_code=alert.type.category.code,
        description=description,
        lat=camera.lat,
        lng=camera.lng,
        grid_id=camera.grid_id,
        address_text=camera.name,
    )
    if alert.snapshot_id is not None:
        photo_attach(photo=alert.snapshot, event=event, phase="before")
    _reviewed(alert, actor, AlertState.CONFIRMED, note, event=event)
    return event


def video_alert_dismiss(*, alert: VideoAlert, actor: Actor, note: str = "") -> VideoAlert:
    """误报: closed without an event; counted as dismissed for the camera and type."""
    if alert.state != AlertState.OPEN:
        raise ApiError("alert_reviewed", detail={"state": alert.state})
    _reviewed(alert, actor, AlertState.DISMISSED, note)
    return alert


def _reviewed(alert: VideoAlert, actor: Actor, state: str, note: str, event=None) -> None:
    alert.state = state
    alert.event = event
    alert.reviewed_by = actor.user
    alert.reviewed_at = timezone.now()
    alert.review_note = note
    alert.save(update_fields=["state", "event", "reviewed_by", "reviewed_at", "review_note"])
    counters_add({(alert.camera_id, alert.type_id): {state: 1}})


def precision(*, cameras=None) -> tuple[list[dict], list[dict]]:
    """Confirmed / (confirmed + dismissed), per type and per camera and type, with
    what was received, dropped and suppressed: what a threshold is tuned from."""
    counters = AlertCounter.objects.select_related("type")
    if cameras is not None:
        counters = counters.filter(camera__in=cameras)
    by_type: dict[str, dict] = {}
    by_camera = []
    fields = ("received", "dropped", "suppressed", "confirmed", "dismissed")
    for counter in counters.order_by("camera_id", "type__code"):
        row = {"camera_id": counter.camera_id, "type": counter.type.code, **{f: getattr(counter, f) for f in fields}}
        by_camera.append(row)
        total = by_type.setdefault(
            counter.type.code, {"camera_id": None, "type": counter.type.code, **dict.fromkeys(fields, 0)}
        )
        for f in fields:
            total[f] += row[f]
    for row in [*by_camera, *by_type.values()]:
        judged = row["confirmed"] + row["dismissed"]
        row["precision"] = round(row["confirmed"] / judged, 4) if judged else None
    return sorted(by_type.values(), key=lambda r: r["type"]), by_camera
