"""Reads of the visit plan: a worker's due visits, the secretary's overdue queue and
coverage per grid, worker and kind (the figure the KPI and assessment work reads:
``coverage``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet

from backend.accounts.models import Role, RoleAssignment
from backend.accounts.scope import Scope
from backend.care.models import DueReason, VisitDue
from backend.patrols.access import q_key_subjects


def dues_visible(scope: Scope) -> QuerySet[VisitDue]:
    return VisitDue.objects.filter(q_key_subjects(scope, grid="subject__grid"))


def my_dues(scope: Scope) -> QuerySet[VisitDue]:
    """待走访: the open dues of the grid worker's grids, soonest (and welfare checks) first."""
    if Role.GRID_WORKER not in scope.roles:
        return VisitDue.objects.none()
    return (
        VisitDue.objects.filter(fulfilled_at=None, subject__active=True, subject__grid_id__in=scope.grid_ids)
        .select_related("subject")
        .order_by("-priority", "due_at", "pk")
    )


def escalated_dues(scope: Scope) -> QuerySet[VisitDue]:
    """超期走访: dues passed to the secretary (and visible above), still not made."""
    if not (scope.district_wide or Role.SECRETARY in scope.roles or Role.DISPATCHER in scope.roles):
        return VisitDue.objects.none()
    return (
        dues_visible(scope)
        .filter(fulfilled_at=None, escalated_at__isnull=False)
        .select_related("subject__grid")
        .order_by("due_at", "pk")
    )


@dataclass
class Coverage:
    """Planned visits due in a period and how many were made by their due time."""

    due: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0

    @property
    def rate(self) -> float | None:
        return round(self.on_time / self.due, 4) if self.due else None

    def add(self, on_time: bool, late: bool) -> None:
        self.due += 1
        self.on_time += on_time
        self.late += late
        self.missing += not (on_time or late)


@dataclass
class CoverageReport:
    start: datetime
    end: datetime
    total: Coverage = field(default_factory=Coverage)
    by_grid: dict[int, Coverage] = field(default_factory=lambda: defaultdict(Coverage))
    by_worker: dict[int, Coverage] = field(default_factory=lambda: defaultdict(Coverage))
    by_kind: dict[str, Coverage] = field(default_factory=lambda: defaultdict(Coverage))


def coverage(*, start: datetime, end: datetime, scope: Scope | None = None, now: datetime) -> CoverageReport:
    """走访覆盖率: the planned dues falling in [start, end) (of the key subjects the
    scope may see; all without a scope), each on time (a visit at or before its due
    time), late, or missing (not made by ``now``), counted per grid, per kind and per
    grid worker (a worker answers for the dues of their grids). Welfare checks are
    counted apart from the plan and not here."""
    dues = VisitDue.objects.filter(reason=DueReason.PLAN, due_at__gte=start, due_at__lt=end, due_at__lte=now)
    if scope is not None:
        dues = dues.filter(q_key_subjects(scope, grid="subject__grid"))
    rows = list(dues.values_list("subject__grid_id", "subject__kind", "fulfilled_at", "due_at"))
    workers: dict[int, set[int]] = defaultdict(set)
    for grid_id, user_id in RoleAssignment.objects.filter(
        role=Role.GRID_WORKER, grid_id__in={row[0] for row in rows}
    ).values_list("grid_id", "user_id"):
        workers[grid_id].add(user_id)
    report = CoverageReport(start=start, end=end)
    for grid_id, kind, fulfilled_at, due_at in rows:
        on_time = fulfilled_at is not None and fulfilled_at <= due_at
        late = fulfilled_at is not None and not on_time
        report.total.add(on_time, late)
        report.by_grid[grid_id].add(on_time, late)
        report.by_kind[kind].add(on_time, late)
        for user_id in workers[grid_id]:
            report.by_worker[user_id].add(on_time, late)
    return report
