"""What a user may see, by role and territory: the one place that decides.

``Scope`` is computed once per request from the user's role assignments. Selectors
filter querysets with its ``q_*`` methods; ``access_*`` helpers fetch-and-authorize
and answer 404 for anything outside it, so existence does not leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from backend.accounts.models import Role, RoleAssignment, User


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


def scope_of(user: User) -> Scope:
    cached = getattr(user, "_scope", None)
    if cached is not None:
        return cached
    assignments = list(
        RoleAssignment.objects.filter(user=user).select_related("platform").only(
            "role", "grid_id", "community_id", "street_id", "district_id", "platform_id", "platform__street_id", "department_id"
        )
    )
    roles = frozenset(a.role for a in assignments)
    scope = Scope(
        user_id=user.pk,
        roles=roles,
        district_wide=bool(roles & {Role.COMMANDER, Role.ADMIN}) or user.is_superuser,
        grid_ids=frozenset(a.grid_id for a in assignments if a.grid_id),
        community_ids=frozenset(a.community_id for a in assignments if a.community_id),
        street_ids=frozenset(a.street_id for a in assignments if a.street_id),
        platform_ids=frozenset(a.platform_id for a in assignments if a.platform_id),
        department_ids=frozenset(a.department_id for a in assignments if a.department_id),
        platform_street_ids=frozenset(a.platform.street_id for a in assignments if a.platform_id),
    )
    user._scope = scope
    return scope
