"""Reads for events: what a user may see, the fetch-and-authorize helper, the role queues."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db.models import Q, QuerySet

from backend.accounts.models import Role, User
from backend.accounts.scope import Scope, scope_of
from backend.core.errors import ApiError
from backend.events.models import Category, Event, EventAction, Level, Satisfaction, State


def q_events(scope: Scope) -> Q:
    """Events a user may see: their territory, what they hold or reported."""
    if scope.district_wide:
        return Q()
    condition = Q(reporter_id=scope.user_id) | Q(holder_user_id=scope.user_id)
    if scope.grid_ids:
        condition |= Q(grid_id__in=scope.grid_ids)
    if scope.community_ids:
        condition |= Q(community_id__in=scope.community_ids)
    if scope.street_ids:
        condition |= Q(street_id__in=scope.street_ids)
    if scope.platform_ids:
        condition |= Q(holder_platform_id__in=scope.platform_ids)
    if scope.department_ids:
        condition |= Q(holder_department_id__in=scope.department_ids)
    return condition


def events_visible_to(user: User) -> QuerySet[Event]:
    return Event.objects.filter(q_events(scope_of(user))).select_related("category", "grid")


def access_event(user: User, event_id: UUID | str, *, lock: bool = False) -> Event:
    """The event if the user may see it, else 404 (existence does not leak). With
    ``lock`` the row is locked for the rest of the transaction (PostgreSQL), so two
    dispatchers acting at once are serialised and the second sees the new state."""
    events = Event.objects.filter(q_events(scope_of(user)))
    if lock:
        events = events.select_for_update(of=("self",))
    event = events.select_related("category", "grid").filter(pk=event_id).first()
    if event is None:
        raise ApiError("event_not_found")
    return event


def event_history(event: Event) -> QuerySet[EventAction]:
    return EventAction.objects.filter(event=event).select_related("actor").order_by("seq")


QUEUES = {
    "my_tasks": "我的任务 (网格员/处置人员)",
    "to_triage": "待分流 (调度员/区指挥中心)",
    "to_approve": "待结案审核 (社区书记/区指挥中心)",
    "overdue": "超期 (调度员/区指挥中心)",
    "my_reports": "我的上报",
    "all": "辖区内全部",
}


def queue_condition(queue: str, scope: Scope) -> Q:
    user_id = scope.user_id
    if queue == "my_tasks":
        held = Q(holder_user_id=user_id)
        if scope.platform_ids:
            held |= Q(holder_platform_id__in=scope.platform_ids)
        if scope.department_ids:
            held |= Q(holder_department_id__in=scope.department_ids)
        return held & Q(state__in=[State.DISPATCHED, State.IN_PROGRESS])
    if queue == "to_triage":
        condition = Q(pk__in=[])
        triage_states = [State.REPORTED, State.ACCEPTED, State.RETURNED]
        pending = Q(state=State.IN_PROGRESS, extension_requested_until__isnull=False)
        unsatisfied = Q(state=State.EVALUATED, satisfaction=Satisfaction.UNSATISFIED)
        if Role.DISPATCHER in scope.roles and scope.street_ids:
            condition |= Q(street_id__in=scope.street_ids, level__lte=Level.STREET) & (
                Q(state__in=triage_states) | pending | unsatisfied
            )
        if Role.COMMANDER in scope.roles:
            condition |= Q(level=Level.DISTRICT, state__in=triage_states) | Q(park_requested=True)
        return condition
    if queue == "to_approve":
        condition = Q(pk__in=[])
        if Role.SECRETARY in scope.roles and scope.community_ids:
            condition |= Q(community_id__in=scope.community_ids, state=State.HANDLED, level__lt=Level.DISTRICT)
        if Role.COMMANDER in scope.roles:
            condition |= Q(state=State.HANDLED, level=Level.DISTRICT)
        return condition
    if queue == "overdue":
        return Q(overdue=True, state__in=[State.DISPATCHED, State.IN_PROGRESS, State.RETURNED])
    if queue == "my_reports":
        return Q(reporter_id=user_id)
    if queue == "all":
        return Q()
    raise ApiError("validation_error", detail={"queue": f"one of {', '.join(QUEUES)}"})


def event_queue(
    user: User,
    *,
    queue: str,
    state: str | None = None,
    category: str | None = None,
    grid_id: int | None = None,
    reported_from: datetime | None = None,
    reported_to: datetime | None = None,
    overdue: bool | None = None,
) -> QuerySet[Event]:
    scope = scope_of(user)
    events = Event.objects.filter(q_events(scope)).filter(queue_condition(queue, scope))
    if state:
        events = events.filter(state=state)
    if category:
        events = events.filter(Q(category__code=category) | Q(category__parent__code=category))
    if grid_id is not None:
        events = events.filter(grid_id=grid_id)
    if reported_from:
        events = events.filter(reported_at__gte=reported_from)
    if reported_to:
        events = events.filter(reported_at__lt=reported_to)
    if overdue is not None:
        events = events.filter(overdue=overdue)
    return events.select_related("category", "grid").order_by("-reported_at", "pk")


def categories() -> QuerySet[Category]:
    return Category.objects.filter(active=True).select_related("parent").order_by("code")
