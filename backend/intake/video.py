"""视频告警: a batch from the camera platform, answered item by item; review into an
event or dismissal; precision per camera and type."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from backend.accounts.actor import Actor
from backend.core.errors import ApiError, register
from backend.events.models import Source
from backend.events.services import event_report
from backend.fastpath import intake as statements
from backend.intake.models import AlertCounter, AlertState, AlertType, SourceSystem, VideoAlert
from backend.intake.schemas import validate_items
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


def _snapshot(source: SourceSystem, item: dict):
    try:
        data = base64.b64decode(item["snapshot"], validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("validation_error", detail={"snapshot": "not base64"}) from None
    if len(data) > SNAPSHOT_MAX_BYTES:
        raise ApiError("validation_error", detail={"snapshot": f"at most {SNAPSHOT_MAX_BYTES} bytes"})
    photo, _ = photo_intake(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        phase="before",
        photo_id=uuid.uuid5(SNAPSHOT_NAMESPACE, f"{source.pk}:{item['id']}"),
        uploader=source.account,
    )
    return photo


@dataclass
class _Open:
    """An open alert as the batch sees it: saved before (``pk``) or new in it (``item_id``)."""

    pk: int | None
    item_id: str | None
    first_at: datetime
    last_at: datetime
    confidence: float
    repeats: int
    added: int = 0  # repeats this batch adds to an alert saved before it


def video_alerts_take(*, source: SourceSystem, items: list[dict], now: datetime | None = None) -> list[Outcome]:
    """Each item checked on its own: an unknown camera or type, or a bad field, is
    ``rejected``; an item id already kept is a ``duplicate``; below its type's
    threshold it is ``dropped`` (and counted); a repeat of the same camera and type
    within the type's suppression window joins the open alert (``attached``);
    otherwise a new alert is ``accepted``. One statement per look-up and per write
    for the whole batch (``backend.fastpath.intake``)."""
    now = now or timezone.now()
    outcomes: list[Outcome] = [None] * len(items)  # type: ignore[list-item]
    parsed, errors = validate_items("video", items)
    for index, error in errors.items():
        raw = items[index]
        item_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        outcomes[index] = Outcome(item_id, "rejected", error=error)
    types = {code: (pk, threshold, timedelta(minutes=minutes)) for pk, code, threshold, minutes in _types()}
    widest = max((window for _, _, window in types.values()), default=timedelta(0))
    since = min((item["at"] for _, item in parsed), default=now) - widest
    with transaction.atomic(savepoint=False):
        cameras, saved_open = statements.cameras_and_open_alerts(
            source_id=source.pk, codes={item["camera"] for _, item in parsed}, since=since
        )
        known = statements.items_kept(source_id=source.pk, item_ids={item["id"] for _, item in parsed})
        deltas: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        candidates: list[tuple[int, dict, int, tuple]] = []
        seen_ids: set[str] = set()
        for index, item in parsed:
            camera_id, kind = cameras.get(item["camera"]), types.get(item["type"])
            if camera_id is None or kind is None:
                name = "camera" if camera_id is None else "type"
                outcomes[index] = Outcome(item["id"], "rejected", error={name: f"unknown {name} {item[name]!r}"})
                continue
            item_id = item["id"]
            if item_id in known or item_id in seen_ids:
                outcomes[index] = Outcome(item_id, "duplicate")
                continue
            seen_ids.add(item_id)
            key = (camera_id, kind[0])
            deltas[key]["received"] += 1
            if item["confidence"] < kind[1]:
                deltas[key]["dropped"] += 1
                outcomes[index] = Outcome(item_id, "dropped")
                continue
            candidates.append((index, item, camera_id, kind))

        # Suppression, in the order the items were seen: a repeat joins the open alert
        # of its camera and type, saved before or new in this batch.
        open_alerts = {key: _Open(row[0], None, *row[1:]) for key, row in saved_open.items()}
        new: list[tuple] = []
        joined: list[tuple[int, _Open]] = []
        for index, item, camera_id, (type_id, _, window) in sorted(candidates, key=lambda c: c[1]["at"]):
            key = (camera_id, type_id)
            alert = open_alerts.get(key)
            at = item["at"]
            if alert is not None and alert.first_at - window <= at <= alert.last_at + window:
                alert.repeats += 1
                alert.added += 1
                if at > alert.last_at:
                    alert.last_at = at
                if item["confidence"] > alert.confidence:
                    alert.confidence = item["confidence"]
                deltas[key]["suppressed"] += 1
                joined.append((index, alert))
                continue
            snapshot_id = None
            if item.get("snapshot"):
                try:
                    snapshot_id = _snapshot(source, item).pk
                except ApiError as error:
                    outcomes[index] = Outcome(
                        item["id"], "rejected", error={"code": error.code, **(error.detail or {})}
                    )
                    deltas[key]["received"] -= 1
                    continue
            alert = _Open(None, item["id"], at, at, item["confidence"], 0)
            open_alerts[key] = alert
            new.append((index, key, snapshot_id, alert))
            joined.append((index, alert))
        ids = statements.alerts_insert(
            [
                (source.pk, *key, a.item_id, a.confidence, a.first_at, a.last_at, a.repeats, snapshot_id, now)
                for _, key, snapshot_id, a in new
            ]
        )
        for _, _, _, alert in new:
            alert.pk = ids[alert.item_id]
        statements.alerts_join(
            [
                (a.pk, a.added, a.last_at, a.confidence)
                for a in {id(a): a for _, a in joined}.values()
                if a.added and a.item_id is None
            ]
        )
        statements.counters_add(deltas)
    for index, alert in joined:
        outcomes[index] = Outcome(
            items[index]["id"], "accepted" if alert.item_id == items[index]["id"] else "attached", alert.pk
        )
    return outcomes


def _types() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, code, threshold, suppress_minutes FROM {AlertType._meta.db_table}")
        return cursor.fetchall()


def counters_add(deltas: dict[tuple[int, int], dict[str, int]]) -> None:
    """Add to the per camera-and-type counters in one statement (an upsert that adds)."""
    statements.counters_add(deltas)


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
