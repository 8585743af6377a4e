"""Intake routes: the source systems' signed posts (no user token: the signature is
the credential, ``signing.verify``), and the reviewers' alert routes."""

from __future__ import annotations

import orjson
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router

from backend.accounts.actor import Actor
from backend.accounts.scope import scope_of
from backend.core.errors import ApiError
from backend.core.labels import Labels
from backend.core.limits import RowId
from backend.core.pagination import PageParams, paginate
from backend.core.schemas import ErrorOut
from backend.fastpath.collector import collector_paused
from backend.intake import schemas
from backend.intake.access import access_alert, alerts_reviewable
from backend.intake.models import AlertState, Camera, SourceKind, VideoAlert
from backend.intake.power import readings_take
from backend.intake.signing import verify
from backend.intake.video import precision, video_alert_confirm, video_alert_dismiss, video_alerts_take

router = Router(tags=["intake"])
SIGNED_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut}
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}

STATE_LABELS = Labels(
    AlertState,
    {AlertState.OPEN: "awaiting review", AlertState.CONFIRMED: "confirmed", AlertState.DISMISSED: "false alarm"},
)


def _answer(request: HttpRequest, outcomes) -> HttpResponse:
    """``BatchOut``, printed here: checking a thousand item answers against the schema
    and printing them through the API's encoder cost more than making them
    (``tests`` compare it with the schema)."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    body = {
        "message_id": request.headers["X-Intake-Message-Id"],
        "counts": counts,
        "items": [{"id": o.id, "status": o.status, "alert_id": o.alert_id, "error": o.error} for o in outcomes],
    }
    return HttpResponse(orjson.dumps(body), content_type="application/json; charset=utf-8")


@router.post(
    "/intake/video-alerts",
    auth=None,
    response={200: schemas.BatchOut, **SIGNED_ERRORS},
    summary="视频告警接入 Video alerts from the camera platform (signed)",
)
def intake_video_alerts(request: HttpRequest, body: schemas.VideoBatchIn):
    with collector_paused(), transaction.atomic():  # the message id is kept only if the batch is
        source = verify(request, kind=SourceKind.VIDEO)
        outcomes = video_alerts_take(source=source, items=body.items)
    return _answer(request, outcomes)


@router.post(
    "/intake/power-readings",
    auth=None,
    response={200: schemas.BatchOut, **SIGNED_ERRORS},
    summary="用电读数接入 Hourly meter readings from the power company (signed)",
)
def intake_power_readings(request: HttpRequest, body: schemas.PowerBatchIn):
    with collector_paused(), transaction.atomic():
        source = verify(request, kind=SourceKind.POWER)
        outcomes = readings_take(source=source, items=body.items)
    return _answer(request, outcomes)


@router.get(
    "/intake/video-alerts/{alert_id}",
    auth=None,
    response={200: schemas.AlertStatusOut, **SIGNED_ERRORS},
    summary="告警处理结果 What became of one of the source's alerts (signed)",
)
def intake_video_alert_status(request: HttpRequest, alert_id: Path[RowId]):
    with transaction.atomic():
        source = verify(request, kind=SourceKind.VIDEO)
    alert = VideoAlert.objects.filter(pk=alert_id, source=source).select_related("camera", "type", "event").first()
    if alert is None:  # another source's alert is not found either
        raise ApiError("alert_not_found")
    return {
        "id": alert.pk,
        "item_id": alert.item_id,
        "camera": alert.camera.code,
        "type": alert.type.code,
        "state": alert.state,
        "repeats": alert.repeats,
        "first_at": alert.first_at,
        "last_at": alert.last_at,
        "event_number": alert.event.number if alert.event_id else None,
    }


def _alert_out(alert: VideoAlert) -> dict:
    return {
        "id": alert.pk,
        "camera_id": alert.camera_id,
        "camera_name": alert.camera.name,
        "grid_id": alert.camera.grid_id,
        "type": alert.type.code,
        "type_name": alert.type.name,
        "category_code": alert.type.category.code,
        "confidence": alert.confidence,
        "first_at": alert.first_at,
        "last_at": alert.last_at,
        "repeats": alert.repeats,
        "state": alert.state,
        "state_label": STATE_LABELS[alert.state],
        "snapshot_id": str(alert.snapshot_id) if alert.snapshot_id else None,
        "event_id": str(alert.event_id) if alert.event_id else None,
        "event_number": alert.event.number if alert.event_id else None,
    }


class AlertListParams(PageParams):
    state: AlertState = AlertState.OPEN


@router.get("/video-alerts", response={200: schemas.AlertPage, **ERRORS}, summary="视频告警审核 Video alerts to review")
def video_alert_list(request: HttpRequest, params: Query[AlertListParams]):
    alerts = (
        alerts_reviewable(scope_of(request.auth))
        .filter(state=params.state)
        .select_related("camera", "type__category", "event")
        .order_by("-last_at", "-pk")
    )
    page = paginate(alerts, page=params.page, page_size=params.page_size)
    return {**page, "items": [_alert_out(a) for a in page["items"]]}


@router.get(
    "/video-alerts/precision",
    response={200: schemas.PrecisionOut, **ERRORS},
    summary="告警准确率 Precision per type and camera",
)
def video_alert_precision(request: HttpRequest):
    scope = scope_of(request.auth)
    alerts_reviewable(scope)  # 403 for those who review none
    cameras = Camera.objects.filter(pk__in=alerts_reviewable(scope).values("camera_id"))
    by_type, by_camera = precision(cameras=None if scope.district_wide else cameras)
    return {"by_type": by_type, "by_camera": by_camera}


@router.post(
    "/video-alerts/{alert_id}/confirm",
    response={200: schemas.AlertOut, **ERRORS},
    summary="确认立案 Confirm an alert into an event",
)
def video_alert_confirm_route(request: HttpRequest, alert_id: Path[RowId], body: schemas.ReviewIn):
    with transaction.atomic():
        alert = access_alert(scope_of(request.auth), alert_id, lock=True)
        video_alert_confirm(alert=alert, actor=Actor(user=request.auth), note=body.note)
    return _alert_out(VideoAlert.objects.select_related("camera", "type__category", "event").get(pk=alert.pk))


@router.post(
    "/video-alerts/{alert_id}/dismiss",
    response={200: schemas.AlertOut, **ERRORS},
    summary="误报 Dismiss an alert as false",
)
def video_alert_dismiss_route(request: HttpRequest, alert_id: Path[RowId], body: schemas.ReviewIn):
    with transaction.atomic():
        alert = access_alert(scope_of(request.auth), alert_id, lock=True)
        video_alert_dismiss(alert=alert, actor=Actor(user=request.auth), note=body.note)
    return _alert_out(VideoAlert.objects.select_related("camera", "type__category", "event").get(pk=alert.pk))
