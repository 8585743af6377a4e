"""Who may see a key person or place (重点人员、场所), written once.

The grid's worker (their grids), the community's secretary (their communities), the
street's dispatcher (their streets) and the district (commander, admin): the
territory relations of the transition table (``in_grid``, ``in_community``,
``in_street``, ``district_wide`` in ``backend/events/workflow.py``), each held only
through the role it names, so a platform's handler or a resident sees none. The
phone's pull (``sync/entities.py``, kind ``key_subject``) is the grid worker's term
of this rule: only grid workers pull key subjects to a phone."""

from __future__ import annotations

from django.db.models import Q

from backend.accounts.models import Role
from backend.accounts.scope import Scope

NOTHING = Q(pk__in=[])


def q_key_subjects(scope: Scope, *, grid: str = "grid") -> Q:
    """The key subjects the scope may see (``grid`` is the path to the subject's grid)."""
    if scope.district_wide:
        return Q()
    terms = NOTHING
    if Role.GRID_WORKER in scope.roles and scope.grid_ids:
        terms |= Q(**{f"{grid}_id__in": scope.grid_ids})
    if Role.SECRETARY in scope.roles and scope.community_ids:
        terms |= Q(**{f"{grid}__community_id__in": scope.community_ids})
    if Role.DISPATCHER in scope.roles and scope.street_ids:
        terms |= Q(**{f"{grid}__community__street_id__in": scope.street_ids})
    return terms


def may_see_key_subjects(scope: Scope) -> bool:
    """Whether the scope holds any term of the rule (else the key-subject routes answer 403)."""
    return scope.district_wide or q_key_subjects(scope) != NOTHING
