"""Mutations are commands, not row overwrites: each names a step of the closed loop
and runs through the same registry and code as the HTTP API
(``backend/events/commands.py``), against the state the server has now (sync.md §3)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from backend.core.errors import ApiError, register
from backend.core.limits import Instant, RowId
from backend.events import commands as events_commands
from backend.events import services
from backend.events.models import Event
from backend.events.selectors import access_event
from backend.events.services import Actor, Photos
from backend.patrols.services import MAX_PARTS, MAX_POINTS_PER_PART, patrol_log, visit_record
from sync.changes import changes_collected
from sync.conflicts import event_update_fields

register("unknown_mutation", 422, "未知的同步命令", "Unknown mutation name")
register("invalid_arguments", 422, "同步命令参数有误", "The mutation's arguments are invalid")

NOTE = Field("", max_length=2000)


class Args(BaseModel):
    """A mutation's arguments (plain pydantic: ninja's ``Schema`` adds a Django-object
    validator that costs a fifth of a report's checks)."""


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
    args: type[BaseModel]
    step: str | None  # the workflow step, for keeping an unapplied step's notes
    run: Callable[[Any, Actor, Context], Outcome] | None  # None: reports, applied in runs (services._apply_reports)


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


def _on_event(command: events_commands.Command) -> Callable[[Any, Actor, Context], Outcome]:
    """A step of the registry on an existing event: the same ``command_run`` as its REST route."""

    def run(args, actor: Actor, context: Context) -> Outcome:
        return "applied", event_data(
            events_commands.command_run(command, actor=actor, event_id=args.event_id, body=args)
        )

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


def _edit(args: UpdateFieldsArgs, actor: Actor, context: Context) -> Outcome:
    """A phone's edit merges field by field against the version it was made on."""
    with changes_collected():
        event = access_event(actor.user, args.event_id, lock=True)
        merged = event_update_fields(
            event=event,
            actor=actor,
            fields=args.fields,
            base_version=context.base_version,
            mutation_id=context.mutation_id,
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


def _commands() -> tuple[dict[str, Command], dict[str, str]]:
    """The mutations: ``event.<name>`` for every command of the event registry (its
    arguments are the REST body's fields and ``event_id``), the report and the edit in
    their phone shapes, and the patrol records; and the earlier names still accepted."""
    commands = {
        f"event.{command.name}": Command(command.args, command.name, _on_event(command))
        for command in events_commands.COMMANDS.values()
    }
    aliases = {
        f"event.{alias}": f"event.{command.name}"
        for command in events_commands.COMMANDS.values()
        for alias in command.aliases
    }
    commands[REPORT] = Command(ReportArgs, None, None)
    commands["event.edit"] = Command(UpdateFieldsArgs, "edit", _edit)
    commands["patrol.log"] = Command(PatrolArgs, None, _patrol)
    commands["visit.record"] = Command(VisitArgs, None, _visit)
    return commands, aliases


REPORT = f"event.{events_commands.REPORT}"
COMMANDS, ALIASES = _commands()


def parse(name: str, raw: dict) -> tuple[Command, Args]:
    command = COMMANDS.get(ALIASES.get(name, name))
    if command is None:
        raise ApiError("unknown_mutation", detail={"name": name, "known": sorted(COMMANDS)})
    try:
        return command, command.args.model_validate(raw)
    except ValidationError as error:
        fields = [{"loc": list(e["loc"]), "type": e["type"], "msg": e["msg"]} for e in error.errors(include_url=False)]
        raise ApiError("invalid_arguments", detail=fields) from None


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
