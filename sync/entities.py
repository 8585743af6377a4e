"""What a phone replicates, kind by kind: how an entity is read for a pull, which
buckets it belongs to, and which of it a user's scope may see.

Buckets (PowerSync) index the change log: a user pulls the buckets of their scope
(``buckets_for``). The bucket is only an index; every upsert is read through the
kind's ``visible`` filter at pull time, so nothing outside scope can leave the server
even if a bucket were wrong.

Scope per role (issue 4): everyone gets the catalogue and their own records
(``user:<id>``: events they reported or hold, their patrols and visits); a grid
worker the territory, events and key persons and places of their grids
(``grid:<id>``); whoever may approve a closure the events waiting for their approval
(``approval:<community id>`` for a secretary, ``approval:district`` for the district
centre: the ``approve`` step of the transition table); a handler the events their platform, department or stationed unit
holds (``platform:<id>``, ``department:<id>``, ``unit:<id>``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import models
from django.db.models import Q

from backend.accounts.models import Role
from backend.accounts.scope import Scope
from backend.events.access import q_may_take, q_visible
from backend.events.models import Category, Event
from backend.events.workflow import RELATIONS, STEPS, any_of, as_q, relation_for
from backend.patrols.models import KeySubject, PatrolSession, Visit
from backend.territory.models import Community, Grid, Street

# The approval bucket is the ``approve`` step of the transition table: an event is in
# it while some relation may approve it, keyed by the unit that relation is held
# through, and a user pulls the buckets of their units of that relation's role. Who may
# approve is decided in ``workflow.STEPS["approve"]``; a relation added there needs its
# unit here (the assertion says so at start-up).
APPROVE = STEPS["approve"]
APPROVAL_UNITS = {"community_secretary": "community", "district_approver": "district"}
assert set(APPROVAL_UNITS) == set(APPROVE.relations), "name the unit of each relation that may approve"


class _Row(dict):
    """A log or page row read as an event by the relations' predicates."""

    __getattr__ = dict.__getitem__


def _unit_ids(scope: Scope, unit: str) -> frozenset:
    return frozenset({"district"}) if unit == "district" else getattr(scope, f"{unit}_ids")


def _approval_buckets(row: _Row) -> set[str]:
    """The approval buckets of one event: for each relation that may approve it, the
    bucket of the one unit through which that relation holds (asked of the predicate
    with a scope holding just that unit)."""
    if not APPROVE.applies_to(row):
        return set()
    buckets = set()
    for name, unit in APPROVAL_UNITS.items():
        relation = RELATIONS[name]
        key = "district" if unit == "district" else row[f"{unit}_id"]
        ids = {} if unit == "district" else {f"{unit}_ids": frozenset({key})}
        if relation.holds(Scope(user_id=0, roles=frozenset({relation.role}), **ids), row):
            buckets.add(f"approval:{key}")
    return buckets


def buckets_for(scope: Scope) -> list[str]:
    buckets = {"catalogue", f"user:{scope.user_id}"}
    if Role.GRID_WORKER in scope.roles:
        buckets |= {f"grid:{grid_id}" for grid_id in scope.grid_ids}
    for name, unit in APPROVAL_UNITS.items():
        if RELATIONS[name].role in scope.roles:
            buckets |= {f"approval:{key}" for key in _unit_ids(scope, unit)}
    if Role.HANDLER in scope.roles:
        buckets |= {f"platform:{platform_id}" for platform_id in scope.platform_ids}
        buckets |= {f"department:{department_id}" for department_id in scope.department_ids}
        buckets |= {f"unit:{unit_id}" for unit_id in scope.unit_ids}
    return sorted(buckets)


def _event_buckets(rows: list[dict]) -> list[set[str]]:
    result = []
    for row in rows:
        buckets = {f"grid:{row['grid_id']}"}
        for user_field in ("reporter_id", "holder_user_id"):
            if row[user_field]:
                buckets.add(f"user:{row[user_field]}")
        if row["holder_platform_id"]:
            buckets.add(f"platform:{row['holder_platform_id']}")
        if row["holder_department_id"]:
            buckets.add(f"department:{row['holder_department_id']}")
        if row["holder_unit_id"]:
            buckets.add(f"unit:{row['holder_unit_id']}")
        buckets |= _approval_buckets(_Row(row))
        result.append(buckets)
    return result


def q_sync_events(scope: Scope) -> Q:
    """What a phone pulls, from the relations of the transition table: what the user
    reported or holds, every event of a grid worker's grids, what a handler's unit
    holds, and what the user may approve now (the approval bucket)."""
    rule = any_of(
        [
            RELATIONS["reporter"].q(scope),
            RELATIONS["assignee"].q(scope),
            RELATIONS["in_grid"].q(scope) if Role.GRID_WORKER in scope.roles else None,
            RELATIONS["holding_unit"].q(scope) if Role.HANDLER in scope.roles else None,
            q_may_take("approve", scope),
        ]
    )
    return as_q(rule) & q_visible(scope)


def sync_event_visible(scope: Scope) -> Callable[[dict], bool]:
    """``q_sync_events`` as a test on one row (its ``EVENT_FIELDS`` values). A page reads
    its events by primary key and tests them here: in SQL, PostgreSQL would answer the
    OR of a wide scope by scanning every event of the scope for each page. The first
    lines are the relations' predicates unrolled for speed (a thousand rows a page);
    tests/test_access.py keeps them equal to the definition for every persona."""
    me = scope.user_id
    grids = scope.grid_ids if Role.GRID_WORKER in scope.roles else frozenset()
    handler = Role.HANDLER in scope.roles
    platforms, departments, units = scope.platform_ids, scope.department_ids, scope.unit_ids
    approver = any(RELATIONS[name].role in scope.roles for name in APPROVE.relations)
    approve_states = APPROVE.from_states  # a tuple: compared, not hashed (a row's strings are new objects)

    def may_approve(row: dict) -> bool:  # the definition itself: few rows get this far
        event = _Row(row)
        return APPROVE.applies_to(event) and relation_for(APPROVE, scope, event) is not None

    def visible(row: dict) -> bool:
        return (
            row["reporter_id"] == me
            or row["holder_user_id"] == me
            or row["grid_id"] in grids
            or (
                handler
                and (
                    row["holder_platform_id"] in platforms
                    or row["holder_department_id"] in departments
                    or row["holder_unit_id"] in units
                )
            )
            or (approver and row["state"] in approve_states and may_approve(row))
        )

    return visible


def _grid_buckets_of(field: str) -> Callable[[list[dict]], list[set[str]]]:
    """Territory above the grid goes to the bucket of each of its grids."""

    def buckets(rows: list[dict]) -> list[set[str]]:
        ids = [row["id"] for row in rows]
        grids: dict[int, set[str]] = {}
        for grid_id, owner in Grid.objects.filter(**{f"{field}__in": ids}).values_list("id", field):
            grids.setdefault(owner, set()).add(f"grid:{grid_id}")
        return [grids.get(row["id"], set()) for row in rows]

    return buckets


def _grid_ids(scope: Scope) -> frozenset[int]:
    return scope.grid_ids if Role.GRID_WORKER in scope.roles else frozenset()


@dataclass(frozen=True)
class EntityKind:
    name: str
    model: type[models.Model]
    fields: tuple[str, ...]  # what a phone receives (``values()`` names)
    bucket_fields: tuple[str, ...]  # what ``buckets`` reads
    buckets: Callable[[list[dict]], list[set[str]]]
    visible: Callable[[Scope], Q]
    rename: tuple[tuple[str, str], ...] = ()  # values() name -> name sent
    visible_row: Callable[[Scope], Callable[[dict], bool]] | None = None  # ``visible`` tested in Python
    strings_json: tuple[str, ...] = ("photos",)  # JSON fields that hold only strings (photo digests)
    shown: Callable[[Scope], Callable[[dict], dict] | None] | None = None  # what of a row this scope reads


def public_rows(kind: EntityKind, scope: Scope, rows: Iterable[dict]) -> Iterable[dict]:
    """The rows as this scope may read them (``kind.shown``), for a pull and for the
    tests' picture of a scope alike."""
    shown = kind.shown(scope) if kind.shown else None
    return rows if shown is None else map(shown, rows)


def _event_shown(scope: Scope) -> Callable[[dict], dict] | None:
    """A resident (no staff role) reads an event as the REST public view shows it
    (``backend.tips.public``): no holder, no deadline, no device time, no photo reference."""
    if scope.is_staff_role:
        return None
    from backend.tips.public import resident_sync_row

    return resident_sync_row(scope.user_id)


EVENT_FIELDS = (
    "id",
    "number",
    "action_count",
    "state",
    "level",
    "source",
    "category__code",
    "description",
    "address_text",
    "lat",
    "lng",
    "grid_id",
    "community_id",
    "street_id",
    "severity",
    "reporter_id",
    "holder_user_id",
    "holder_platform_id",
    "holder_department_id",
    "holder_unit_id",
    "deadline_at",
    "overdue",
    "handled_on_spot",
    "result_note",
    "photos",
    "satisfaction",
    "reported_at",
    "device_reported_at",
    "signed_at",
    "handled_at",
    "closed_at",
    "updated_at",
)

KINDS: dict[str, EntityKind] = {
    kind.name: kind
    for kind in [
        EntityKind(
            "category",
            Category,
            (
                "id",
                "code",
                "name",
                "parent__code",
                "platform_kind",
                "severity",
                "grid_admissible",
                "before_photos_required",
                "after_photos_required",
                "active",
            ),
            ("id",),
            lambda rows: [{"catalogue"} for _ in rows],
            lambda scope: Q(),
            rename=(("parent__code", "parent_code"),),
        ),
        EntityKind(
            "street",
            Street,
            ("id", "code", "name"),
            ("id",),
            _grid_buckets_of("community__street_id"),
            lambda scope: Q(pk__in=Grid.objects.filter(pk__in=_grid_ids(scope)).values("community__street_id")),
        ),
        EntityKind(
            "community",
            Community,
            ("id", "code", "name", "street_id"),
            ("id",),
            _grid_buckets_of("community_id"),
            lambda scope: Q(pk__in=Grid.objects.filter(pk__in=_grid_ids(scope)).values("community_id")),
        ),
        EntityKind(
            "grid",
            Grid,
            ("id", "code", "name", "community_id", "polygon", "retired_at"),
            ("id",),
            lambda rows: [{f"grid:{row['id']}"} for row in rows],
            lambda scope: Q(pk__in=_grid_ids(scope)),
        ),
        EntityKind(
            "event",
            Event,
            EVENT_FIELDS,
            (
                "id",
                "grid_id",
                "community_id",
                "state",
                "level",
                "reporter_id",
                "holder_user_id",
                "holder_platform_id",
                "holder_department_id",
                "holder_unit_id",
            ),
            _event_buckets,
            q_sync_events,
            rename=(("action_count", "version"), ("category__code", "category_code")),
            visible_row=sync_event_visible,
            shown=_event_shown,
        ),
        EntityKind(
            "key_subject",
            KeySubject,
            ("id", "grid_id", "kind", "name", "address_text", "attention", "visit_every_days", "note", "active"),
            ("id", "grid_id"),
            lambda rows: [{f"grid:{row['grid_id']}"} for row in rows],
            lambda scope: Q(grid_id__in=_grid_ids(scope)),
        ),
        EntityKind(
            "patrol",
            PatrolSession,
            ("id", "grid_id", "started_at", "ended_at", "point_count", "distance_m", "note", "received_at"),
            ("id", "user_id"),
            lambda rows: [{f"user:{row['user_id']}"} for row in rows],
            lambda scope: Q(user_id=scope.user_id),
        ),
        EntityKind(
            "visit",
            Visit,
            ("id", "subject_id", "patrol_id", "visited_at", "finding", "note", "photos", "lat", "lng", "received_at"),
            ("id", "user_id"),
            lambda rows: [{f"user:{row['user_id']}"} for row in rows],
            lambda scope: Q(user_id=scope.user_id),
        ),
    ]
}

KIND_OF_MODEL = {kind.model: kind for kind in KINDS.values()}


def bucket_row(kind: EntityKind, instance: models.Model) -> dict:
    """``kind.bucket_fields`` of an instance, read from its ``__dict__`` (a foreign key's
    descriptor reads it from there too; a batch of reports reads a hundred events)."""
    values = instance.__dict__
    attributes = _ATTRIBUTES.get(kind.name)
    if attributes is None:  # ``id``: the primary key's attname
        attributes = _ATTRIBUTES[kind.name] = [
            (name, kind.model._meta.pk.attname if name == "id" else name) for name in kind.bucket_fields
        ]
    try:
        return {name: values[attname] for name, attname in attributes}
    except KeyError:  # deferred, or not a field
        return {name: getattr(instance, "pk" if name == "id" else name) for name in kind.bucket_fields}


_ATTRIBUTES: dict[str, list[tuple[str, str]]] = {}
