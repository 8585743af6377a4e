"""Mutations are commands, not row overwrites: each names a step of the closed loop
and is validated by the same services as the HTTP API, against the state the
server has now (sync.md §3)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ninja import Field, Schema
from pydantic import ValidationError

from backend.core.errors import ApiError, register
from backend.events import services
from backend.events.models import Event
from backend.events.selectors import access_event
from backend.events.services import Actor, Photos

register("unknown_mutation", 422, "未知的同步命令", "Unknown mutation name")
register("invalid_arguments", 422, "同步命令参数有误", "The mutation's arguments are invalid")

NOTE = Field("", max_length=2000)


class StepArgs(Schema):
    event_id: uuid.UUID
    note: str = NOTE


class ReasonArgs(Schema):
    event_id: uuid.UUID
    reason: str = Field(..., min_length=1, max_length=2000)


class HandleArgs(Schema):
    event_id: uuid.UUID
    result_note: str = Field(..., min_length=1, max_length=2000)
    before_photos: list[str] = Field(default_factory=list, max_length=20)
    after_photos: list[str] = Field(default_factory=list, max_length=20)


class CommentArgs(HandleArgs):
    result_note: str = ""
    note: str = Field(..., min_length=1, max_length=2000)


class EvaluateArgs(Schema):
    event_id: uuid.UUID
    satisfaction: str
    comment: str = NOTE


class ExtensionArgs(ReasonArgs):
    until: datetime


class ReportArgs(Schema):
    id: uuid.UUID = Field(..., description="the phone's event UUID: required offline")
    source: str
    category: str
    description: str = Field(..., min_length=1, max_length=2000)
    lat: float | None = None
    lng: float | None = None
    crs: str = "wgs84"
    address_text: str = Field("", max_length=200)
    grid_id: int | None = None
    before_photos: list[str] = Field(default_factory=list, max_length=20)
    after_photos: list[str] = Field(default_factory=list, max_length=20)
    handled_on_spot: bool = False
    result_note: str = NOTE


@dataclass(frozen=True)
class Command:
    args: type[Schema]
    step: str | None  # the workflow step, for keeping an unapplied step's notes
    run: Callable[[Event, Actor, Any], Event] | None = None


def _note_of(args) -> tuple[str, Photos]:
    note = getattr(args, "note", "") or getattr(args, "reason", "") or getattr(args, "result_note", "") or getattr(args, "comment", "")
    return note, Photos(list(getattr(args, "before_photos", [])), list(getattr(args, "after_photos", [])))


COMMANDS: dict[str, Command] = {
    "event.report": Command(ReportArgs, None),
    "event.accept": Command(StepArgs, "accept", lambda e, a, x: services.event_accept(event=e, actor=a, note=x.note)),
    "event.reject": Command(ReasonArgs, "reject", lambda e, a, x: services.event_reject(event=e, actor=a, reason=x.reason)),
    "event.sign": Command(StepArgs, "sign", lambda e, a, x: services.event_sign(event=e, actor=a, note=x.note)),
    "event.return": Command(ReasonArgs, "return", lambda e, a, x: services.event_return(event=e, actor=a, reason=x.reason)),
    "event.handle": Command(HandleArgs, "handle", lambda e, a, x: services.event_handle(
        event=e, actor=a, result_note=x.result_note, photos=Photos(x.before_photos, x.after_photos))),
    "event.request_extension": Command(ExtensionArgs, "request_extension", lambda e, a, x: services.event_request_extension(
        event=e, actor=a, until=x.until, reason=x.reason)),
    "event.approve": Command(StepArgs, "approve", lambda e, a, x: services.event_approve(event=e, actor=a, note=x.note)),
    "event.rework": Command(ReasonArgs, "rework", lambda e, a, x: services.event_rework(event=e, actor=a, reason=x.reason)),
    "event.evaluate": Command(EvaluateArgs, "evaluate", lambda e, a, x: services.event_evaluate(
        event=e, actor=a, satisfaction=x.satisfaction, comment=x.comment)),
    "event.urge": Command(StepArgs, "urge", lambda e, a, x: services.event_urge(event=e, actor=a, note=x.note)),
    "event.escalate": Command(ReasonArgs, "escalate", lambda e, a, x: services.event_escalate(event=e, actor=a, reason=x.reason)),
    "event.comment": Command(CommentArgs, "comment", lambda e, a, x: services.event_comment(
        event=e, actor=a, note=x.note, photos=Photos(x.before_photos, x.after_photos))),
}


def parse(name: str, raw: dict) -> tuple[Command, Schema]:
    command = COMMANDS.get(name)
    if command is None:
        raise ApiError("unknown_mutation", detail={"name": name, "known": sorted(COMMANDS)})
    try:
        return command, command.args.model_validate(raw)
    except ValidationError as error:
        raise ApiError("invalid_arguments", detail=error.errors(include_url=False, include_input=False)) from None


def execute(command: Command, args: Schema, actor: Actor) -> dict:
    """Apply the command; returns the applied result's data. Raises ApiError."""
    if command.step is None:
        event, _ = services.event_report(
            actor=actor, source=args.source, category_code=args.category, description=args.description, lat=args.lat,
            lng=args.lng, crs=args.crs, address_text=args.address_text, grid_id=args.grid_id, event_id=args.id,
            photos=Photos(args.before_photos, args.after_photos), handled_on_spot=args.handled_on_spot,
            result_note=args.result_note,
        )
    else:
        event = access_event(actor.user, args.event_id, lock=True)
        event = command.run(event, actor, args)
    return {"event_id": str(event.pk), "number": event.number, "state": event.state}


def keep_unapplied(command: Command, args: Schema, actor: Actor, error: ApiError) -> dict | None:
    """After a step was refused: keep its notes and photo references on the event (if
    the user can still see it) and describe the event's current state."""
    if command.step is None or not hasattr(args, "event_id"):
        return None
    try:
        event = access_event(actor.user, args.event_id, lock=True)
    except ApiError:
        return None
    note, photos = _note_of(args)
    if note or photos.before or photos.after:
        services.record_unapplied_step(event=event, actor=actor, step=command.step, note=note, photos=photos, reason=error.code)
    from backend.accounts.scope import scope_of
    from backend.events.workflow import allowed_steps

    return {"state": event.state, "allowed_steps": allowed_steps(scope_of(actor.user), event)}
