"""Routes of the closed loop. The step routes are made from the command registry
(``backend/events/commands.py``), which the sync push reads too; each parses its
body, fetches and authorizes the event with a row lock, calls the step's service
and returns the event."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from backend.accounts.scope import scope_of
from backend.core.db_router import reads_may_lag
from backend.core.limits import Instant, Page, PageSize, RowId
from backend.core.pagination import MAX_PAGE_SIZE, paginate
from backend.core.schemas import ErrorOut
from backend.events import schemas, services
from backend.events.commands import COMMANDS, Command, command_run
from backend.events.labels import LEVEL_LABELS, SEVERITY_LABELS, SOURCE_LABELS, STATE_LABELS, category_name
from backend.events.models import Event
from backend.events.reporters import actor_names, reporters_shown
from backend.events.selectors import QUEUES, access_event, categories, event_history, event_queue
from backend.events.services import Actor, Photos
from backend.events.workflow import allowed_steps
from backend.events.writes import writes_collected

router = Router(tags=["events"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def event_out(event: Event, reporter: dict) -> dict:
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
        **reporter,
    }


def _for(user, events: list[Event], endpoint: str) -> list[dict]:
    """A resident gets the public view (``backend.tips.public``); staff get the event,
    with the reporter's contact where the rule shows it (``endpoint`` names the route in
    the access log when a resident reporter's data is shown)."""
    if scope_of(user).is_staff_role:
        reporters = reporters_shown(user, events, endpoint)
        return [event_out(event, reporters[event.id]) for event in events]
    from backend.tips.public import resident_event_out

    return [resident_event_out(event, user) for event in events]


def event_detail(event: Event, user, endpoint: str) -> dict:
    """The event as ``user`` may see it, with the steps they may take now."""
    return {**_for(user, [event], endpoint)[0], "allowed_steps": allowed_steps(scope_of(user), event)}


def _actor(request: HttpRequest, device_time: datetime | None) -> Actor:
    return Actor(user=request.auth, device=getattr(request, "device", None), device_at=device_time)


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
    return Status(201 if created else 200, event_detail(event, request.auth, "POST /api/v1/events"))


class QueueFilters(Schema):
    queue: Literal[tuple(QUEUES)] = "all"
    state: Literal[tuple(STATE_LABELS)] | None = None
    category: str | None = None
    grid_id: RowId | None = None
    reported_from: Instant | None = None
    reported_to: Instant | None = None
    changed_from: Instant | None = Field(
        None, description="此时间以后有变化的事件，按变化时间倒序 Changed since, newest change first"
    )
    overdue: bool | None = None
    q: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="按事件编号（SC2026…，完整或开头）或描述、地址中的文字查找 Find by number or text",
    )
    page: Page = 1
    page_size: PageSize = 50


@router.get(
    "/events",
    response={200: schemas.EventPage, **ERRORS},
    summary="事件队列与查找 Event queues (my_tasks, to_triage, to_approve, overdue, my_reports, all) and search",
)
@reads_may_lag
def event_list(request: HttpRequest, filters: Query[QueueFilters]):
    events = event_queue(
        request.auth,
        queue=filters.queue,
        state=filters.state,
        category=filters.category,
        grid_id=filters.grid_id,
        reported_from=filters.reported_from,
        reported_to=filters.reported_to,
        overdue=filters.overdue,
        text=filters.q,
        changed_from=filters.changed_from,
    )
    page = paginate(
        events,
        page=filters.page,
        page_size=min(filters.page_size, MAX_PAGE_SIZE),
        rows_by_id=Event.objects.select_related("category", "grid") if filters.q else None,
    )
    page["items"] = _for(request.auth, list(page["items"]), "GET /api/v1/events")
    return page


@router.get("/events/{event_id}", response={200: schemas.EventDetailOut, **ERRORS}, summary="事件详情 One event")
def event_get(request: HttpRequest, event_id: UUID):
    return event_detail(access_event(request.auth, event_id), request.auth, "GET /api/v1/events/{event_id}")


@router.get(
    "/events/{event_id}/history",
    response={200: list[schemas.ActionOut], **ERRORS},
    summary="操作记录（哈希链）Hash-chained history",
)
def history(request: HttpRequest, event_id: UUID):
    event = access_event(request.auth, event_id)
    if not scope_of(request.auth).is_staff_role:
        from backend.tips.public import resident_history

        return resident_history(event, request.auth)
    from backend.tips.public import PUBLIC_STEPS

    actions = list(event_history(event))
    names = actor_names(request.auth, event, actions, "GET /api/v1/events/{event_id}/history")
    return [
        {
            **{f: getattr(a, f) for f in schemas.ActionOut.model_fields if hasattr(a, f)},
            "actor_name": names.get(a.actor_id, "系统"),
            "public": a.action in PUBLIC_STEPS,  # what a resident's history shows (the public view)
        }
        for a in actions
    ]


def _step_route(command: Command) -> None:
    """The route of a step, from the registry: parse the body, then ``command_run``
    (fetch and lock through the user's scope, the service) in a transaction, and
    answer the event with what the caller may do next, in the same transaction."""

    def view(request: HttpRequest, event_id: UUID, payload) -> dict:
        actor = _actor(request, payload.device_time)
        # The answer is read in the step's transaction: its access-log row (a resident
        # reporter's contact shown) commits with the step, one commit per request, and
        # is written with the step's other rows in one go (``backend.events.writes``).
        with transaction.atomic(), writes_collected():
            event = command_run(command, actor=actor, event_id=event_id, body=payload)
            return event_detail(event, request.auth, f"POST /api/v1/events/{{event_id}}/{command.name}")

    view.__name__ = command.operation or command.name.replace("/", "_")  # ninja's operationId is made from it
    view.__annotations__ = {"request": HttpRequest, "event_id": UUID, "payload": command.body, "return": dict}
    router.post(
        f"/events/{{event_id}}/{command.name}",
        response={200: schemas.EventDetailOut, **ERRORS},
        summary=command.summary,
    )(view)


for _command in COMMANDS.values():
    _step_route(_command)
