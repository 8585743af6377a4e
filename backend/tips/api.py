"""Routes of residents' tips (``/api/v1/tips``): submit (signed in or anonymous), the
events near a point, me-too, the public view, anonymous tracking and rating, and the
dispatcher's triage view with me-too counts and likely duplicates."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import orjson
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from backend.accounts.ratelimit import client_address
from backend.accounts.scope import scope_of
from backend.core.errors import ApiError
from backend.core.schemas import ErrorOut
from backend.core.times import wire_default
from backend.events.api import event_out
from backend.events.labels import category_name
from backend.events.models import Category
from backend.events.reporters import reporters_shown
from backend.events.schemas import PHOTO_REFS, EventOut, Location
from backend.events.selectors import access_event, event_queue
from backend.events.services import Actor, Photos
from backend.tips import services
from backend.tips.public import me_too_counts, public_view
from backend.tips.selectors import duplicate_groups, nearby

router = Router(tags=["tips"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut}


class TipIn(Schema):
    id: UUID | None = Field(None, description="客户端生成的 UUID：重复提交返回同一爆料")
    category: str | None = Field(None, max_length=16, description="小类编码；不填表示“不确定”，由调度员受理时分类")
    description: str = Field(..., min_length=1, max_length=2000)
    location: Location | None = Field(None, description="位置（wgs84 或 gcj02）；或给出 address_id")
    address_id: int | None = Field(None, ge=1, le=2**63 - 1, description="地址库条目（/addresses/search 的 id）")
    address_text: str = Field("", max_length=200)
    before_photos: list[str] = PHOTO_REFS
    contact_allowed: bool = Field(False, description="是否同意处置人员联系本人")


class AnonymousTipIn(TipIn):
    category: str = Field(..., max_length=16, description="小类编码（仅允许匿名爆料的分类）")
    contact_allowed: Literal[False] = False
    before_photos: list[str] = Field(
        default_factory=list, max_length=0, description="匿名爆料不能附照片（上传照片需要登录）"
    )


class StepOut(Schema):
    step: str
    label: str
    at: datetime
    note: str
    unit: str


class PhotoLink(Schema):
    id: str
    url: str
    url_expires_in: int


class MergedInto(Schema):
    id: UUID
    number: str


class PublicTipOut(Schema):
    id: UUID
    number: str
    category: str
    category_name: str
    status: str = Field(
        ..., description="received / accepted / rejected / merged / in_progress / handled / closed / on_hold"
    )
    status_label: str
    description: str = Field(..., description="仅上报人本人可见，其他人为空")
    address_text: str
    lat: float | None = Field(..., description="楼栋级（约 55 米）")
    lng: float | None
    area: str
    reported_at: datetime
    closed_at: datetime | None
    handled_by: str = Field(..., description="处理单位（不含个人）")
    result: str
    me_too_count: int
    merged_into: MergedInto | None
    satisfaction: str
    can_rate: bool
    steps: list[StepOut]
    after_photos: list[PhotoLink]


class AnonymousTipOut(Schema):
    tracking_code: str
    secret: str = Field(..., description="只显示这一次；服务器仅保存其哈希")
    tip: PublicTipOut


class NearbyFilters(Schema):
    lat: float = Field(..., ge=-90, le=90)
    lng: float = Field(..., ge=-180, le=180)
    crs: Literal["wgs84", "gcj02"] = "wgs84"
    category: str | None = Field(None, max_length=16)


class NearbyItem(Schema):
    id: UUID
    number: str
    category: str
    category_name: str
    status: str
    status_label: str
    distance_m: int
    lat: float | None
    lng: float | None
    me_too_count: int


class NearbyOut(Schema):
    radius_m: int
    items: list[NearbyItem]


class MeTooOut(Schema):
    me_too_count: int
    tip: PublicTipOut


class TrackIn(Schema):
    tracking_code: str = Field(..., min_length=1, max_length=16)
    secret: str = Field(..., min_length=1, max_length=64)


class RateIn(TrackIn):
    satisfaction: Literal["satisfied", "basic", "unsatisfied"]
    comment: str = Field("", max_length=2000)


class TriageItem(EventOut):
    me_too_count: int


class DuplicateGroup(Schema):
    category: str
    category_name: str
    event_ids: list[UUID] = Field(..., description="最早上报的在前：合并时保留它")
    merge: str = Field(..., description='合并操作：对其余每个事件 POST /events/{id}/merge {"into": 第一个}')


class TriageOut(Schema):
    items: list[TriageItem]
    duplicate_groups: list[DuplicateGroup]


def _resident_only(user) -> None:
    if scope_of(user).is_staff_role:
        raise ApiError("residents_only")


def _fields(payload: TipIn) -> dict:
    location = payload.location
    return {
        "description": payload.description,
        "lat": location.lat if location else None,
        "lng": location.lng if location else None,
        "crs": location.crs if location else "wgs84",
        "address_id": payload.address_id,
        "address_text": payload.address_text,
        "photos": Photos(payload.before_photos, []),
        "event_id": payload.id,
    }


@router.post("/tips", response={201: PublicTipOut, 200: PublicTipOut, **ERRORS}, summary="提交爆料 Submit a tip")
def tip_submit(request: HttpRequest, payload: TipIn):
    _resident_only(request.auth)
    event, created = services.submit_tip(
        actor=Actor(user=request.auth, device=getattr(request, "device", None)),
        category=payload.category,
        contact_allowed=payload.contact_allowed,
        **_fields(payload),
    )
    return tip_response(public_view(event, viewer=request.auth, own=True, new=created), 201 if created else 200)


def tip_response(view: dict, status: int) -> HttpResponse:
    """``PublicTipOut`` written directly: pydantic's validate-and-dump and the JSON
    encoder's walk were a twentieth of a tip's CPU (tip_submit_rps, docs/residents.md).
    The view's values already have the schema's types; ``test_tips`` holds this answer
    equal to the schema's."""
    body = orjson.dumps(view, default=wire_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    return HttpResponse(body, status=status, content_type="application/json; charset=utf-8")


@router.post(
    "/tips/anonymous",
    auth=None,
    response={201: AnonymousTipOut, **ERRORS},
    summary="匿名爆料 Anonymous tip (categories that allow it): answers a tracking code and a secret",
)
def tip_submit_anonymous(request: HttpRequest, payload: AnonymousTipIn):
    event, code, secret = services.submit_anonymous_tip(
        address=client_address(request), category=payload.category, **_fields(payload)
    )
    return Status(201, {"tracking_code": code, "secret": secret, "tip": public_view(event, viewer=event.reporter)})


@router.get(
    "/tips/nearby", auth=None, response={200: NearbyOut, **ERRORS}, summary="附近的在办事件 Open events near a point"
)
def tip_nearby(request: HttpRequest, filters: Query[NearbyFilters]):
    category = None
    if filters.category:
        category = Category.objects.filter(code=filters.category, active=True).first()
        if category is None:
            raise ApiError("unknown_category", detail={"category": filters.category})
    return nearby(lat=filters.lat, lng=filters.lng, crs=filters.crs, category=category)


@router.post(
    "/tips/track",
    auth=None,
    response={200: PublicTipOut, **ERRORS},
    summary="凭查询码查看匿名爆料 Follow an anonymous tip",
)
def tip_track(request: HttpRequest, payload: TrackIn):
    event = services.tracked_event(payload.tracking_code, payload.secret)
    return public_view(event, viewer=services.anonymous_account())


@router.post(
    "/tips/track/rate",
    auth=None,
    response={200: PublicTipOut, **ERRORS},
    summary="匿名爆料办结后评价 Rate an anonymous tip",
)
def tip_track_rate(request: HttpRequest, payload: RateIn):
    event = services.rate_tracked(
        code=payload.tracking_code, secret=payload.secret, satisfaction=payload.satisfaction, comment=payload.comment
    )
    return public_view(event, viewer=services.anonymous_account())


@router.get(
    "/tips/triage",
    response={200: TriageOut, **ERRORS},
    summary="待分流队列：我也遇到人数与疑似重复 Triage with me-too counts and likely duplicates",
)
def tip_triage(request: HttpRequest, limit: int = Query(200, ge=1, le=500)):
    if not scope_of(request.auth).is_staff_role:
        raise ApiError("forbidden")
    events = list(event_queue(request.auth, queue="to_triage").select_related("category", "grid")[:limit])
    counts = me_too_counts([e.pk for e in events])
    groups = duplicate_groups(events)
    reporters = reporters_shown(request.auth, events, "GET /api/v1/tips/triage")
    return {
        "items": [{**event_out(e, reporters[e.pk]), "me_too_count": counts.get(e.pk, 0)} for e in events],
        "duplicate_groups": [
            {
                "category": g[0].category.code,
                "category_name": category_name(g[0].category),
                "event_ids": [e.pk for e in g],
                "merge": f'POST /api/v1/events/{{id}}/merge {{"into": "{g[0].pk}"}}',
            }
            for g in groups
        ],
    }


@router.get("/tips/{event_id}", response={200: PublicTipOut, **ERRORS}, summary="爆料公开视图 A tip's public view")
def tip_get(request: HttpRequest, event_id: UUID):
    event = access_event(request.auth, event_id)
    return public_view(event, viewer=request.auth, own=event.reporter_id == request.auth.pk)


@router.post("/tips/{event_id}/me-too", response={200: MeTooOut, **ERRORS}, summary="我也遇到 Me too: follow the event")
def tip_me_too(request: HttpRequest, event_id: UUID):
    from backend.events.models import Event

    event = Event.objects.select_related("category", "grid").filter(pk=event_id).first()
    if event is None:
        raise ApiError("event_not_found")
    with transaction.atomic():
        count = services.me_too(user=request.auth, event=event)
    return {"me_too_count": count, "tip": public_view(event, viewer=request.auth)}
