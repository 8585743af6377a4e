"""One definition of who may see and act (backend/events/access.py), held against every
place that reads it: the detail look-up, the role queues, the sync buckets and the
pull's row test, the step checks and the conflict list, for every demo persona over a
varied history made through the services (district-level closures, merged, parked,
escalated, overdue events…) on top of a seeded year."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from backend.accounts.actor import Actor
from backend.accounts.models import Role, RoleAssignment, User
from backend.accounts.scope import scope_of
from backend.core.errors import ApiError
from backend.events import access
from backend.events.demo import seed_events
from backend.events.models import Category, Event, Level, Satisfaction, Source, State
from backend.events.selectors import access_event, event_queue, events_visible_to
from backend.events.services import (
    DispatchTarget,
    Photos,
    event_accept,
    event_approve,
    event_comment,
    event_decide_extension,
    event_decide_park,
    event_dispatch,
    event_escalate,
    event_evaluate,
    event_handle,
    event_merge,
    event_reject,
    event_reopen,
    event_report,
    event_request_extension,
    event_request_park,
    event_return,
    event_rework,
    event_sign,
    event_unpark,
    event_urge,
)
from backend.events.supervision import supervision_tick
from backend.events.workflow import RELATIONS, STEPS, allowed_steps, as_q, check_step
from backend.fastpath.rows import read_rows
from backend.territory.models import Department, Grid, Platform, PlatformKind, StationedUnit
from conftest import PERSONAS as DEMO_PERSONAS
from sync.conflicts import RESOLVERS, q_conflicts
from sync.entities import KINDS, _event_buckets, buckets_for, q_sync_events, sync_event_visible
from sync.models import Change, Conflict
from tests.events_helpers import GRID_A, GRID_B

# The demo personas and the handlers of the demo's stationed unit (下沉) and department.
PERSONAS = (*DEMO_PERSONAS, "demo_unit_handler", "demo_department_handler")
OTHER_COMMUNITY = "330102001002001"  # same street as grid A, another community
OTHER_STREET = "330102006009004"


def _digest() -> str:
    return "sha256:" + uuid.uuid4().hex * 2


def _photos_after() -> Photos:
    return Photos(after=[_digest()])


SERVICES = {
    "accept": lambda e, a, _: event_accept(event=e, actor=a),
    "reject": lambda e, a, _: event_reject(event=e, actor=a, reason="不属实"),
    "merge": lambda e, a, into: event_merge(event=e, actor=a, into=into),
    "dispatch": lambda e, a, to: event_dispatch(event=e, actor=a, to=to),
    "sign": lambda e, a, _: event_sign(event=e, actor=a),
    "return": lambda e, a, _: event_return(event=e, actor=a, reason="非本单位职责"),
    "handle": lambda e, a, _: event_handle(event=e, actor=a, result_note="已处置", photos=_photos_after()),
    "extension": lambda e, a, _: event_request_extension(
        event=e, actor=a, until=(e.deadline_at or timezone.now()) + timedelta(days=30), reason="需要协调"
    ),
    "extension/approve": lambda e, a, _: event_decide_extension(event=e, actor=a, approve=True),
    "extension/refuse": lambda e, a, _: event_decide_extension(event=e, actor=a, approve=False),
    "park": lambda e, a, _: event_request_park(event=e, actor=a, reason="暂不具备条件"),
    "park/approve": lambda e, a, _: event_decide_park(event=e, actor=a, approve=True),
    "park/refuse": lambda e, a, _: event_decide_park(event=e, actor=a, approve=False),
    "unpark": lambda e, a, _: event_unpark(event=e, actor=a),
    "approve": lambda e, a, _: event_approve(event=e, actor=a),
    "rework": lambda e, a, _: event_rework(event=e, actor=a, reason="照片不清晰"),
    "evaluate": lambda e, a, satisfaction: event_evaluate(event=e, actor=a, satisfaction=satisfaction),
    "reopen": lambda e, a, _: event_reopen(event=e, actor=a),
    "urge": lambda e, a, _: event_urge(event=e, actor=a),
    "escalate": lambda e, a, _: event_escalate(event=e, actor=a, reason="超出本级职权"),
    "comment": lambda e, a, _: event_comment(event=e, actor=a, note="补充"),
}

DISPATCHED = [("dispatch", "platform")]
SIGNED = ["accept", *DISPATCHED, "sign"]
HANDLED = [*SIGNED, "handle"]
AT_DISTRICT = ["escalate", "accept", *DISPATCHED, "sign"]
# Each path is the steps taken from a fresh report.
PATHS = [
    [],
    ["accept"],
    ["reject"],
    ["merge"],
    ["accept", ("dispatch", "platform")],
    ["accept", ("dispatch", "department")],
    ["accept", ("dispatch", "worker")],
    ["accept", ("dispatch", "unit")],
    ["accept", ("dispatch", "unit"), "sign", "handle"],
    SIGNED,
    [*SIGNED, "extension"],
    [*SIGNED, "extension", "extension/approve"],
    [*SIGNED, "park"],
    [*SIGNED, "park", "park/approve"],
    ["accept", "park", "park/refuse"],
    ["accept", "park", "park/approve", "unpark"],
    ["accept", ("dispatch", "platform"), "return"],
    ["accept", ("dispatch", "platform"), "urge"],
    HANDLED,
    ["accept", ("dispatch", "worker"), "sign", "handle"],
    [*HANDLED, "rework"],
    [*HANDLED, "approve"],
    [*HANDLED, "approve", ("evaluate", Satisfaction.UNSATISFIED)],
    [*HANDLED, "approve", ("evaluate", Satisfaction.UNSATISFIED), "reopen"],
    [*HANDLED, "approve", ("evaluate", Satisfaction.SATISFIED)],
    ["escalate"],
    ["escalate", "accept"],
    [*AT_DISTRICT, "handle"],  # a district-level closure waiting for the district
    [*AT_DISTRICT, "extension"],
    [*SIGNED, "park", "escalate"],  # the dispatcher escalates with the request pending
    [*AT_DISTRICT, "handle", "approve", ("evaluate", Satisfaction.UNSATISFIED)],
    [*AT_DISTRICT, "handle", "rework"],
    ["accept", ("dispatch", "worker"), "escalate"],  # the grid worker hands it back
    ["accept", ("dispatch", "worker"), "sign", "escalate"],
    [*SIGNED, "escalate"],  # the platform hands it back, at district level
    ["on_spot"],
    ["on_spot", "approve"],
    ["on_spot_awaiting"],
]


class History:
    """Events made through the services, each step taken by the first person the
    table lets take it (demo personas first, then the seeded staff of the event's units)."""

    def __init__(self):
        self.users = {name: User.objects.get(username=name) for name in PERSONAS}
        self.category = Category.objects.filter(grid_admissible=True, parent__isnull=False, active=True).first()
        # Its photos are claimed and never sent: the report waits for them (待补证据).
        self.evidence_category = Category.objects.filter(
            grid_admissible=True, parent__isnull=False, active=True, after_photos_required__gt=0
        ).first()

    def _staff(self, event: Event) -> list[User]:
        assignments = (
            RoleAssignment.objects.filter(grid_id=event.grid_id, role=Role.GRID_WORKER)
            | RoleAssignment.objects.filter(community_id=event.community_id)
            | RoleAssignment.objects.filter(street_id=event.street_id)
        )
        if event.holder_platform_id:
            assignments |= RoleAssignment.objects.filter(platform_id=event.holder_platform_id)
        if event.holder_department_id:
            assignments |= RoleAssignment.objects.filter(department_id=event.holder_department_id)
        if event.holder_unit_id:
            assignments |= RoleAssignment.objects.filter(stationed_unit_id=event.holder_unit_id)
        users = [self.users[name] for name in PERSONAS]
        users += [a.user for a in assignments.select_related("user").order_by("pk")]
        users += list(User.objects.filter(pk__in=[event.reporter_id, event.holder_user_id]))
        return users

    def take(self, event_id, name: str, argument=None) -> Event:
        event = Event.objects.select_related("category", "grid").get(pk=event_id)
        for user in self._staff(event):
            if name in allowed_steps(scope_of(user), event):
                return SERVICES[name](event, Actor(user), argument)
        raise AssertionError(f"nobody may {name} {event.state} at level {event.level}")

    def target(self, kind: str, event: Event, grid: Grid) -> DispatchTarget:
        if kind == "platform":
            return DispatchTarget(
                platform_id=Platform.objects.filter(street_id=event.street_id).order_by("pk").first().pk
            )
        if kind == "department":
            return DispatchTarget(department_id=Department.objects.order_by("pk").first().pk)
        if kind == "unit":
            return DispatchTarget(unit_id=self.unit_at(event.street_id).pk)
        return DispatchTarget(grid_worker_id=self.worker_of(grid).pk)

    def unit_at(self, street_id: int) -> StationedUnit:
        """The street's stationed unit (the demo has one on its first street), with a
        handler of its own elsewhere."""
        unit = StationedUnit.objects.filter(street_id=street_id).order_by("pk").first()
        if unit is None:
            unit = StationedUnit.objects.create(
                department=Department.objects.get(code="market"),
                street_id=street_id,
                platform=Platform.objects.get(street_id=street_id, kind=PlatformKind.MARKET),
                name="市场监管所",
            )
            handler = User.objects.create(username=f"unit_handler_{street_id}")
            RoleAssignment.objects.create(user=handler, role=Role.HANDLER, stationed_unit=unit)
        return unit

    def worker_of(self, grid: Grid) -> User:
        return RoleAssignment.objects.filter(role=Role.GRID_WORKER, grid=grid).order_by("pk").first().user

    def report(self, grid: Grid, *, by_worker: bool, on_the_spot: bool = False, awaiting: bool = False) -> Event:
        reporter = self.worker_of(grid) if by_worker or on_the_spot else self.users["demo_resident"]
        event, _ = event_report(
            actor=Actor(reporter),
            source=Source.GRID_PATROL if reporter != self.users["demo_resident"] else Source.PUBLIC_TIP,
            category_code=(self.evidence_category if awaiting else self.category).code,
            description="楼道堆物",
            grid_id=grid.pk,
            photos=Photos(before=[_digest()], after=[_digest()] if on_the_spot else []),
            handled_on_spot=on_the_spot,
            result_note="现场处置" if on_the_spot else "",
        )
        return event

    def walk(self, grid: Grid, path: list, index: int) -> Event:
        awaiting = path[:1] == ["on_spot_awaiting"]
        event = self.report(
            grid, by_worker=index % 2 == 1, on_the_spot=awaiting or path[:1] == ["on_spot"], awaiting=awaiting
        )
        for item in path:
            if item in ("on_spot", "on_spot_awaiting"):
                continue
            name, argument = item if isinstance(item, tuple) else (item, None)
            if name == "merge":
                argument = self.report(grid, by_worker=False)
            elif name == "dispatch":
                argument = self.target(argument, event, grid)
            event = self.take(event.pk, name, argument)
        return event


# The history is built once per process for this module (it took about 19 s, the same for each
# of its 16 tests), so the module's tests go to one process together.
pytestmark = pytest.mark.xdist_group("access_history")


@pytest.fixture(scope="module")
def _history_built(django_db_setup, django_db_blocker):
    """Built in a transaction rolled back after the module's last test; each test runs in
    a savepoint of it (``history`` asks for ``db``), so what one test writes the next
    does not see."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_history()
        transaction.set_rollback(True)


@pytest.fixture
def history(_history_built, db):
    return _history_built


def _build_history() -> History:
    """A seeded year (few of its events fall in the personas' units) and the paths above
    on four grids; then supervision marks the open ones overdue and escalates them
    once, and the paths run again on grid A for events that are not overdue."""
    seed_events(300, progress=False)
    made = History()
    grids = [Grid.objects.get(code=code) for code in (GRID_A, GRID_B, OTHER_COMMUNITY, OTHER_STREET)]
    for grid in grids:
        for index, path in enumerate(PATHS):
            made.walk(grid, path, index)
    later = timezone.now() + timedelta(days=400)
    supervision_tick(later)
    supervision_tick(later + timedelta(days=3))
    for index, path in enumerate(PATHS):
        made.walk(grids[0], path, index + 1)
    return made


def _ids(queryset) -> set[str]:
    return {str(pk) for pk in queryset.values_list("pk", flat=True)}


def _logged_buckets() -> dict[str, set[str]]:
    """The event buckets as the change log holds them now."""
    buckets: dict[str, set[str]] = {}
    for entity_id, bucket in Change.objects.filter(kind="event", deleted=False).values_list("entity_id", "bucket"):
        buckets.setdefault(entity_id, set()).add(bucket)
    return buckets


def test_it_builds_a_history_with_every_kind_of_event_the_rules_tell_apart(history):
    events = Event.objects.all()
    assert set(events.values_list("state", flat=True)) == set(State.values)
    assert events.filter(state=State.HANDLED, level=Level.DISTRICT).exists()
    assert events.filter(state=State.HANDLED, level__lt=Level.DISTRICT).exists()
    assert events.filter(state=State.IN_PROGRESS, level=Level.DISTRICT, extension_requested_until__isnull=False)
    assert events.filter(state=State.EVALUATED, level=Level.DISTRICT, satisfaction=Satisfaction.UNSATISFIED)
    assert events.filter(park_requested=True, level=Level.DISTRICT).exists()
    assert events.filter(overdue=True, auto_escalations__gt=0).exists()
    assert events.filter(overdue=False, state=State.DISPATCHED).exists()


def test_it_writes_each_relation_and_step_once_the_sql_and_the_predicate_agree(history):
    events = list(Event.objects.all())
    for persona in PERSONAS:
        scope = scope_of(User.objects.get(username=persona))
        for name, relation in RELATIONS.items():
            by_sql = _ids(Event.objects.filter(as_q(relation.q(scope))))
            by_predicate = {str(e.pk) for e in events if relation.holds(scope, e)}
            assert by_sql == by_predicate, (persona, name)
        allowed = {str(e.pk): set(allowed_steps(scope, e)) for e in events}
        for name in STEPS:
            by_sql = _ids(Event.objects.filter(as_q(access.q_may_take(name, scope))))
            assert by_sql == {event_id for event_id, steps in allowed.items() if name in steps}, (persona, name)


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_agrees_on_who_sees_and_acts_in_detail_queues_buckets_and_steps(history, persona):
    user = User.objects.get(username=persona)
    scope = scope_of(user)
    events = {str(e.pk): e for e in Event.objects.select_related("category", "grid")}
    queues = {name: _ids(event_queue(user, queue=name)) for name in access.QUEUES}
    logged = _logged_buckets()
    rows = {row["id"]: row for row in read_rows(KINDS["event"], Event.objects.all())}
    subscribed = set(buckets_for(scope))
    pulled_by_row = sync_event_visible(scope)
    pulled_by_sql = _ids(Event.objects.filter(q_sync_events(scope)))
    visible_by_sql = _ids(events_visible_to(user))
    assert len(events) > 400

    for event_id, event in events.items():
        where = (persona, event.number, event.state, event.level)
        # The detail look-up (by key, then the predicate), the SQL and the predicate of
        # "visible" agree, locked or not.
        try:
            access_event(user, event_id)
            opened = True
        except ApiError:
            opened = False
        visible = access.can_see(scope, event)
        assert opened == visible == (event_id in visible_by_sql), where
        try:
            with transaction.atomic():
                access_event(user, event_id, lock=True)
            assert opened, where
        except ApiError:
            assert not opened, where

        # Each queue's SQL is its predicate; nothing in a queue is out of sight.
        for name, members in queues.items():
            assert (event_id in members) == access.in_queue(name, scope, event), (*where, name)
            assert event_id not in members or visible, (*where, name)

        # The log holds the buckets the event belongs to now; the pull's row test sends
        # exactly what the user's buckets index, and only what they may see.
        assert logged.get(event_id, set()) == _event_buckets([rows[event_id]])[0], where
        in_buckets = bool(logged.get(event_id, set()) & subscribed)
        pulled = pulled_by_row(rows[event_id])
        assert pulled == in_buckets == (event_id in pulled_by_sql), where
        assert not pulled or visible, where

        # Seen by detail ⇔ in some queue or bucket.
        assert visible == (pulled or any(event_id in members for members in queues.values())), where

        # Steps: the list shown equals what the checks let through; acting implies seeing.
        allowed = allowed_steps(scope, event)
        assert not allowed or visible, where
        for name in STEPS:
            try:
                check_step(name, scope, event)
                passes = True
            except ApiError as error:
                passes = False
                assert error.code in ("step_forbidden", "illegal_transition"), (*where, name)
                assert error.detail["allowed_steps"] == allowed, (*where, name)
            assert passes == (name in allowed), (*where, name)

        # Approvable ⇔ in the approval queue ⇔ in an approval bucket of the user.
        approvable = "approve" in allowed
        approval_buckets = {b for b in logged.get(event_id, set()) & subscribed if b.startswith("approval:")}
        assert approvable == (event_id in queues["to_approve"]) == bool(approval_buckets), where

        # The work queues are the steps waiting for the user.
        assert (event_id in queues["my_tasks"]) == bool({"sign", "return", "handle"} & set(allowed)), where
        triage = set(access.TRIAGE_STEPS) & set(allowed)
        if Role.COMMANDER in scope.roles:  # who may triage any event; their queue keeps to the district's own
            triage = triage if event.level == Level.DISTRICT else set()
        parks = {"park/approve", "park/refuse"} & set(allowed)
        assert (event_id in queues["to_triage"]) == bool(triage or parks), where


def test_it_queues_and_buckets_a_district_level_closure_for_the_district_not_the_community(history):
    closure = Event.objects.filter(state=State.HANDLED, level=Level.DISTRICT, grid__code=GRID_A).first()
    secretary, commander = (scope_of(User.objects.get(username=name)) for name in ("demo_secretary", "demo_commander"))
    row = read_rows(KINDS["event"], Event.objects.filter(pk=closure.pk))[0]
    assert _event_buckets([row])[0] & {f"approval:{closure.community_id}", "approval:district"} == {"approval:district"}
    assert "approve" not in allowed_steps(secretary, closure)
    assert not sync_event_visible(secretary)(row)
    assert "approve" in allowed_steps(commander, closure) and sync_event_visible(commander)(row)
    assert "approval:district" in buckets_for(commander)
    assert closure in event_queue(User.objects.get(username="demo_commander"), queue="to_approve")


def test_it_puts_district_level_extension_requests_and_unhappy_ratings_in_the_commanders_triage(history):
    commander = User.objects.get(username="demo_commander")
    triage = set(event_queue(commander, queue="to_triage"))
    extension = Event.objects.filter(
        state=State.IN_PROGRESS, level=Level.DISTRICT, extension_requested_until__isnull=False
    ).first()
    unhappy = Event.objects.filter(
        state=State.EVALUATED, level=Level.DISTRICT, satisfaction=Satisfaction.UNSATISFIED
    ).first()
    assert extension in triage and unhappy in triage
    dispatcher = User.objects.get(username="demo_dispatcher")
    assert extension not in set(event_queue(dispatcher, queue="to_triage"))


def test_it_shows_conflicts_only_to_those_who_may_edit_the_event(history):
    events = list(Event.objects.select_related("grid"))
    phone_user = User.objects.get(username="demo_grid_worker")
    Conflict.objects.bulk_create(
        Conflict(
            event=e,
            field="description",
            base_version=1,
            base_value="a",
            server_value="b",
            phone_value="c",
            user=phone_user,
        )
        for e in events
    )
    for persona in ("demo_secretary", "demo_dispatcher", "demo_commander", "demo_admin"):
        user = User.objects.get(username=persona)
        scope = scope_of(user)
        listed = set(Conflict.objects.filter(q_conflicts(user)).values_list("event_id", flat=True))
        expected = {e.pk for e in events if scope.district_wide or any(RELATIONS[r].holds(scope, e) for r in RESOLVERS)}
        assert listed == expected, persona
        assert all(
            scope.district_wide or "edit" in allowed_steps(scope, e) or e.state not in STEPS["edit"].from_states
            for e in events
            if e.pk in listed
        )
    grid_a = Grid.objects.get(code=GRID_A)
    district_closure = next(e for e in events if e.level == Level.DISTRICT and e.community_id == grid_a.community_id)
    secretary = User.objects.get(username="demo_secretary")
    assert not Conflict.objects.filter(q_conflicts(secretary), event=district_closure).exists()
