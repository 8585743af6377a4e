"""Routes of the closed loop. Each is four steps: parse, fetch-and-authorize (with a
row lock), call the step's service, return the event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from backend.accounts.scope import scope_of
from backend.core.errors import ApiError
from backend.core.limits import Instant, Page, PageSize, RowId
from backend.core.pagination import MAX_PAGE_SIZE, paginate
from backend.core.schemas import ErrorOut
from backend.events import schemas, services
from backend.events.labels import LEVEL_LABELS, SEVERITY_LABELS, SOURCE_LABELS, STATE_LABELS, category_name
from backend.events.models import Event
from backend.events.selectors import access_event, categories, event_history, event_queue
from backend.events.services import Actor, DispatchTarget, Photos
from backend.events.workflow import allowed_steps

router = Router(tags=["events"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def event_out(event: Event) -> dict:
    return {
        **{
            name: getattr(event, name)
            for name in schemas.EventOut.model_fields
            if hasattr(event, name) and name != "category"
        },
        "category": event.category.code,
        "version": event.action_count,
        "category_name": category_name(event.category),
        "grid_name": event.grid.name,
        "state_label": STATE_LABELS[event.state],
        "source_label": SOURCE_LABELS[event.source],
        "level_label": LEVEL_LABELS[event.level],
        "severity_label": SEVERITY_LABELS[event.severity],
    }


def event_detail(event: Event, user) -> dict:
    return {**event_out(event), "allowed_steps": allowed_steps(scope_of(user), event)}


def _actor(request: HttpRequest, device_time: datetime | None) -> Actor:
    return Actor(user=request.auth, device=getattr(request, "device", None), device_at=device_time)


def _act(
    request: HttpRequest, event_id: UUID, device_time: datetime | None, step: Callable[[Event, Actor], Event]
) -> dict:
    with transaction.atomic():
        event = access_event(request.auth, event_id, lock=True)
        event = step(event, _actor(request, device_time))
    return event_detail(event, request.auth)


@router.get(
    "/catalogue/categories",
    response={200: list[schemas.CategoryOut], **ERRORS},
    tags=["catalogue"],
    summary="事项目录 Event categories",
)
def category_list(request: HttpRequest):
    return [
        {
            **{f: getattr(c, f) for f in schemas.CategoryOut.model_fields if hasattr(c, f)},
            "parent_code": c.parent.code if c.parent else None,
            "name": category_name(c),
            "severity_label": SEVERITY_LABELS[c.severity],
        }
        for c in categories()
    ]


@router.post(
    "/events",
    response={201: schemas.EventDetailOut, 200: schemas.EventDetailOut, **ERRORS},
    summary="上报事件 Report an event",
)
def report(request: HttpRequest, payload: schemas.ReportIn):
    location = payload.location
    event, created = services.event_report(
        actor=_actor(request, payload.device_time),
        source=payload.source,
        category_code=payload.category,
        description=payload.description,
        lat=location.lat if location else None,
        lng=location.lng if location else None,
        crs=location.crs if location else "wgs84",
        address_text=payload.address_text,
        grid_id=payload.grid_id,
        severity=payload.severity,
        event_id=payload.id,
        photos=Photos(payload.before_photos, payload.after_photos),
        handled_on_spot=payload.handled_on_spot,
        result_note=payload.result_note,
    )
    return Status(201 if created else 200, event_detail(event, request.auth))


class QueueFilters(Schema):
    queue: str = "all"
    state: str | None = None
    category: str | None = None
    grid_id: RowId | None = None
    reported_from: Instant | None = None
    reported_to: Instant | None = None
    overdue: bool | None = None
    page: Page = 1
    page_size: PageSize = 50


@router.get(
    "/events",
    response={200: schemas.EventPage, **ERRORS},
    summary="事件队列 Event queues: my_tasks, to_triage, to_approve, overdue, my_reports, all",
)
def event_list(request: HttpRequest, filters: Query[QueueFilters]):
    if filters.state and filters.state not in STATE_LABELS:
        raise ApiError("validation_error", detail={"state": f"one of {', '.join(STATE_LABELS)}"})
    events = event_queue(
        request.auth,
        queue=filters.queue,
        state=filters.state,
        category=filters.category,
        grid_id=filters.grid_id,
        reported_from=filters.reported_from,
        reported_to=filters.reported_to,
        overdue=filters.overdue,
    )
    page = paginate(events, page=filters.page, page_size=min(filters.page_size, MAX_PAGE_SIZE))
    page["items"] = [event_out(event) for event in page["items"]]
    return page


@router.get("/events/{event_id}", response={200: schemas.EventDetailOut, **ERRORS}, summary="事件详情 One event")
def event_get(request: HttpRequest, event_id: UUID):
    return event_detail(access_event(request.auth, event_id), request.auth)


@router.get(
    "/events/{event_id}/history",
    response={200: list[schemas.ActionOut], **ERRORS},
    summary="操作记录（哈希链）Hash-chained history",
)
def history(request: HttpRequest, event_id: UUID):
    event = access_event(request.auth, event_id)
    return [
        {
            **{f: getattr(a, f) for f in schemas.ActionOut.model_fields if hasattr(a, f)},
            "actor_name": str(a.actor) if a.actor else "系统",
        }
        for a in event_history(event)
    ]


def _route(path: str, summary: str):
    return router.post(
        f"/events/{{event_id}}/{path}", response={200: schemas.EventDetailOut, **ERRORS}, summary=summary
    )


@_route("accept", "受理 Accept")
def accept(request: HttpRequest, event_id: UUID, payload: schemas.StepIn):
    return _act(
        request, event_id, payload.device_time, lambda e, a: services.event_accept(event=e, actor=a, note=payload.note)
    )


@_route("reject", "驳回 Reject")
def reject(request: HttpRequest, event_id: UUID, payload: schemas.ReasonIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_reject(event=e, actor=a, reason=payload.reason),
    )


@_route("merge", "合并重复事件 Merge into a duplicate")
def merge(request: HttpRequest, event_id: UUID, payload: schemas.MergeIn):
    def step(event: Event, actor: Actor) -> Event:
        into = access_event(request.auth, payload.into)
        return services.event_merge(event=event, actor=actor, into=into, note=payload.note)

    return _act(request, event_id, payload.device_time, step)


@_route("dispatch", "分流交办 Dispatch")
def dispatch(request: HttpRequest, event_id: UUID, payload: schemas.DispatchIn):
    target = DispatchTarget(payload.platform_id, payload.department_id, payload.grid_worker_id)
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_dispatch(
            event=e, actor=a, to=target, deadline_at=payload.deadline_at, note=payload.note
        ),
    )


@_route("sign", "签收 Sign for")
def sign(request: HttpRequest, event_id: UUID, payload: schemas.StepIn):
    return _act(
        request, event_id, payload.device_time, lambda e, a: services.event_sign(event=e, actor=a, note=payload.note)
    )


@_route("return", "退回 Return to the dispatcher")
def return_(request: HttpRequest, event_id: UUID, payload: schemas.ReasonIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_return(event=e, actor=a, reason=payload.reason),
    )


@_route("handle", "处置完毕 Handled")
def handle(request: HttpRequest, event_id: UUID, payload: schemas.HandleIn):
    photos = Photos(payload.before_photos, payload.after_photos)
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_handle(event=e, actor=a, result_note=payload.result_note, photos=photos),
    )


@_route("extension", "申请延期 Request an extension")
def request_extension(request: HttpRequest, event_id: UUID, payload: schemas.ExtensionIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_request_extension(event=e, actor=a, until=payload.until, reason=payload.reason),
    )


@_route("extension/approve", "批准延期 Approve the extension")
def approve_extension(request: HttpRequest, event_id: UUID, payload: schemas.StepIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_decide_extension(event=e, actor=a, approve=True, note=payload.note),
    )


@_route("extension/refuse", "不批准延期 Refuse the extension")
def refuse_extension(request: HttpRequest, event_id: UUID, payload: schemas.StepIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_decide_extension(event=e, actor=a, approve=False, note=payload.note),
    )


@_route("park", "申请挂账 Request parking")
def request_park(request: HttpRequest, event_id: UUID, payload: schemas.ReasonIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_request_park(event=e, actor=a, reason=payload.reason),
    )


@_route("park/approve", "批准挂账 Approve parking")
def approve_park(request: HttpRequest, event_id: UUID, payload: schemas.StepIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_decide_park(event=e, actor=a, approve=True, note=payload.note),
    )


@_route("park/refuse", "不批准挂账 Refuse parking")
def refuse_park(request: HttpRequest, event_id: UUID, payload: schemas.StepIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_decide_park(event=e, actor=a, approve=False, note=payload.note),
    )


@_route("unpark", "解除挂账 Unpark")
def unpark(request: HttpRequest, event_id: UUID, payload: schemas.StepIn):
    return _act(
        request, event_id, payload.device_time, lambda e, a: services.event_unpark(event=e, actor=a, note=payload.note)
    )


@_route("approve", "结案 Approve the closure")
def approve(request: HttpRequest, event_id: UUID, payload: schemas.StepIn):
    return _act(
        request, event_id, payload.device_time, lambda e, a: services.event_approve(event=e, actor=a, note=payload.note)
    )


@_route("rework", "返工 Send back for rework")
def rework(request: HttpRequest, event_id: UUID, payload: schemas.ReasonIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_rework(event=e, actor=a, reason=payload.reason),
    )


@_route("evaluate", "评价 Evaluate")
def evaluate(request: HttpRequest, event_id: UUID, payload: schemas.EvaluateIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_evaluate(
            event=e, actor=a, satisfaction=payload.satisfaction, comment=payload.comment
        ),
    )


@_route("reopen", "不满意重启 Reopen")
def reopen(request: HttpRequest, event_id: UUID, payload: schemas.StepIn):
    return _act(
        request, event_id, payload.device_time, lambda e, a: services.event_reopen(event=e, actor=a, note=payload.note)
    )


@_route("urge", "催办 Urge")
def urge(request: HttpRequest, event_id: UUID, payload: schemas.StepIn):
    return _act(
        request, event_id, payload.device_time, lambda e, a: services.event_urge(event=e, actor=a, note=payload.note)
    )


@_route("escalate", "报上一级 Escalate one level")
def escalate(request: HttpRequest, event_id: UUID, payload: schemas.ReasonIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_escalate(event=e, actor=a, reason=payload.reason),
    )


@_route("comment", "补充说明 Comment")
def comment(request: HttpRequest, event_id: UUID, payload: schemas.CommentIn):
    photos = Photos(payload.before_photos, payload.after_photos)
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_comment(event=e, actor=a, note=payload.note, photos=photos),
    )


@_route("edit", "修改描述、地址、严重程度 Edit description, address, severity")
def edit(request: HttpRequest, event_id: UUID, payload: schemas.EditIn):
    return _act(
        request,
        event_id,
        payload.device_time,
        lambda e, a: services.event_edit(event=e, actor=a, fields=payload.fields, note=payload.note),
    )
