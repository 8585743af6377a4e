"""Writes for events: one guarded service per step of the closed loop.

Shape of every step (pretix ``approve_order`` style): the route has fetched and
locked the event (``access_event(user, id, lock=True)``); the service checks the
transition table (``check_step``), validates its own input, changes the event,
saves it with ``update_fields`` and appends the hash-chained action row, all in the
caller's transaction.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from backend.accounts.models import Device, Role, RoleAssignment, User
from backend.accounts.scope import Scope, scope_of
from backend.core.bulk import make
from backend.core.errors import ApiError, register
from backend.core.statements import Select
from backend.events.deadlines import compute_deadline
from backend.events.history import build_action
from backend.events.models import Category, Event, EventAction, EventCounter, Level, Satisfaction, Severity, Source, State
from backend.events.workflow import STEPS, Relation, check_step
from backend.territory.coords import to_wgs84
from backend.territory.geometry import grid_index
from backend.territory.models import Community, Department, Grid, Platform
from push.models import Kind
from push.recipients import answerable_at_level, dispatchers_of, holders_of

register("event_not_found", 404, "事件不存在", "Event not found")
register("unknown_category", 422, "事项分类不存在或已停用", "Unknown or inactive category")
register("location_outside_district", 422, "位置不在本区任何网格内", "The location is outside every grid of the district")
register("location_required", 422, "请提供位置或网格", "A location or a grid is required")
register("deadline_in_past", 422, "处置时限不能早于当前时间", "The deadline is in the past")
register("not_on_admission_list", 422, "该事项不在网格事务准入清单内，不能派给网格员", "This category is not on the grid admission list")
register("source_not_allowed", 422, "您的角色不能上报此来源的事件", "Your role cannot report events of this source")
register("photos_missing", 422, "照片数量不足", "Not enough photos for this category")
register("event_id_taken", 409, "该事件标识已被占用", "This event id is already used")
register("invalid_target", 422, "派遣对象无效", "Invalid dispatch target")
register("reason_required", 422, "请填写理由", "A reason is required")
register("invalid_extension", 422, "延期时间必须晚于当前时限", "The extension must end after the current deadline")
register("invalid_merge", 422, "不能合并到该事件", "Cannot merge into that event")

def tell_about(event: Event, kind: str, users, title: str) -> None:
    """Notification rows for the people concerned, in this transaction (push app)."""
    from push.services import notify

    notify(users=users, kind=kind, event=event, title=f"{title} {event.number}",
           body=f"{event.category.name} · {event.grid.name}",
           data={"event_id": str(event.pk), "number": event.number, "state": event.state})


NUMBER_PREFIX = "SC"
NOTE_LIMIT = 2000

# Which sources each role may report; system sources (video, electricity,
# referrals) come in through the command room's or an integration's account.
SOURCES_BY_ROLE = {
    Role.GRID_WORKER: {Source.GRID_PATROL},
    Role.RESIDENT: {Source.PUBLIC_TIP},
    Role.DISPATCHER: {Source.VIDEO_ALERT, Source.POWER_ALERT, Source.DEPARTMENT_REFERRAL},
    Role.COMMANDER: {Source.VIDEO_ALERT, Source.POWER_ALERT, Source.DEPARTMENT_REFERRAL},
    Role.ADMIN: {Source.VIDEO_ALERT, Source.POWER_ALERT, Source.DEPARTMENT_REFERRAL},
}


@dataclass(frozen=True)
class Actor:
    """Who acts, from which device, and what time the device claimed."""

    user: User | None
    device: Device | None = None
    device_at: datetime | None = None

    @property
    def scope(self) -> Scope:
        return scope_of(self.user)


@dataclass
class Photos:
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


def _record(event: Event, *, action: str, actor: Actor, role: str, from_state: str, note: str = "",
            data: dict | None = None, now: datetime | None = None, fields: tuple[str, ...] = ()) -> Event:
    """Save the changed fields and append the action row in one go."""
    now = now or timezone.now()
    row = build_action(
        event, action=action, actor=actor.user, actor_role=role, device=actor.device,
        device_ref=actor.device.device_id if actor.device else "", from_state=from_state, to_state=event.state,
        note=note, data=data or {}, server_at=now, device_at=actor.device_at,
    )
    event.save(update_fields=[*fields, "state", "action_count", "last_action_hash", "updated_at"])
    row.save()
    from push.services import broadcast_event_change

    broadcast_event_change(event)
    return event


def _step(event: Event, name: str, actor: Actor, *, note: str = "", data: dict | None = None,
          fields: tuple[str, ...] = (), changes=None, now: datetime | None = None) -> Event:
    relation: Relation = check_step(name, actor.scope, event)
    from_state = event.state
    step = STEPS[name]
    if step.to_state:
        event.state = step.to_state
    if changes:
        changes(event, relation)
    return _record(event, action=name, actor=actor, role=relation.role, from_state=from_state, note=note,
                   data=data, fields=fields, now=now)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApiError("reason_required")
    return reason


PHOTO_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


def photo_digest(reference: str) -> str | None:
    """The SHA-256 a photo reference names (``<hex>`` or ``sha256:<hex>``), else None."""
    match = PHOTO_DIGEST.match(reference or "")
    return match.group(1).lower() if match else None


def _add_photos(event: Event, photos: Photos) -> None:
    current = {"before": list(event.photos.get("before", [])), "after": list(event.photos.get("after", []))}
    for phase, refs in (("before", photos.before), ("after", photos.after)):
        for ref in refs:
            ref = photo_digest(ref) or ref  # "sha256:<hex>" and "<hex>" name one photo: count it once
            if ref not in current[phase]:
                current[phase].append(ref)
    event.photos = current


def _check_photos(event: Event) -> None:
    category = event.category
    before = len(event.photos.get("before", []))
    after = len(event.photos.get("after", []))
    if before < category.before_photos_required or after < category.after_photos_required:
        raise ApiError("photos_missing", detail={
            "before": {"required": category.before_photos_required, "present": before},
            "after": {"required": category.after_photos_required, "present": after},
        })


def next_event_numbers(year: int, count: int = 1) -> list[str]:
    """SC<year><7 digits>, gap-free per year: the counter row is locked until commit
    (one statement: it makes the year's row or adds to it, and says where it is)."""
    table = connection.ops.quote_name(EventCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (year, last) VALUES (%s, %s) ON CONFLICT (year) "
                       f"DO UPDATE SET last = {table}.last + excluded.last RETURNING last", [year, count])
        last = cursor.fetchone()[0]
    return [f"{NUMBER_PREFIX}{year}{number:07d}" for number in range(last - count + 1, last + 1)]


def next_event_number(year: int) -> str:
    return next_event_numbers(year)[0]


@dataclass
class PreparedReport:
    """A report checked and built, not yet numbered or saved."""

    event: Event
    actor: Actor
    role: str
    note: str
    data: dict


# A report's look-ups, written once (each batch and each REST report makes them).
# The polygon is not read: a report locates itself through the grid index.
REPORTABLE_CATEGORY = Select(Category, where="{0}.code = %s AND {0}.active = %s AND {0}.parent_id IS NOT NULL")
GRID_WITH_COMMUNITY = Select(Grid, Community, joins=["{1}.id = {0}.community_id"], where="{0}.id = %s", defer=["polygon"])


@dataclass
class Lookups:
    """Categories and grids already read: a batch of reports reads each once."""

    categories: dict[str, Category | None] = field(default_factory=dict)
    grids: dict[int, Grid | None] = field(default_factory=dict)
    located: dict[tuple[float, float], int | None] = field(default_factory=dict)
    index: object | None = None

    def _grid_index(self):
        if self.index is None:
            self.index = grid_index()  # checks the shared index version once per batch, not per point
        return self.index

    def prelocate(self, points: list[tuple[float, float, str]]) -> None:
        """Find the grids of a batch's (lat, lng, crs) points in one query; ``locate``
        then answers from here."""
        converted = (to_wgs84(lat=lat, lng=lng, crs=crs) for lat, lng, crs in points)
        wanted = list({(lng, lat) for lat, lng in converted} - self.located.keys())
        self.located.update(zip(wanted, self._grid_index().locate_many(wanted)))

    def locate(self, lng: float, lat: float) -> int | None:
        if (lng, lat) in self.located:
            return self.located[(lng, lat)]
        return self._grid_index().locate(lng, lat)

    def category(self, code: str) -> Category | None:
        if code not in self.categories:
            found = REPORTABLE_CATEGORY.one([code, True])
            self.categories[code] = found and found[0]
        return self.categories[code]

    def grid(self, grid_id: int) -> Grid | None:
        if grid_id not in self.grids:
            found = GRID_WITH_COMMUNITY.one([grid_id])
            self.grids[grid_id] = found and found[0]
        return self.grids[grid_id]


def prepare_report(
    *, actor: Actor, source: str, category_code: str, description: str, lat: float | None = None,
    lng: float | None = None, crs: str = "wgs84", address_text: str = "", grid_id: int | None = None,
    severity: str | None = None, event_id: uuid.UUID | None = None, photos: Photos | None = None,
    handled_on_spot: bool = False, result_note: str = "", lookups: Lookups | None = None, now: datetime | None = None,
) -> PreparedReport:
    """Every check of a report, and the event it makes (no number yet, not saved)."""
    user = actor.user
    scope = actor.scope
    lookups = lookups or Lookups()
    allowed_sources = set().union(*(SOURCES_BY_ROLE.get(role, set()) for role in scope.roles))
    if source not in allowed_sources:
        raise ApiError("source_not_allowed", detail={"allowed": sorted(allowed_sources)})
    category = lookups.category(category_code)
    if category is None:
        raise ApiError("unknown_category", detail={"category": category_code})

    if lat is not None and lng is not None:
        lat, lng = to_wgs84(lat=lat, lng=lng, crs=crs)
    elif lat is not None or lng is not None:
        raise ApiError("validation_error", detail={"location": "lat and lng go together"})
    if grid_id is None:
        if lat is None:
            raise ApiError("location_required")
        grid_id = lookups.locate(lng, lat)
        if grid_id is None:
            raise ApiError("location_outside_district", detail={"lat": lat, "lng": lng})
    grid = lookups.grid(grid_id)
    if grid is None:
        raise ApiError("validation_error", detail={"grid_id": "unknown grid"})

    photos = photos or Photos()
    now = now or timezone.now()
    event = make(
        Event, id=event_id or uuid.uuid4(), number="", source=source,
        category=category, description=description, lat=lat, lng=lng, address_text=address_text, grid=grid,
        community_id=grid.community_id, street_id=grid.community.street_id,
        severity=severity or category.severity, reporter=user, state=State.REPORTED, level=Level.STREET,
        reported_at=now, device_reported_at=actor.device_at,
    )
    _add_photos(event, photos)
    role = next((r for r in (Role.GRID_WORKER, Role.RESIDENT, Role.DISPATCHER, Role.COMMANDER, Role.ADMIN) if r in scope.roles), "")
    if handled_on_spot:
        if Role.GRID_WORKER not in scope.roles or grid.pk not in scope.grid_ids:
            raise ApiError("step_forbidden", detail={"handled_on_spot": "only the grid worker of this grid"})
        if not category.grid_admissible:
            raise ApiError("not_on_admission_list", detail={"category": category.code})
        if not result_note.strip():
            raise ApiError("reason_required", detail={"result_note": "required when handled on the spot"})
        _check_photos(event)
        event.state = State.HANDLED
        event.level = Level.GRID
        event.holder_user = user
        event.signed_by = user
        event.handled_on_spot = True
        event.result_note = result_note
        event.signed_at = event.handled_at = now
    return PreparedReport(
        event=event, actor=actor, role=role, note=result_note if handled_on_spot else "",
        data={"source": source, "category": category.code, "photos": {"before": photos.before, "after": photos.after},
              "handled_on_spot": handled_on_spot},
    )


def event_report(*, actor: Actor, event_id: uuid.UUID | None = None, **fields) -> tuple[Event, bool]:
    """受理入口: a grid worker's patrol report, a resident's tip, or a system alert.
    Returns (event, created); the same client id from the same reporter returns the
    event already made (phones retry). 小事不出网格: a grid worker may report an
    admission-list matter already handled on the spot; it goes straight to approval.
    Fields: those of ``prepare_report``."""
    if event_id is not None:
        existing = Event.objects.filter(pk=event_id).first()
        if existing is not None:
            if existing.reporter_id != actor.user.pk:
                raise ApiError("event_id_taken")
            return existing, False
    prepared = prepare_report(actor=actor, event_id=event_id, **fields)
    event = prepared.event
    with transaction.atomic():
        event.number = next_event_number(timezone.localtime(event.reported_at).year)
        try:
            with transaction.atomic():
                event.save(force_insert=True)
        except IntegrityError:
            raise ApiError("event_id_taken") from None
        _record(event, action="report", actor=actor, role=prepared.role, from_state="", now=event.reported_at,
                note=prepared.note, data=prepared.data)
    return event, True


def event_report_many(reports: list[PreparedReport]) -> list[Event]:
    """Save many prepared reports at once (a phone's batch): numbers in one counter
    update, events, their first history rows and sync log rows in bulk inserts. The
    caller has checked that none of the ids exists. Same rows as ``event_report``."""
    if not reports:
        return []
    from backend.core.bulk import insert_instances, insert_new
    from push.services import broadcast_event_changes
    from sync.changes import track_instances

    actions = []
    for prepared in reports:
        event, actor = prepared.event, prepared.actor
        actions.append(build_action(
            event, action="report", actor=actor.user, actor_role=prepared.role, device=actor.device,
            device_ref=actor.device.device_id if actor.device else "", from_state="", to_state=event.state,
            note=prepared.note, data=prepared.data, server_at=event.reported_at, device_at=actor.device_at,
        ))
        event.updated_at = event.reported_at
    events = [prepared.event for prepared in reports]
    # Everything that needs no number is written first: the year's counter row stays
    # locked until commit, and every report in the district waits for it. (Foreign
    # keys are checked at commit, so the actions may precede their events.)
    insert_new(EventAction, actions)
    track_instances(events, created=True)
    by_year: dict[int, list[PreparedReport]] = {}
    for prepared in reports:
        by_year.setdefault(timezone.localtime(prepared.event.reported_at).year, []).append(prepared)
    for year, group in by_year.items():
        for prepared, number in zip(group, next_event_numbers(year, len(group))):
            prepared.event.number = number
    insert_instances(Event, events)
    broadcast_event_changes(events)
    return events


def event_accept(*, event: Event, actor: Actor, note: str = "") -> Event:
    def change(e: Event, _):
        e.accepted_at = timezone.now()

    return _step(event, "accept", actor, note=note, changes=change, fields=("accepted_at",))


def event_reject(*, event: Event, actor: Actor, reason: str) -> Event:
    return _step(event, "reject", actor, note=_require_reason(reason))


def event_merge(*, event: Event, actor: Actor, into: Event, note: str = "") -> Event:
    if into.pk == event.pk or into.state in (State.MERGED, State.REJECTED):
        raise ApiError("invalid_merge")

    def change(e: Event, _):
        e.merged_into = into

    return _step(event, "merge", actor, note=note, data={"merged_into": into.number}, changes=change, fields=("merged_into",))


@dataclass(frozen=True)
class DispatchTarget:
    platform_id: int | None = None
    department_id: int | None = None
    grid_worker_id: int | None = None


def event_dispatch(*, event: Event, actor: Actor, to: DispatchTarget, deadline_at: datetime | None = None, note: str = "") -> Event:
    """分流交办 to one platform of the event's street, a department, or a grid worker
    of the event's grid (admission-list categories only), with a deadline from the
    category's rule unless one is given."""
    targets = [t for t in (to.platform_id, to.department_id, to.grid_worker_id) if t is not None]
    if len(targets) != 1:
        raise ApiError("invalid_target", detail={"to": "exactly one of platform_id, department_id, grid_worker_id"})
    check_step("dispatch", actor.scope, event)
    now = timezone.now()
    platform = department = worker = None
    if to.platform_id is not None:
        platform = Platform.objects.filter(pk=to.platform_id, street_id=event.street_id).first()
        if platform is None:
            raise ApiError("invalid_target", detail={"platform_id": "not a platform of the event's street"})
    elif to.department_id is not None:
        department = Department.objects.filter(pk=to.department_id).first()
        if department is None:
            raise ApiError("invalid_target", detail={"department_id": "unknown department"})
    else:
        if not event.category.grid_admissible:
            raise ApiError("not_on_admission_list", detail={"category": event.category.code})
        assignment = RoleAssignment.objects.filter(user_id=to.grid_worker_id, role=Role.GRID_WORKER, grid_id=event.grid_id).select_related("user").first()
        if assignment is None:
            raise ApiError("invalid_target", detail={"grid_worker_id": "not a grid worker of the event's grid"})
        worker = assignment.user
    if deadline_at is None:
        deadline_at = compute_deadline(now, unit=event.category.deadline_unit, amount=event.category.deadline_amount)
    elif deadline_at <= now:
        raise ApiError("deadline_in_past")

    def change(e: Event, _):
        e.holder_platform, e.holder_department, e.holder_user = platform, department, worker
        e.deadline_at = deadline_at
        e.dispatched_at = now
        e.overdue = False
        e.overdue_at = None
        e.signed_by = None
        if worker is not None:
            e.level = Level.GRID

    target = {"platform": platform and str(platform), "department": department and department.name,
              "grid_worker": worker and worker.username}
    event = _step(event, "dispatch", actor, note=note, now=now, changes=change,
                  data={"to": {k: v for k, v in target.items() if v}, "deadline_at": deadline_at.isoformat()},
                  fields=("holder_platform", "holder_department", "holder_user", "deadline_at", "dispatched_at",
                          "overdue", "overdue_at", "signed_by", "level"))
    tell_about(event, Kind.ASSIGNMENT, holders_of(event), "新任务")
    return event


def event_sign(*, event: Event, actor: Actor, note: str = "") -> Event:
    def change(e: Event, _):
        e.signed_by = actor.user
        e.signed_at = timezone.now()

    return _step(event, "sign", actor, note=note, changes=change, fields=("signed_by", "signed_at"))


def _release_holder(e: Event) -> dict:
    previous = {"platform_id": e.holder_platform_id, "department_id": e.holder_department_id, "user_id": e.holder_user_id}
    e.holder_platform = e.holder_department = e.holder_user = None
    e.signed_by = None
    e.deadline_at = None
    e.overdue = False
    e.overdue_at = None
    return previous


HOLDER_FIELDS = ("holder_platform", "holder_department", "holder_user", "signed_by", "deadline_at", "overdue", "overdue_at")


def event_return(*, event: Event, actor: Actor, reason: str) -> Event:
    """退回: not ours; back to the dispatcher with a reason."""
    reason = _require_reason(reason)
    previous: dict = {}

    def change(e: Event, _):
        previous.update(_release_holder(e))
        e.return_count += 1
        if e.level == Level.GRID:
            e.level = Level.STREET

    event = _step(event, "return", actor, note=reason, changes=change, data={"returned_by_holder": previous},
                  fields=(*HOLDER_FIELDS, "return_count", "level"))
    tell_about(event, Kind.RETURN, answerable_at_level(event), "事件被退回")
    return event


def event_handle(*, event: Event, actor: Actor, result_note: str, photos: Photos | None = None) -> Event:
    if not (result_note or "").strip():
        raise ApiError("reason_required", detail={"result_note": "required"})
    photos = photos or Photos()
    check_step("handle", actor.scope, event)
    _add_photos(event, photos)
    _check_photos(event)

    def change(e: Event, _):
        e.result_note = result_note
        e.handled_at = timezone.now()

    return _step(event, "handle", actor, note=result_note, changes=change,
                 data={"photos": {"before": photos.before, "after": photos.after}},
                 fields=("result_note", "handled_at", "photos"))


def event_request_extension(*, event: Event, actor: Actor, until: datetime, reason: str) -> Event:
    reason = _require_reason(reason)
    if until <= timezone.now() or (event.deadline_at and until <= event.deadline_at):
        raise ApiError("invalid_extension")

    def change(e: Event, _):
        e.extension_requested_until = until

    return _step(event, "request_extension", actor, note=reason, data={"until": until.isoformat()}, changes=change,
                 fields=("extension_requested_until",))


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

    return _step(event, "approve_extension" if approve else "refuse_extension", actor, note=note, changes=change,
                 data={"until": requested.isoformat() if requested else None},
                 fields=("deadline_at", "extension_count", "overdue", "overdue_at", "extension_requested_until"))


def event_request_park(*, event: Event, actor: Actor, reason: str) -> Event:
    reason = _require_reason(reason)

    def change(e: Event, _):
        e.park_requested = True

    return _step(event, "request_park", actor, note=reason, changes=change, fields=("park_requested",))


def event_decide_park(*, event: Event, actor: Actor, approve: bool, note: str = "") -> Event:
    def change(e: Event, _):
        e.park_requested = False
        if approve:
            _release_holder(e)

    return _step(event, "approve_park" if approve else "refuse_park", actor, note=note, changes=change,
                 fields=("park_requested", *HOLDER_FIELDS))


def event_unpark(*, event: Event, actor: Actor, note: str = "") -> Event:
    return _step(event, "unpark", actor, note=note)


def event_approve(*, event: Event, actor: Actor, note: str = "") -> Event:
    """结案: the secretary of the event's community (the district for district-level
    events) compares before and after and closes it."""
    check_step("approve", actor.scope, event)
    _check_photos(event)

    def change(e: Event, _):
        e.closed_at = timezone.now()
        e.overdue = False

    event = _step(event, "approve", actor, note=note, changes=change, fields=("closed_at", "overdue"))
    tell_about(event, Kind.CLOSURE_APPROVED, holders_of(event) | {event.reporter_id}, "已结案")
    return event


def event_rework(*, event: Event, actor: Actor, reason: str) -> Event:
    reason = _require_reason(reason)

    def change(e: Event, _):
        e.rework_count += 1
        e.handled_at = None

    event = _step(event, "rework", actor, note=reason, changes=change, fields=("rework_count", "handled_at"))
    tell_about(event, Kind.REWORK, holders_of(event), "结案退回返工")
    return event


def event_evaluate(*, event: Event, actor: Actor, satisfaction: str, comment: str = "") -> Event:
    Satisfaction(satisfaction)

    def change(e: Event, _):
        e.satisfaction = satisfaction
        e.evaluation_comment = comment
        e.evaluated_at = timezone.now()

    event = _step(event, "evaluate", actor, note=comment, data={"satisfaction": satisfaction}, changes=change,
                  fields=("satisfaction", "evaluation_comment", "evaluated_at"))
    tell_about(event, Kind.EVALUATION, dispatchers_of(event), "群众评价" if satisfaction != Satisfaction.UNSATISFIED else "群众不满意")
    return event


def event_reopen(*, event: Event, actor: Actor, note: str = "") -> Event:
    def change(e: Event, _):
        _release_holder(e)
        e.reopen_count += 1
        e.closed_at = None
        e.satisfaction = ""

    return _step(event, "reopen", actor, note=note, changes=change,
                 fields=(*HOLDER_FIELDS, "reopen_count", "closed_at", "satisfaction"))


def event_urge(*, event: Event, actor: Actor, note: str = "") -> Event:
    def change(e: Event, _):
        e.urge_count += 1

    event = _step(event, "urge", actor, note=note, changes=change, fields=("urge_count",))
    tell_about(event, Kind.URGE, holders_of(event), "催办")
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

    event = _step(event, "escalate", actor, note=reason, changes=change,
                  data={"from_level": from_level, "to_level": min(from_level + 1, Level.DISTRICT)},
                  fields=("level", "last_escalated_at", *HOLDER_FIELDS))
    tell_about(event, Kind.ESCALATION, answerable_at_level(event), "事件升级")
    return event


def event_comment(*, event: Event, actor: Actor, note: str, photos: Photos | None = None, data: dict | None = None) -> Event:
    """A note (and photo references) added without changing state: also where the
    notes of an offline step that could no longer apply are kept."""
    photos = photos or Photos()
    _add_photos(event, photos)
    return _step(event, "comment", actor, note=note, fields=("photos",),
                 data={**(data or {}), "photos": {"before": photos.before, "after": photos.after}})


# Fields a person may correct after the report; a phone's offline edits to them merge
# field by field (sync: ``event.update_fields``).
EDITABLE_FIELDS = {
    "description": lambda value: isinstance(value, str) and 0 < len(value.strip()) <= NOTE_LIMIT,
    "address_text": lambda value: isinstance(value, str) and len(value) <= 200,
    "severity": lambda value: value in Severity.values,
}

register("field_not_editable", 422, "该字段不可修改或取值无效", "The field cannot be edited or the value is invalid")


def check_editable(fields: dict) -> None:
    bad = {name: value for name, value in fields.items() if name not in EDITABLE_FIELDS or not EDITABLE_FIELDS[name](value)}
    if bad or not fields:
        raise ApiError("field_not_editable", detail={"fields": sorted(bad) or "none given", "editable": sorted(EDITABLE_FIELDS)})


def event_edit(*, event: Event, actor: Actor, fields: dict, note: str = "", data: dict | None = None,
               check: bool = True) -> Event:
    """修改: set editable fields. The action row keeps each field's old and new value,
    which is what later merges compare against (``check=False``: the caller, e.g. a
    conflict's resolver, has authorized already)."""
    check_editable(fields)
    relation = check_step("edit", actor.scope, event) if check else None
    changed = {name: [getattr(event, name), value] for name, value in fields.items() if getattr(event, name) != value}
    if not changed:
        return event
    for name, (_, value) in changed.items():
        setattr(event, name, value)
    role = relation.role if relation else next(iter(sorted(actor.scope.roles)), "")
    return _record(event, action="edit", actor=actor, role=role, from_state=event.state, note=note,
                   data={**(data or {}), "fields": changed}, fields=tuple(changed))


def record_unapplied_step(*, event: Event, actor: Actor, step: str, note: str, photos: Photos, reason: str) -> Event:
    """A step recorded on a phone offline that could no longer apply when it arrived:
    its notes and photo references are kept on the event as a comment row (sync.md §3),
    without counting as evidence of a step that did not happen."""
    role = next(iter(sorted(actor.scope.roles)), "")
    return _record(event, action="comment", actor=actor, role=role, from_state=event.state, note=note,
                   data={"unapplied_step": step, "reason": reason, "photos": {"before": photos.before, "after": photos.after}})


def record_photo(*, event: Event, actor: Actor, phase: str, digest: str, data: dict) -> Event:
    """Custody of a photo: who uploaded it, from which device, when, its digest, as a
    row of the event's hash chain; before/after photos count toward closure."""
    if phase in ("before", "after"):
        _add_photos(event, Photos(**{phase: [digest]}))
    role = next(iter(sorted(actor.scope.roles)), "")
    return _record(event, action="photo", actor=actor, role=role, from_state=event.state, note=f"{phase} photo",
                   data={"sha256": digest, "phase": phase, **data}, fields=("photos",))


def system_record(event: Event, *, action: str, now: datetime, note: str, data: dict | None = None,
                  fields: tuple[str, ...] = (), from_state: str | None = None) -> Event:
    """An action taken by the supervision job, not by a person."""
    return _record(event, action=action, actor=Actor(user=None), role="system",
                   from_state=event.state if from_state is None else from_state, note=note, data=data, now=now, fields=fields)


def grace_period() -> timedelta:
    return timedelta(hours=settings.SUPERVISION["GRACE_HOURS"])
