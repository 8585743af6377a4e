"""督办: the periodic job. Marks events overdue (with an automatic urge notice),
escalates overdue events one level each time a further grace period passes
without progress: grid → community → street → district, and sends events whose
photos did not arrive within EVIDENCE_WAIT_HOURS to the secretary's approval.

Idempotent by construction: every condition reads state that the job itself
changes (``overdue``, ``last_escalated_at``), so a second run straight after the
first finds nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backend.core.times import wire_time
from backend.events.models import Event, Level, State
from backend.events.services import evidence_overdue, evidence_wait, grace_period, system_record, tell_about
from push.models import NotificationKind
from push.recipients import answerable_at_level, holders_of
from sync.changes import changes_collected

SUPERVISED_STATES = (State.DISPATCHED, State.IN_PROGRESS, State.RETURNED)
BATCH = 500


@dataclass
class TickResult:
    marked_overdue: int = 0
    escalated: int = 0
    evidence_overdue: int = 0


def _locked(ids: list) -> list[Event]:
    return list(Event.objects.select_for_update().filter(pk__in=ids).order_by("pk"))


def supervision_tick(now: datetime | None = None) -> TickResult:
    now = now or timezone.now()
    result = TickResult()
    grace = grace_period()

    newly_overdue = Event.objects.filter(state__in=SUPERVISED_STATES, overdue=False, deadline_at__lt=now)
    while ids := list(newly_overdue.values_list("pk", flat=True)[:BATCH]):
        with transaction.atomic(), changes_collected():  # each event's change rows once per batch
            for event in _locked(ids):
                if event.overdue or event.deadline_at is None or event.deadline_at >= now:
                    continue  # changed since we listed it
                event.overdue = True
                event.overdue_at = now
                system_record(
                    event,
                    action="overdue",
                    now=now,
                    note="已超过处置时限",
                    fields=("overdue", "overdue_at"),
                    data={"deadline_at": wire_time(event.deadline_at)},
                )
                event.urge_count += 1
                system_record(event, action="urge", now=now, note="系统自动催办：事件已超期", fields=("urge_count",))
                tell_about(event, NotificationKind.URGE, holders_of(event), "超期催办")
                result.marked_overdue += 1

    # An overdue event is escalated when a grace period has passed since it became
    # overdue or since its last escalation, whichever is later.
    due = Event.objects.filter(state__in=SUPERVISED_STATES, overdue=True, level__lt=Level.DISTRICT).filter(
        Q(last_escalated_at__isnull=True, overdue_at__lte=now - grace)
        | Q(last_escalated_at__isnull=False, last_escalated_at__lte=now - grace, overdue_at__lte=now - grace)
    )
    processed: set = set()
    while ids := [pk for pk in due.values_list("pk", flat=True)[:BATCH] if pk not in processed]:
        with transaction.atomic(), changes_collected():
            for event in _locked(ids):
                processed.add(event.pk)
                last = max(filter(None, [event.overdue_at, event.last_escalated_at]))
                if not event.overdue or event.level >= Level.DISTRICT or last > now - grace:
                    continue
                from_level = event.level
                event.level += 1
                event.auto_escalations += 1
                event.last_escalated_at = now
                system_record(
                    event,
                    action="escalate",
                    now=now,
                    note="超期未办结，自动升级",
                    data={"from_level": from_level, "to_level": event.level, "automatic": True},
                    fields=("level", "auto_escalations", "last_escalated_at"),
                )
                tell_about(event, NotificationKind.ESCALATION, answerable_at_level(event), "超期自动升级")
                result.escalated += 1

    # Reports and handles waiting for photos that never came go to the secretary's
    # approval queue anyway, the reason in their history (docs/workflow.md, "Photo evidence").
    waited = Event.objects.filter(state=State.AWAITING_EVIDENCE, handled_at__lte=now - evidence_wait())
    while ids := list(waited.values_list("pk", flat=True)[:BATCH]):
        with transaction.atomic():
            for event in _locked(ids):
                if event.state != State.AWAITING_EVIDENCE or event.handled_at > now - evidence_wait():
                    continue  # its photos arrived since we listed it
                evidence_overdue(event=event, now=now)
                result.evidence_overdue += 1
    return result
