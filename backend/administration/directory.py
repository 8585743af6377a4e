"""The dispatcher's directory of dispatch targets for one event: the platforms of the
event's street, the departments, and the grid workers of its grid (admission-list
categories only), each with its current load (open events it holds), the duty
list's suggestion first. Six queries whatever the district's size.

Stationed units (下沉: a department's staff bound to the event's street) are their own
``kind``; one stands for its department when the duty list is compared.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Count

from backend.accounts.models import Role, RoleAssignment
from backend.administration.duty import Duty, duty_for
from backend.core.errors import ApiError
from backend.events.models import Event
from backend.events.workflow import OPEN_STATES, STEPS, relation_for
from backend.territory.models import Department, Platform, StationedUnit


def _load(field: str, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = (
        Event.objects.filter(state__in=OPEN_STATES, **{f"{field}__in": ids})
        .values(field)
        .annotate(n=Count("pk"))
        .values_list(field, "n")
    )
    return dict(rows)


def _platforms(event: Event) -> list[dict]:
    platforms = list(Platform.objects.filter(street_id=event.street_id).select_related("street"))
    load = _load("holder_platform_id", [p.pk for p in platforms])
    return [
        {"kind": "platform", "id": p.pk, "name": str(p), "open_events": load.get(p.pk, 0), "field": "platform_id"}
        for p in platforms
    ]


def _departments(event: Event) -> list[dict]:
    departments = list(Department.objects.filter(district_id=event.street.district_id))
    load = _load("holder_department_id", [d.pk for d in departments])
    return [
        {"kind": "department", "id": d.pk, "name": d.name, "open_events": load.get(d.pk, 0), "field": "department_id"}
        for d in departments
    ]


def _stationed_units(event: Event) -> list[dict]:
    units = list(StationedUnit.objects.filter(street_id=event.street_id, active=True).select_related("department"))
    load = _load("holder_unit_id", [u.pk for u in units])
    return [
        {
            "kind": "stationed_unit",
            "id": u.pk,
            "name": u.name,
            "department_id": u.department_id,
            "open_events": load.get(u.pk, 0),
            "field": "unit_id",
        }
        for u in units
    ]


def _grid_workers(event: Event) -> list[dict]:
    if not event.category.grid_admissible:
        return []  # not on the admission list: cannot be handed to grid workers
    workers = [
        a.user
        for a in RoleAssignment.objects.filter(
            role=Role.GRID_WORKER, grid_id=event.grid_id, user__is_active=True
        ).select_related("user")
    ]
    load = _load("holder_user_id", [u.pk for u in workers])
    return [
        {
            "kind": "grid_worker",
            "id": u.pk,
            "name": u.get_full_name() or u.username,
            "open_events": load.get(u.pk, 0),
            "field": "grid_worker_id",
        }
        for u in workers
    ]


# Each source gives the targets of one kind; the order here is the order shown after
# the suggestion.
TARGET_SOURCES: list[Callable[[Event], list[dict]]] = [_platforms, _stationed_units, _departments, _grid_workers]


def _suggested(target: dict, duty: Duty | None) -> bool:
    if duty is None:
        return False
    if target["kind"] == "stationed_unit":
        return duty.matches(department_id=target["department_id"])
    return duty.matches(**{target["field"]: target["id"]})


def dispatch_targets(user, event: Event) -> dict:
    """What the dispatch form needs: 403 unless the user may dispatch this event."""
    from backend.accounts.scope import scope_of

    if relation_for(STEPS["dispatch"], scope_of(user), event) is None:
        raise ApiError("step_forbidden")
    duty = duty_for(event.category, event.street_id)
    targets = [t for source in TARGET_SOURCES for t in source(event)]
    for target in targets:
        target["suggested"] = _suggested(target, duty)
    targets.sort(key=lambda t: not t["suggested"])  # stable: the suggestion first, the rest in order
    return {"event_id": event.pk, "suggestion": duty.as_dict() if duty else None, "targets": targets}
