"""Mutations are commands, not row overwrites: each names a step of the closed loop
and is validated by the same services as the HTTP API, against the state the
server has now (sync.md §3)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from backend.core.errors import ApiError, register
from backend.core.limits import Instant, RowId
from backend.events import services
from backend.events.models import Event
from backend.events.selectors import access_event
from backend.events.services import Actor, Photos
from backend.patrols.services import MAX_PARTS, MAX_POINTS_PER_PART, patrol_log, visit_record
from sync.conflicts import event_update_fields

register("unknown_mutation", 422, "未知的同步命令", "Unknown mutation name")
register("invalid_arguments", 422, "同步命令参数有误", "The mutation's arguments are invalid")

NOTE = Field("", max_length=2000)


class Args(BaseModel):
    """A mutation's arguments (plain pydantic: ninja's ``Schema`` adds a Django-object
    validator that costs a fifth of a report's checks)."""


class StepArgs(Args):
    event_id: uuid.UUID
    note: str = NOTE


class ReasonArgs(Args):
    event_id: uuid.UUID
    reason: str = Field(..., min_length=1, max_length=2000)


class HandleArgs(Args):
    event_id: uuid.UUID
    result_note: str = Field(..., min_length=1, max_length=2000)
    before_photos: list[str] = Field(default_factory=list, max_length=20)
    after_photos: list[str] = Field(default_factory=list, max_length=20)


class CommentArgs(HandleArgs):
    result_note: str = ""
    note: str = Field(..., min_length=1, max_length=2000)


class EvaluateArgs(Args):
    event_id: uuid.UUID
    satisfaction: str
    comment: str = NOTE


class ExtensionArgs(ReasonArgs):
    until: Instant


class ReportArgs(Args):
    id: uuid.UUID = Field(..., description="the phone's event UUID: required offline")
    source: str
    category: str
    description: str = Field(..., min_length=1, max_length=2000)
    lat: float | None = None
    lng: float | None = None
    crs: str = Field("wgs84", pattern="^(wgs84|gcj02)$")
    address_text: str = Field("", max_length=200)
    grid_id: RowId | None = None  # bounded: a larger one made the whole batch fail (500)
    before_photos: list[str] = Field(default_factory=list, max_length=20)
    after_photos: list[str] = Field(default_factory=list, max_length=20)
    handled_on_spot: bool = False
    result_note: str = NOTE


class UpdateFieldsArgs(Args):
    event_id: uuid.UUID
    fields: dict[str, Any] = Field(..., description="description, address_text, severity")


class TrackPoint(Args):
    lat: float = Field(..., ge=-90, le=90)
    lng: float = Field(..., ge=-180, le=180)
    at: Instant


class PatrolArgs(Args):
    id: uuid.UUID = Field(..., description="the phone's patrol UUID; later parts of the same patrol reuse it")
    started_at: Instant
    ended_at: Instant | None = None
    points: list[TrackPoint] = Field(default_factory=list, max_length=MAX_POINTS_PER_PART)
    crs: str = Field("wgs84", pattern="^(wgs84|gcj02)$")
    note: str = NOTE
    part: int | None = Field(
        None, ge=1, le=MAX_PARTS, description="the part's index (1, 2, …): its note is kept per part"
    )


class VisitArgs(Args):
    id: uuid.UUID
    subject_id: RowId
    visited_at: Instant
    finding: str = Field("normal", pattern="^(normal|concern|absent)$")
    note: str = NOTE
    photos: list[str] = Field(default_factory=list, max_length=20)
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    crs: str = Field("wgs84", pattern="^(wgs84|gcj02)$")
    patrol_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Context:
    mutation_id: int
    base_version: int | None
    clock_offset_ms: int | None


Outcome = tuple[str, dict]  # (status, data)


@dataclass(frozen=True)
class Command:
    args: type[Args]
    step: str | None  # the workflow step, for keeping an unapplied step's notes
    run: Callable[[Any, Actor, Context], Outcome]


def _note_of(args) -> tuple[str, Photos]:
    note = (
        getattr(args, "note", "")
        or getattr(args, "reason", "")
        or getattr(args, "result_note", "")
        or getattr(args, "comment", "")
    )
    if getattr(args, "fields", None):
        note = "离线修改未能应用 edit not applied: " + json.dumps(args.fields, ensure_ascii=False, default=str)
    return note, Photos(list(getattr(args, "before_photos", [])), list(getattr(args, "after_photos", [])))


def event_data(event: Event) -> dict:
    return {"event_id": str(event.pk), "number": event.number, "state": event.state, "version": event.action_count}


def _on_event(service: Callable[[Event, Actor, Any], Event]) -> Callable[[Any, Actor, Context], Outcome]:
    """A workflow step on an existing event, fetched and locked through the user's scope."""

    def run(args, actor: Actor, context: Context) -> Outcome:
        event = service(access_event(actor.user, args.event_id, lock=True), actor, args)  # photos claimed inside
        return "applied", event_data(event)

    return run


def report_fields(args: ReportArgs) -> dict:
    """``event.report`` arguments as the fields of ``event_report`` / ``prepare_report``."""
    return dict(
        source=args.source,
        category_code=args.category,
        description=args.description,
        lat=args.lat,
        lng=args.lng,
        crs=args.crs,
        address_text=args.address_text,
        grid_id=args.grid_id,
        event_id=args.id,
        photos=Photos(args.before_photos, args.after_photos),
        handled_on_spot=args.handled_on_spot,
        result_note=args.result_note,
    )


def _report(args: ReportArgs, actor: Actor, context: Context) -> Outcome:
    event, _ = services.event_report(actor=actor, **report_fields(args))  # photos claimed inside
    return "applied", event_data(event)


def _update_fields(args: UpdateFieldsArgs, actor: Actor, context: Context) -> Outcome:
    event = access_event(actor.user, args.event_id, lock=True)
    merged = event_update_fields(
        event=event, actor=actor, fields=args.fields, base_version=context.base_version, mutation_id=context.mutation_id
    )
    return merged["status"], merged["data"]


def _patrol(args: PatrolArgs, actor: Actor, context: Context) -> Outcome:
    patrol = patrol_log(
        actor=actor,
        patrol_id=args.id,
        started_at=args.started_at,
        ended_at=args.ended_at,
        points=[(p.lat, p.lng, p.at) for p in args.points],
        crs=args.crs,
        note=args.note,
        part=args.part,
        clock_offset_ms=context.clock_offset_ms,
    )
    return "applied", {"patrol_id": str(patrol.pk), "point_count": patrol.point_count, "distance_m": patrol.distance_m}


def _visit(args: VisitArgs, actor: Actor, context: Context) -> Outcome:
    visit, _ = visit_record(
        actor=actor,
        visit_id=args.id,
        subject_id=args.subject_id,
        visited_at=args.visited_at,
        finding=args.finding,
        note=args.note,
        photos=args.photos,
        lat=args.lat,
        lng=args.lng,
        crs=args.crs,
        patrol_id=args.patrol_id,
    )
    return "applied", {"visit_id": str(visit.pk), "subject_id": visit.subject_id}


COMMANDS: dict[str, Command] = {
    "event.report": Command(ReportArgs, None, _report),
    "event.accept": Command(
        StepArgs, "accept", _on_event(lambda e, a, x: services.event_accept(event=e, actor=a, note=x.note))
    ),
    "event.reject": Command(
        ReasonArgs, "reject", _on_event(lambda e, a, x: services.event_reject(event=e, actor=a, reason=x.reason))
    ),
    "event.sign": Command(
        StepArgs, "sign", _on_event(lambda e, a, x: services.event_sign(event=e, actor=a, note=x.note))
    ),
    "event.return": Command(
        ReasonArgs, "return", _on_event(lambda e, a, x: services.event_return(event=e, actor=a, reason=x.reason))
    ),
    "event.handle": Command(
        HandleArgs,
        "handle",
        _on_event(
            lambda e, a, x: services.event_handle(
                event=e, actor=a, result_note=x.result_note, photos=Photos(x.before_photos, x.after_photos)
            )
        ),
    ),
    "event.request_extension": Command(
        ExtensionArgs,
        "request_extension",
        _on_event(lambda e, a, x: services.event_request_extension(event=e, actor=a, until=x.until, reason=x.reason)),
    ),
    "event.approve": Command(
        StepArgs, "approve", _on_event(lambda e, a, x: services.event_approve(event=e, actor=a, note=x.note))
    ),
    "event.rework": Command(
        ReasonArgs, "rework", _on_event(lambda e, a, x: services.event_rework(event=e, actor=a, reason=x.reason))
    ),
    "event.evaluate": Command(
        EvaluateArgs,
        "evaluate",
        _on_event(
            lambda e, a, x: services.event_evaluate(event=e, actor=a, satisfaction=x.satisfaction, comment=x.comment)
        ),
    ),
    "event.urge": Command(
        StepArgs, "urge", _on_event(lambda e, a, x: services.event_urge(event=e, actor=a, note=x.note))
    ),
    "event.escalate": Command(
        ReasonArgs, "escalate", _on_event(lambda e, a, x: services.event_escalate(event=e, actor=a, reason=x.reason))
    ),
    "event.comment": Command(
        CommentArgs,
        "comment",
        _on_event(
            lambda e, a, x: services.event_comment(
                event=e, actor=a, note=x.note, photos=Photos(x.before_photos, x.after_photos)
            )
        ),
    ),
    "event.update_fields": Command(UpdateFieldsArgs, "edit", _update_fields),
    "patrol.log": Command(PatrolArgs, None, _patrol),
    "visit.record": Command(VisitArgs, None, _visit),
}


def parse(name: str, raw: dict) -> tuple[Command, Args]:
    command = COMMANDS.get(name)
    if command is None:
        raise ApiError("unknown_mutation", detail={"name": name, "known": sorted(COMMANDS)})
    try:
        return command, command.args.model_validate(raw)
    except ValidationError as error:
        raise ApiError("invalid_arguments", detail=error.errors(include_url=False, include_input=False)) from None


def keep_unapplied(command: Command, args: Args, actor: Actor, error: ApiError) -> dict | None:
    """After a step was refused: keep its notes and photo references on the event if
    the user may comment there, and describe the event's current state. ``kept`` says
    where the payload is: ``history`` (a comment row), or ``ledger`` when the user may
    not comment on the event (REST would answer 403): then only this device's ledger
    row holds it (its ``args``, as always), and the result tells the phone so."""
    if command.step is None or not hasattr(args, "event_id"):
        return None
    try:
        event = access_event(actor.user, args.event_id, lock=True)
    except ApiError:
        return None
    note, photos = _note_of(args)
    kept = None
    if note or photos.before or photos.after:
        try:
            services.record_unapplied_step(
                event=event, actor=actor, step=command.step, note=note, photos=photos, reason=error.code
            )
            kept = "history"
        except ApiError:  # step_forbidden, raised before anything is written
            kept = "ledger"
    from backend.accounts.scope import scope_of
    from backend.events.workflow import allowed_steps

    described = {"state": event.state, "allowed_steps": allowed_steps(scope_of(actor.user), event)}
    return {**described, "kept": kept} if kept else described
