"""Writes of the visit plan: open the due visits, fulfil them, tell the worker and
the secretary when one is overdue (``care_tick``, run by ``run_worker``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from backend.accounts.models import Role, RoleAssignment
from backend.care.models import DueReason, Priority, VisitDue
from backend.patrols.models import KeySubject, Visit
from push.models import NotificationKind
from push.services import notify

# A worker is told the day a visit falls overdue; the community's secretary this many
# days later if it is still not made (the same two steps as an event's 催办 then 升级).
ESCALATE_AFTER_DAYS = 3


@dataclass
class CareTick:
    opened: int = 0
    notified: int = 0
    escalated: int = 0


def workers_of_grids(grid_ids) -> dict[int, set[int]]:
    """The grid workers of each grid."""
    result: dict[int, set[int]] = {}
    for grid_id, user_id in RoleAssignment.objects.filter(role=Role.GRID_WORKER, grid_id__in=grid_ids).values_list(
        "grid_id", "user_id"
    ):
        result.setdefault(grid_id, set()).add(user_id)
    return result


def secretaries_of_communities(community_ids) -> dict[int, set[int]]:
    result: dict[int, set[int]] = {}
    for community_id, user_id in RoleAssignment.objects.filter(
        role=Role.SECRETARY, community_id__in=community_ids
    ).values_list("community_id", "user_id"):
        result.setdefault(community_id, set()).add(user_id)
    return result


def dues_open(*, now: datetime) -> int:
    """Open the planned due visit of every active key subject that has none: its last
    visit plus its frequency (from now for one never visited)."""
    last_visit = Visit.objects.filter(subject=OuterRef("pk")).values("subject").annotate(last=Max("visited_at"))
    subjects = (
        KeySubject.objects.filter(active=True)
        .exclude(pk__in=VisitDue.objects.filter(reason=DueReason.PLAN, fulfilled_at=None).values("subject_id"))
        .annotate(last=Subquery(last_visit.values("last")))
        .values_list("pk", "visit_every_days", "last")
    )
    made = []
    for subject_id, every_days, last in subjects:
        # Never visited: the plan starts now (a new register would otherwise make
        # every subject overdue at once).
        start = last if last is not None else now
        made.append(VisitDue(subject_id=subject_id, window_start=start, due_at=start + timedelta(days=every_days)))
    VisitDue.objects.bulk_create(made, ignore_conflicts=True)
    return len(made)


def visit_fulfil(visit: Visit) -> list[VisitDue]:
    """The open dues of the visit's subject that the visit falls in (visited at or
    after their window's start) are fulfilled by it; the plan's next due opens at the
    visit plus the subject's frequency. Called by ``visit_record`` when a visit is
    saved (a phone's ``visit.record``, possibly days after it was made offline)."""
    subject = visit.subject
    fulfilled = list(
        VisitDue.objects.select_for_update().filter(
            subject=subject, fulfilled_at=None, window_start__lte=visit.visited_at
        )
    )
    for due in fulfilled:
        due.fulfilled_by = visit
        due.fulfilled_at = visit.visited_at
        due.save(update_fields=["fulfilled_by", "fulfilled_at"])
    if any(due.reason == DueReason.PLAN for due in fulfilled) and subject.active:
        VisitDue.objects.create(
            subject=subject,
            window_start=visit.visited_at,
            due_at=visit.visited_at + timedelta(days=subject.visit_every_days),
        )
    return fulfilled


def welfare_due_open(*, subject: KeySubject, note: str, now: datetime | None = None) -> tuple[VisitDue, bool]:
    """A welfare-check visit (独居老人关怀) due now, high priority, pushed to the grid's
    workers (to the community's secretary when the grid has none); an open one is kept
    rather than doubled. Returns (due, created)."""
    now = now or timezone.now()
    existing = VisitDue.objects.filter(subject=subject, reason=DueReason.WELFARE, fulfilled_at=None).first()
    if existing is not None:
        return existing, False
    due = VisitDue.objects.create(
        subject=subject,
        reason=DueReason.WELFARE,
        priority=Priority.HIGH,
        window_start=now,
        due_at=now,
        notified_at=now,
        note=note[:300],
    )
    users = workers_of_grids([subject.grid_id]).get(subject.grid_id, set())
    if not users:  # a grid without a worker today: its community's secretary answers for it
        community_id = subject.grid.community_id
        users = secretaries_of_communities([community_id]).get(community_id, set())
    notify(
        users=users,
        kind=NotificationKind.WELFARE_CHECK,
        title=f"独居老人关怀 {subject.name}",
        body=note,
        data={"due_id": due.pk, "subject_id": subject.pk, "priority": Priority.HIGH},
        now=now,
    )
    return due, True


def care_tick(*, now: datetime | None = None) -> CareTick:
    """One pass of the visit plan: open missing dues, tell the grid's workers of newly
    overdue visits, and put those still not made ``ESCALATE_AFTER_DAYS`` later in the
    community secretary's queue (with a notification)."""
    now = now or timezone.now()
    result = CareTick()
    with transaction.atomic():
        result.opened = dues_open(now=now)
        overdue = list(
            VisitDue.objects.select_for_update()
            .filter(fulfilled_at=None, notified_at=None, due_at__lt=now)
            .select_related("subject")
        )
        workers = workers_of_grids({due.subject.grid_id for due in overdue})
        for due in overdue:
            notify(
                users=workers.get(due.subject.grid_id, set()),
                kind=NotificationKind.VISIT_OVERDUE,
                title=f"走访超期 {due.subject.name}",
                body=f"应于 {timezone.localtime(due.due_at):%Y-%m-%d} 前走访",
                data={"due_id": due.pk, "subject_id": due.subject_id},
                now=now,
            )
        VisitDue.objects.filter(pk__in=[due.pk for due in overdue]).update(notified_at=now)
        result.notified = len(overdue)

        late = list(
            VisitDue.objects.select_for_update()
            .filter(
                fulfilled_at=None,
                escalated_at=None,
                notified_at__isnull=False,
                due_at__lt=now - timedelta(days=ESCALATE_AFTER_DAYS),
            )
            .select_related("subject__grid")
        )
        secretaries = secretaries_of_communities({due.subject.grid.community_id for due in late})
        for due in late:
            notify(
                users=secretaries.get(due.subject.grid.community_id, set()),
                kind=NotificationKind.VISIT_ESCALATED,
                title=f"走访超期转书记 {due.subject.name}",
                body=f"{due.subject.grid.name} 应于 {timezone.localtime(due.due_at):%Y-%m-%d} 前走访",
                data={"due_id": due.pk, "subject_id": due.subject_id},
                now=now,
            )
        VisitDue.objects.filter(pk__in=[due.pk for due in late]).update(escalated_at=now)
        result.escalated = len(late)
    return result
