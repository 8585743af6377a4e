"""Reads for events: what a user may see, the fetch-and-authorize helper, the role queues."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from uuid import UUID

from django.db import connection
from django.db.models import Q, QuerySet

from backend.accounts.models import User
from backend.accounts.scope import Scope, scope_of
from backend.core.errors import ApiError
from backend.events.access import QUEUES as ACCESS_QUEUES
from backend.events.access import can_see, q_queue, q_visible
from backend.events.models import Category, Event, EventAction
from backend.fastpath.statements import Select
from backend.territory.models import Grid


def q_events(scope: Scope) -> Q:
    """Events a user may see (``access.q_visible``: their territory, what they hold or reported)."""
    return q_visible(scope)


def events_visible_to(user: User) -> QuerySet[Event]:
    return Event.objects.filter(q_events(scope_of(user))).select_related("category", "grid")


# The detail look-up by primary key, written once (every step and every detail request
# makes it); who may see the event is then the Python face of the same rule
# (``access.can_see``, held equal to ``q_visible`` by tests/test_access.py).
EVENT_BY_ID = dict(joins=["{1}.id = {0}.category_id", "{2}.id = {0}.grid_id"], where="{0}.id = %s", defer=["polygon"])
EVENT_WITH_CATEGORY_AND_GRID = Select(Event, Category, Grid, **EVENT_BY_ID)
EVENT_WITH_CATEGORY_AND_GRID_LOCKED = Select(Event, Category, Grid, lock=True, **EVENT_BY_ID)


@functools.cache
def _read_along() -> dict:
    """What a step's tail asks of the event, read with it instead of by statements of
    their own (issue 24: fewer round trips a step): the reporter its answer shows
    (``reporters.person_sql``), the followers it tells (``tips.services
    .followers_to_tell_sql``) and the handlers of the unit holding it
    (``push.recipients.holders_sql``), each rule's SQL written once where the rule lives."""
    from backend.accounts.models import RoleAssignment
    from backend.events.models import Source
    from backend.events.reporters import person_sql
    from backend.tips.models import Follow
    from backend.tips.services import followers_to_tell_sql
    from push.recipients import holders_sql

    reporter = "(" + person_sql("{0}.reporter_id", row="{json_array}") + ")"
    told = f"CASE WHEN {{0}}.source = '{Source.PUBLIC_TIP.value}' THEN {{0}}.reporter_id END"
    followers = "(SELECT {json_agg}(t.id) FROM (" + followers_to_tell_sql("{0}.id", told) + ") t)"
    holders = holders_sql("{0}")
    models_ = {"User": User, "RoleAssignment": RoleAssignment, "Follow": Follow}
    locked = [reporter, followers, holders]
    return {
        False: Select(Event, Category, Grid, extra=[reporter], extra_models=models_, **EVENT_BY_ID),
        True: Select(Event, Category, Grid, lock=True, extra=locked, extra_models=models_, **EVENT_BY_ID),
    }


def access_event(user: User, event_id: UUID | str, *, lock: bool = False) -> Event:
    """The event if the user may see it, else 404 (existence does not leak). With
    ``lock`` the row is locked for the rest of the transaction (PostgreSQL), so two
    dispatchers acting at once are serialised and the second sees the new state.

    The event comes with its reporter as answers show them (``_reporter``, None when it
    has none) and, locked, the followers a step tells (``_followers_to_tell``) and the
    handlers of the unit holding it (``_holders``): read in the same statement, used by
    ``reporters.reporters_shown``, ``tips.services.tell_followers`` and
    ``push.recipients.holders_of`` (which reads them again if the step changed the
    holder)."""
    pk = Event._meta.pk
    found = _read_along()[lock].one([pk.get_db_prep_value(pk.to_python(event_id), connection)])
    if found is None or not can_see(scope_of(user), found[0]):
        raise ApiError("event_not_found")
    from backend.events.reporters import person_of

    event, reporter = found[0], found[3]
    event._reporter = person_of(reporter) if reporter else None
    if lock:
        from push.recipients import holder_unit

        event._followers_to_tell = set(found[4] or ())
        event._holders = (holder_unit(event), found[5] or ())
    return event


def event_history(event: Event) -> QuerySet[EventAction]:
    return EventAction.objects.filter(event=event).select_related("actor").order_by("seq")


QUEUES = {name: queue.label for name, queue in ACCESS_QUEUES.items()}


def queue_condition(queue: str, scope: Scope) -> Q:
    """The queue's condition, derived from the transition table (``access.QUEUES``)."""
    return q_queue(queue, scope)


EVENT_NUMBER = re.compile(r"^SC\d{4,11}$", re.IGNORECASE)


def q_search(text: str) -> Q:
    """Events matching a search: by number when the text is one (``SC2026…``, whole
    or its beginning), else by description or address. ``icontains`` is
    ``UPPER(col) LIKE UPPER('%…%')``: on PostgreSQL the trigram indexes of migration
    0007 serve it; SQLite scans (development and tests only)."""
    text = text.strip()
    if EVENT_NUMBER.match(text):
        number = text.upper()
        return Q(number=number) if len(number) == 13 else Q(number__startswith=number)
    return Q(description__icontains=text) | Q(address_text__icontains=text)


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
    text: str | None = None,
    changed_from: datetime | None = None,
) -> QuerySet[Event]:
    scope = scope_of(user)
    events = Event.objects.filter(q_events(scope)).filter(queue_condition(queue, scope))
    if text:
        events = events.filter(q_search(text))
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
    events = events.select_related("category", "grid")
    if changed_from:  # what changed lately (the console's last hour): newest change first
        return events.filter(updated_at__gte=changed_from).order_by("-updated_at", "pk")
    return events.order_by("-reported_at", "pk")


def categories() -> QuerySet[Category]:
    return Category.objects.filter(active=True).select_related("parent").order_by("code")
