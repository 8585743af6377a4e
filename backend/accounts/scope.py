"""A user's units, by role: the grids, communities, streets, platforms and departments
they are bound to, or district-wide.

``Scope`` is computed once per request from the user's role assignments. Territory is
filtered with ``q_territory``; who may see or act on an *event* is decided by the
relations of the transition table (``backend/events/workflow.py``, derived in
``backend/events/access.py``), which read these units. ``access_*`` helpers
fetch-and-authorize and answer 404 for anything outside scope, so existence does not leak.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from django.db.models import Case, Q, Value, When

from backend.accounts.models import UNIT_FIELDS, Role, RoleAssignment, User


@dataclass(frozen=True)
class Scope:
    user_id: int
    roles: frozenset[str]
    district_wide: bool = False
    grid_ids: frozenset[int] = field(default_factory=frozenset)
    community_ids: frozenset[int] = field(default_factory=frozenset)
    street_ids: frozenset[int] = field(default_factory=frozenset)
    platform_ids: frozenset[int] = field(default_factory=frozenset)
    department_ids: frozenset[int] = field(default_factory=frozenset)
    unit_ids: frozenset[int] = field(default_factory=frozenset)  # stationed units (下沉单位)
    platform_street_ids: frozenset[int] = field(default_factory=frozenset)

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def q_territory(self, *, grid: str = "grid", community: str = "community", street: str = "street") -> Q:
        """Rows bound to territory (``grid``/``community``/``street`` are the lookup
        paths on the model being filtered). Handlers of a platform see their street."""
        if self.district_wide:
            return Q()
        streets = self.street_ids | self.platform_street_ids
        condition = Q(pk__in=[])
        if self.grid_ids:
            condition |= Q(**{f"{grid}__in": self.grid_ids})
        if self.community_ids:
            condition |= Q(**{f"{community}__in": self.community_ids})
        if streets:
            condition |= Q(**{f"{street}__in": streets})
        return condition

    @property
    def is_staff_role(self) -> bool:
        return bool(self.roles - {Role.RESIDENT})


_ROLES_CACHE: dict[tuple[int, int], list[dict]] = {}
_ROLES_CACHE_LIMIT = 20_000


def _new_scope_version() -> Case:
    """A fresh random version, not the next number: a transaction that bumped the
    version and rolled back may have cached the scope it saw under the next number,
    and a later bump to that same number would then find that stale entry. (Never
    the version a row has now.)"""
    version = secrets.randbelow(2**31 - 2) + 1
    return Case(When(scope_version=version, then=Value(version + 1)), default=Value(version))


def invalidate_scope_of(user_id: int) -> None:
    User.objects.filter(pk=user_id).update(scope_version=_new_scope_version())


def invalidate_all_scopes() -> None:
    """Territory changed (rare, an admin's act): every user's cached scope is stale."""
    User.objects.update(scope_version=_new_scope_version())


def _load_roles(user: User) -> dict:
    assignments = (
        RoleAssignment.objects.filter(user=user)
        .select_related("grid", "community", "street", "district", "platform__street", "department", "stationed_unit")
        .order_by("role", "pk")
    )
    roles = []
    for assignment in assignments:
        kind = next((name for name in UNIT_FIELDS if getattr(assignment, f"{name}_id")), None)
        unit = assignment.unit()
        roles.append(
            {
                "role": assignment.role,
                "role_label": assignment.get_role_display(),
                "unit": None
                if unit is None
                else {"kind": kind, "id": unit.pk, "code": getattr(unit, "code", ""), "name": str(unit)},
                "platform_street_id": assignment.platform.street_id
                if assignment.platform_id
                else assignment.stationed_unit.street_id
                if assignment.stationed_unit_id
                else None,
            }
        )
    return {"roles": roles}


def roles_of(user: User) -> list[dict]:
    """The user's roles with their units. /me and every scoped query start here, so it
    is cached in the process, keyed by the user's ``scope_version`` (loaded with the
    user by authentication), which every change to roles or territory bumps."""
    cached = getattr(user, "_roles", None)
    if cached is not None:
        return cached
    key = (user.pk, user.scope_version)
    entry = _ROLES_CACHE.get(key)
    if entry is None:
        entry = _load_roles(user)
        if len(_ROLES_CACHE) >= _ROLES_CACHE_LIMIT:
            _ROLES_CACHE.clear()
        _ROLES_CACHE[key] = entry
    user._roles = entry["roles"]
    return user._roles


def scope_of(user: User) -> Scope:
    cached = getattr(user, "_scope", None)
    if cached is not None:
        return cached
    roles_list = roles_of(user)

    def unit_ids(kind: str) -> frozenset[int]:
        return frozenset(r["unit"]["id"] for r in roles_list if r["unit"] and r["unit"]["kind"] == kind)

    roles = frozenset(r["role"] for r in roles_list)
    scope = Scope(
        user_id=user.pk,
        roles=roles,
        district_wide=bool(roles & {Role.COMMANDER, Role.ADMIN}) or user.is_superuser,
        grid_ids=unit_ids("grid"),
        community_ids=unit_ids("community"),
        street_ids=unit_ids("street"),
        platform_ids=unit_ids("platform"),
        department_ids=unit_ids("department"),
        unit_ids=unit_ids("stationed_unit"),
        platform_street_ids=frozenset(r["platform_street_id"] for r in roles_list if r["platform_street_id"]),
    )
    user._scope = scope
    return scope
