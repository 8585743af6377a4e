"""The steps of the closed loop after the report: one guarded service each (pretix
``approve_order`` shape: check the transition table, validate, change, save with
``update_fields``, append the history row)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from backend.accounts.actor import Actor
from backend.accounts.models import Role, RoleAssignment
from backend.administration.duty import duty_lines_sql, lines_of
from backend.administration.models import DutyAssignment
from backend.core.errors import ApiError, register
from backend.core.times import wire_time
from backend.events.deadlines import compute_deadline
from backend.events.models import (
    Event,
    Level,
    Satisfaction,
    Severity,
    State,
)
from backend.events.services.photos import Photos, _add_photos, photos_resolve, require_evidence
from backend.events.services.recording import NOTE_LIMIT, _record, _require_reason, _step, tell_about
from backend.events.workflow import Relation, check_step
from backend.fastpath.statements import Select
from backend.territory.models import Department, Platform, StationedUnit, Street
from push.models import NotificationKind
from push.recipients import answerable_at_level, dispatchers_of, handlers_sql, holders_of

UNSURE_CATEGORY = "00.00"  # a resident's "not sure" (backend.tips): the dispatcher classifies it on accepting

register("category_required", 422, "请先为该爆料选择事项分类", "Choose the tip's category to accept it")


def event_accept(*, event: Event, actor: Actor, note: str = "", category: str | None = None) -> Event:
    """受理, optionally classifying the event (a resident who was not sure of the category
    must be classified here: ``category_required`` otherwise)."""
    chosen = None
    if category:
        from backend.events.services.reporting import REPORTABLE_CATEGORY

        found = REPORTABLE_CATEGORY.one([category, True])
        if found is None or found[0].code == UNSURE_CATEGORY:
            raise ApiError("unknown_category", detail={"category": category})
        chosen = found[0]
    elif event.category.code == UNSURE_CATEGORY:
        raise ApiError("category_required", detail={"category": "required for a tip whose category was not given"})
    previous = event.category.code

    def change(e: Event, _):
        e.accepted_at = timezone.now()
        if chosen is not None:
            e.category = chosen
            e.severity = chosen.severity

    return _step(
        event,
        "accept",
        actor,
        note=note,
        changes=change,
        data={"category": [previous, chosen.code]} if chosen is not None and chosen.code != previous else None,
        fields=("accepted_at", "category", "severity") if chosen is not None else ("accepted_at",),
    )


def event_reject(*, event: Event, actor: Actor, reason: str) -> Event:
    return _step(event, "reject", actor, note=_require_reason(reason))


def event_merge(*, event: Event, actor: Actor, into: Event, note: str = "") -> Event:
    if into.pk == event.pk or into.state in (State.MERGED, State.REJECTED):
        raise ApiError("invalid_merge")

    def change(e: Event, _):
        e.merged_into = into

    return _step(
        event, "merge", actor, note=note, data={"merged_into": into.number}, changes=change, fields=("merged_into",)
    )


# A dispatch's target platform with its street (its name goes into the history), read by a
# statement written once (``fastpath.statements.Select``; tests/test_duty_dispatch.py),
# with what the dispatch then asks (issue 24: fewer round trips a step): the duty list's
# lines for the event's category in that street (``duty.duty_lines_sql``) and the
# platform's handlers it tells (``push.recipients.handlers_sql``). Parameters: the
# category, the platform, the street.
PLATFORM_OF_STREET = Select(
    Platform,
    Street,
    joins=["{1}.id = {0}.street_id"],
    where="{0}.id = %s AND {0}.street_id = %s",
    extra=[
        "(" + duty_lines_sql("%s", "{0}.street_id", select="{json_agg}({json_array}({values}))") + ")",
        "(SELECT {json_agg}(h.user_id) FROM (" + handlers_sql("platform_id", "{0}.id") + ") h)",
    ],
    extra_models={"DutyAssignment": DutyAssignment, "RoleAssignment": RoleAssignment},
)


def target_platform(platform_id: int, event: Event) -> Platform | None:
    """The platform of the event's street ``platform_id`` names, with its street, the
    category's duty lines in that street (``_duty_lines``, for ``duty.duty_for``) and
    its handlers (``_handlers``, for ``push.recipients.holders_of``), or None."""
    found = PLATFORM_OF_STREET.one([event.category_id, platform_id, event.street_id])
    if found is None:
        return None
    platform, _, lines, handlers = found
    platform._duty_lines = ((event.category_id, event.street_id), lines_of(lines or ()))
    platform._handlers = set(handlers or ())
    return platform


@dataclass(frozen=True)
class DispatchTarget:
    platform_id: int | None = None
    department_id: int | None = None
    grid_worker_id: int | None = None
    unit_id: int | None = None


def event_dispatch(
    *,
    event: Event,
    actor: Actor,
    to: DispatchTarget,
    deadline_at: datetime | None = None,
    note: str = "",
    reason: str = "",
) -> Event:
    """分流交办 to one platform of the event's street, a department, a unit stationed at
    the event's street (下沉单位), or a grid worker
    of the event's grid (admission-list categories only), with a deadline from the
    category's rule unless one is given. A target other than the duty list's needs a
    ``reason`` (``backend.administration.duty``), kept in the history; a stationed unit
    stands for its department there."""
    from backend.administration.duty import check_dispatch

    targets = [t for t in (to.platform_id, to.department_id, to.grid_worker_id, to.unit_id) if t is not None]
    if len(targets) != 1:
        raise ApiError(
            "invalid_target", detail={"to": "exactly one of platform_id, department_id, unit_id, grid_worker_id"}
        )
    check_step("dispatch", actor.scope, event)
    now = timezone.now()
    platform = department = worker = unit = None
    if to.platform_id is not None:
        platform = target_platform(to.platform_id, event)
        if platform is None:
            raise ApiError("invalid_target", detail={"platform_id": "not a platform of the event's street"})
    elif to.department_id is not None:
        department = Department.objects.filter(pk=to.department_id).first()
        if department is None:
            raise ApiError("invalid_target", detail={"department_id": "unknown department"})
    elif to.unit_id is not None:
        unit = StationedUnit.objects.filter(pk=to.unit_id, street_id=event.street_id, active=True).first()
        if unit is None:
            raise ApiError("invalid_target", detail={"unit_id": "not an active unit stationed at the event's street"})
    else:
        if not event.category.grid_admissible:
            raise ApiError("not_on_admission_list", detail={"category": event.category.code})
        assignment = (
            RoleAssignment.objects.filter(user_id=to.grid_worker_id, role=Role.GRID_WORKER, grid_id=event.grid_id)
            .select_related("user")
            .first()
        )
        if assignment is None:
            raise ApiError("invalid_target", detail={"grid_worker_id": "not a grid worker of the event's grid"})
        worker = assignment.user
    duty_entry = check_dispatch(
        event,
        platform_id=platform and platform.pk,
        department_id=(department and department.pk) or (unit and unit.department_id),
        grid_worker_id=worker and worker.pk,
        reason=reason,
        platform=platform,
    )
    if deadline_at is None:
        deadline_at = compute_deadline(now, unit=event.category.deadline_unit, amount=event.category.deadline_amount)
    elif deadline_at <= now:
        raise ApiError("deadline_in_past")

    def change(e: Event, _):
        e.holder_platform, e.holder_department, e.holder_user = platform, department, worker
        e.holder_unit = unit
        e.deadline_at = deadline_at
        e.dispatched_at = now
        e.overdue = False
        e.overdue_at = None
        e.signed_by = None
        if worker is not None:
            e.level = Level.GRID

    target = {
        "platform": platform and str(platform),
        "department": department and department.name,
        "unit": unit and unit.name,
        "grid_worker": worker and worker.username,
    }
    event = _step(
        event,
        "dispatch",
        actor,
        note=note,
        now=now,
        changes=change,
        data={"to": {k: v for k, v in target.items() if v}, "deadline_at": wire_time(deadline_at), **duty_entry},
        fields=(
            "holder_platform",
            "holder_department",
            "holder_unit",
            "holder_user",
            "deadline_at",
            "dispatched_at",
            "overdue",
            "overdue_at",
            "signed_by",
            "level",
        ),
    )
    tell_about(event, NotificationKind.ASSIGNMENT, holders_of(event), "新任务")
    return event


def event_sign(*, event: Event, actor: Actor, note: str = "") -> Event:
    def change(e: Event, _):
        e.signed_by = actor.user
        e.signed_at = timezone.now()

    return _step(event, "sign", actor, note=note, changes=change, fields=("signed_by", "signed_at"))


def _release_holder(e: Event) -> dict:
    previous = {
        "platform_id": e.holder_platform_id,
        "department_id": e.holder_department_id,
        "unit_id": e.holder_unit_id,
        "user_id": e.holder_user_id,
    }
    e.holder_platform = e.holder_department = e.holder_unit = e.holder_user = None
    e.signed_by = None
    e.deadline_at = None
    e.overdue = False
    e.overdue_at = None
    return previous


HOLDER_FIELDS = (
    "holder_platform",
    "holder_department",
    "holder_unit",
    "holder_user",
    "signed_by",
    "deadline_at",
    "overdue",
    "overdue_at",
)


def event_return(*, event: Event, actor: Actor, reason: str) -> Event:
    """退回: not ours; back to the dispatcher with a reason."""
    reason = _require_reason(reason)
    previous: dict = {}

    def change(e: Event, _):
        previous.update(_release_holder(e))
        e.return_count += 1
        if e.level == Level.GRID:
            e.level = Level.STREET

    event = _step(
        event,
        "return",
        actor,
        note=reason,
        changes=change,
        data={"returned_by_holder": previous},
        fields=(*HOLDER_FIELDS, "return_count", "level"),
    )
    tell_about(event, NotificationKind.RETURN, answerable_at_level(event), "事件被退回")
    return event


def event_handle(*, event: Event, actor: Actor, result_note: str, photos: Photos | None = None) -> Event:
    if not (result_note or "").strip():
        raise ApiError("reason_required", detail={"result_note": "required"})
    photos = photos_resolve(photos=photos or Photos(), user=actor.user)
    check_step("handle", actor.scope, event)
    _add_photos(event, photos)
    # Photos claimed here but not arrived yet: handled, waiting for them (待补证据).
    complete = require_evidence(event, claimer=actor.user, wait=True)

    def change(e: Event, _):
        e.result_note = result_note
        e.handled_at = timezone.now()
        if not complete:
            e.state = State.AWAITING_EVIDENCE

    event = _step(
        event,
        "handle",
        actor,
        note=result_note,
        changes=change,
        data={"photos": {"before": photos.before, "after": photos.after}},
        fields=("result_note", "handled_at", "photos"),
    )
    _claim_photos(event, actor, photos)
    return event


def _claim_photos(event: Event, actor: Actor, photos: Photos) -> None:
    """The step's photo references: attached when arrived, expected otherwise."""
    if photos.before or photos.after:
        from media.services import photos_expect

        photos_expect(event=event, user=actor.user, references={"before": photos.before, "after": photos.after})


def event_request_extension(*, event: Event, actor: Actor, until: datetime, reason: str) -> Event:
    reason = _require_reason(reason)
    if until <= timezone.now() or (event.deadline_at and until <= event.deadline_at):
        raise ApiError("invalid_extension")

    def change(e: Event, _):
        e.extension_requested_until = until

    return _step(
        event,
        "extension",
        actor,
        note=reason,
        data={"until": wire_time(until)},
        changes=change,
        fields=("extension_requested_until",),
    )


def event_decide_extension(*, event: Event, actor: Actor, approve: bool, note: str = "") -> Event:
    requested = event.extension_requested_until

    def change(e: Event, _):
        if approve:
            e.deadline_at = requested
            e.extension_count += 1
            if requested > timezone.now():
                e.overdue = False
                e.overdue_at = None
        e.extension_requested_until = None

    return _step(
        event,
        "extension/approve" if approve else "extension/refuse",
        actor,
        note=note,
        changes=change,
        data={"until": wire_time(requested) if requested else None},
        fields=("deadline_at", "extension_count", "overdue", "overdue_at", "extension_requested_until"),
    )


def event_request_park(*, event: Event, actor: Actor, reason: str) -> Event:
    reason = _require_reason(reason)

    def change(e: Event, _):
        e.park_requested = True

    return _step(event, "park", actor, note=reason, changes=change, fields=("park_requested",))


def event_decide_park(*, event: Event, actor: Actor, approve: bool, note: str = "") -> Event:
    def change(e: Event, _):
        e.park_requested = False
        if approve:
            _release_holder(e)

    return _step(
        event,
        "park/approve" if approve else "park/refuse",
        actor,
        note=note,
        changes=change,
        fields=("park_requested", *HOLDER_FIELDS),
    )


def event_unpark(*, event: Event, actor: Actor, note: str = "") -> Event:
    return _step(event, "unpark", actor, note=note)


def event_approve(*, event: Event, actor: Actor, note: str = "") -> Event:
    """结案: the secretary of the event's community (the district for district-level
    events) compares before and after and closes it."""
    check_step("approve", actor.scope, event)
    require_evidence(event)  # arrived photos only: a claim is not evidence

    def change(e: Event, _):
        e.closed_at = timezone.now()
        e.overdue = False

    event = _step(event, "approve", actor, note=note, changes=change, fields=("closed_at", "overdue"))
    tell_about(event, NotificationKind.CLOSURE_APPROVED, holders_of(event) | {event.reporter_id}, "已结案")
    return event


def event_rework(*, event: Event, actor: Actor, reason: str) -> Event:
    reason = _require_reason(reason)

    def change(e: Event, _):
        e.rework_count += 1
        e.handled_at = None

    event = _step(event, "rework", actor, note=reason, changes=change, fields=("rework_count", "handled_at"))
    tell_about(event, NotificationKind.REWORK, holders_of(event), "结案退回返工")
    return event


def event_evaluate(*, event: Event, actor: Actor, satisfaction: str, comment: str = "") -> Event:
    Satisfaction(satisfaction)

    def change(e: Event, _):
        e.satisfaction = satisfaction
        e.evaluation_comment = comment
        e.evaluated_at = timezone.now()

    event = _step(
        event,
        "evaluate",
        actor,
        note=comment,
        data={"satisfaction": satisfaction},
        changes=change,
        fields=("satisfaction", "evaluation_comment", "evaluated_at"),
    )
    tell_about(
        event,
        NotificationKind.EVALUATION,
        dispatchers_of(event),
        "群众评价" if satisfaction != Satisfaction.UNSATISFIED else "群众不满意",
    )
    return event


def event_reopen(*, event: Event, actor: Actor, note: str = "") -> Event:
    def change(e: Event, _):
        _release_holder(e)
        e.reopen_count += 1
        e.closed_at = None
        e.satisfaction = ""

    return _step(
        event,
        "reopen",
        actor,
        note=note,
        changes=change,
        fields=(*HOLDER_FIELDS, "reopen_count", "closed_at", "satisfaction"),
    )


def event_urge(*, event: Event, actor: Actor, note: str = "") -> Event:
    def change(e: Event, _):
        e.urge_count += 1

    event = _step(event, "urge", actor, note=note, changes=change, fields=("urge_count",))
    tell_about(event, NotificationKind.URGE, holders_of(event), "催办")
    return event


def event_escalate(*, event: Event, actor: Actor, reason: str) -> Event:
    """报上一级: the event's level rises by one. A holder who escalates hands the event
    back (returned) for the level above to re-dispatch."""
    reason = _require_reason(reason)
    from_level = event.level

    def change(e: Event, relation: Relation):
        e.level = min(e.level + 1, Level.DISTRICT)
        e.last_escalated_at = timezone.now()
        if relation.name in ("holder", "grid_worker") and e.state in (State.DISPATCHED, State.IN_PROGRESS):
            _release_holder(e)
            e.state = State.RETURNED

    event = _step(
        event,
        "escalate",
        actor,
        note=reason,
        changes=change,
        data={"from_level": from_level, "to_level": min(from_level + 1, Level.DISTRICT)},
        fields=("level", "last_escalated_at", *HOLDER_FIELDS),
    )
    tell_about(event, NotificationKind.ESCALATION, answerable_at_level(event), "事件升级")
    return event


def event_comment(
    *, event: Event, actor: Actor, note: str, photos: Photos | None = None, data: dict | None = None
) -> Event:
    """A note (and photo references) added without changing state: also where the
    notes of an offline step that could no longer apply are kept."""
    photos = photos_resolve(photos=photos or Photos(), user=actor.user)
    _add_photos(event, photos)
    event = _step(
        event,
        "comment",
        actor,
        note=note,
        fields=("photos",),
        data={**(data or {}), "photos": {"before": photos.before, "after": photos.after}},
    )
    _claim_photos(event, actor, photos)
    return event


# Fields a person may correct after the report; a phone's offline edits to them merge
# field by field (sync: ``event.edit``).
EDITABLE_FIELDS = {
    "description": lambda value: isinstance(value, str) and 0 < len(value.strip()) <= NOTE_LIMIT,
    "address_text": lambda value: isinstance(value, str) and len(value) <= 200,
    "severity": lambda value: value in Severity.values,
}

register("field_not_editable", 422, "该字段不可修改或取值无效", "The field cannot be edited or the value is invalid")


def check_editable(fields: dict) -> None:
    bad = {
        name: value for name, value in fields.items() if name not in EDITABLE_FIELDS or not EDITABLE_FIELDS[name](value)
    }
    if bad or not fields:
        raise ApiError(
            "field_not_editable", detail={"fields": sorted(bad) or "none given", "editable": sorted(EDITABLE_FIELDS)}
        )


def event_edit(
    *,
    event: Event,
    actor: Actor,
    fields: dict,
    note: str = "",
    data: dict | None = None,
    check: bool = True,
    record_unchanged: bool = False,
) -> Event:
    """修改: set editable fields. The action row keeps each field's old and new value,
    which is what later merges compare against (``check=False``: the caller, e.g. a
    conflict's resolver, has authorized already). An edit that changes nothing writes
    nothing, unless ``record_unchanged``: a decision (a conflict kept at the server's
    value) is history too; its row then lists no field, so no later merge sees a change."""
    check_editable(fields)
    relation = check_step("edit", actor.scope, event) if check else None
    changed = {name: [getattr(event, name), value] for name, value in fields.items() if getattr(event, name) != value}
    if not changed and not record_unchanged:
        return event
    for name, (_, value) in changed.items():
        setattr(event, name, value)
    role = relation.role if relation else next(iter(sorted(actor.scope.roles)), "")
    return _record(
        event,
        action="edit",
        actor=actor,
        role=role,
        from_state=event.state,
        note=note,
        data={**(data or {}), "fields": changed},
        fields=tuple(changed),
    )


def record_unapplied_step(*, event: Event, actor: Actor, step: str, note: str, photos: Photos, reason: str) -> Event:
    """A step recorded on a phone offline that could no longer apply when it arrived:
    its notes and photo references are kept on the event as a comment row (sync.md §3),
    without counting as evidence of a step that did not happen.

    Only for whoever may comment on the event (the ``comment`` step of the transition
    table, as ``POST /events/{id}/comment``): a refused step must not write where its
    author could not write directly. Otherwise ``step_forbidden``, and the caller keeps
    the payload in the device's ledger instead."""
    relation = check_step("comment", actor.scope, event)
    return _record(
        event,
        action="comment",
        actor=actor,
        role=relation.role,
        from_state=event.state,
        note=note,
        data={"unapplied_step": step, "reason": reason, "photos": {"before": photos.before, "after": photos.after}},
    )
