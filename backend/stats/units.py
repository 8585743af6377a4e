"""The units a KPI is asked for, and who may ask: a user asks only for units within
their scope (``backend/accounts/scope.py``); anything else is 403."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from backend.accounts.models import Role, RoleAssignment, User
from backend.accounts.scope import Scope, scope_of
from backend.core.errors import ApiError, register
from backend.territory.models import Community, Department, District, Grid, Platform, StationedUnit, Street

UNIT_KINDS = ("district", "street", "community", "grid", "platform", "department", "stationed", "grid_worker")
# The child units of a breakdown, and the fact column that groups them.
CHILDREN = {
    "district": ("street", "street_id"),
    "street": ("community", "community_id"),
    "community": ("grid", "grid_id"),
}
MODELS = {"street": Street, "community": Community, "grid": Grid, "platform": Platform, "department": Department}

register("stats_forbidden", 403, "无权查看该单位的统计", "You may not see the figures of this unit")
register("unit_not_found", 404, "统计单位不存在", "No such unit")
register("invalid_unit", 422, "统计单位无效", "Invalid unit")


@dataclass(frozen=True)
class Unit:
    kind: str
    id: int | None
    code: str
    name: str
    street_id: int | None = None
    community_id: int | None = None
    # A stationed unit (下沉单位) is its department at its street: the pair selects its events.
    department_id: int | None = None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "id": self.id, "code": self.code, "name": self.name}


def unit_of(kind: str, unit_id: int | None) -> Unit:
    if kind not in UNIT_KINDS:
        raise ApiError("invalid_unit", detail={"unit": f"one of {', '.join(UNIT_KINDS)}"})
    if kind == "district":
        district = District.objects.order_by("pk").first()
        return Unit("district", None, district.code if district else "", district.name if district else "")
    if unit_id is None:
        raise ApiError("invalid_unit", detail={"unit_id": "required for this unit"})
    if kind == "grid_worker":
        user = User.objects.filter(pk=unit_id, role_assignments__role=Role.GRID_WORKER).distinct().first()
        if user is None:
            raise ApiError("unit_not_found")
        return Unit(kind, user.pk, user.username, str(user))
    if kind == "stationed":
        stationed = StationedUnit.objects.filter(pk=unit_id).select_related("department", "street").first()
        if stationed is None:
            raise ApiError("unit_not_found")
        code = f"{stationed.department.code}@{stationed.street.code}"
        return Unit(kind, stationed.pk, code, str(stationed), stationed.street_id, None, stationed.department_id)
    row = MODELS[kind].objects.filter(pk=unit_id).first()
    if row is None:
        raise ApiError("unit_not_found")
    street_id = {"street": lambda: row.pk, "community": lambda: row.street_id, "platform": lambda: row.street_id}
    street_id["grid"] = lambda: row.community.street_id
    community_id = row.community_id if kind == "grid" else row.pk if kind == "community" else None
    return Unit(
        kind,
        row.pk,
        getattr(row, "code", "") or (row.kind if kind == "platform" else ""),
        str(row),
        street_id.get(kind, lambda: None)(),
        community_id,
    )


def q_viewable(scope: Scope, kind: str) -> Q:
    """The streets, communities or grids (``kind``) whose figures the user may see, as a
    filter on that model: a street's staff the street and all within it, a community's
    the community and its grids, a grid worker their grid. A handler sees their platform,
    department or stationed unit, not the street around it (unlike ``Scope.q_territory``).
    ``may_view`` and the colour list both read this rule."""
    if scope.district_wide:
        return Q()
    if not scope.is_staff_role:
        return Q(pk__in=[])
    streets, communities = list(scope.street_ids), list(scope.community_ids)
    if kind == "street":
        return Q(pk__in=streets)
    if kind == "community":
        return Q(street_id__in=streets) | Q(pk__in=communities)
    return Q(community__street_id__in=streets) | Q(community_id__in=communities) | Q(pk__in=list(scope.grid_ids))


def may_view(scope: Scope, unit: Unit) -> bool:
    if scope.district_wide:
        return True
    if not scope.is_staff_role:
        return False
    if unit.kind in ("street", "community", "grid"):
        return MODELS[unit.kind].objects.filter(q_viewable(scope, unit.kind), pk=unit.id).exists()
    if unit.kind in ("platform", "stationed") and unit.street_id in scope.street_ids:
        return True
    if unit.kind == "platform" and unit.id in scope.platform_ids:
        return True
    if unit.kind == "department" and unit.id in scope.department_ids:
        return True
    if unit.kind == "stationed" and (unit.id in scope.unit_ids or unit.department_id in scope.department_ids):
        return True
    if unit.kind == "grid_worker":
        if unit.id == scope.user_id:
            return True
        grids = Grid.objects.filter(
            pk__in=RoleAssignment.objects.filter(user_id=unit.id, role=Role.GRID_WORKER).values("grid_id")
        )
        return grids.filter(q_viewable(scope, "grid")).exists()
    return False


def access_unit(user: User, kind: str, unit_id: int | None) -> Unit:
    unit = unit_of(kind, unit_id)
    if not may_view(scope_of(user), unit):
        raise ApiError("stats_forbidden")
    return unit


LEVELS = ("district", "street", "community", "grid")


def children_of(unit: Unit, kind: str | None = None) -> list[Unit]:
    """The units of ``kind`` (default: the level right below, none for a grid or a unit
    outside the territory's levels) within ``unit``; a ``kind`` not below it is 422."""
    if kind is None:
        if unit.kind not in CHILDREN:
            return []
        kind = CHILDREN[unit.kind][0]
    if unit.kind not in LEVELS or kind not in LEVELS or LEVELS.index(kind) <= LEVELS.index(unit.kind):
        raise ApiError("invalid_unit", detail={"breakdown_by": f"a level below {unit.kind}"})
    rows = {"street": Street.objects.all(), "community": Community.objects.all(), "grid": Grid.objects.all()}[kind]
    if unit.kind == "street":
        rows = rows.filter(**{"street_id" if kind == "community" else "community__street_id": unit.id})
    elif unit.kind == "community":
        rows = rows.filter(community_id=unit.id)
    return [Unit(kind, row.pk, row.code, row.name) for row in rows.order_by("code").only("pk", "code", "name")]
