"""An event's facts (``EventFact``): what every KPI reads of it, computed from the event
and its history alone, so they can be recomputed at any time (docs/kpis.md).

The write path only appends the event's id to ``DirtyEvent`` (``mark_dirty``, called
where the sync log is rewritten); the worker's ``refresh_dirty`` recomputes them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from backend.administration import calendar
from backend.events.deadlines import SHANGHAI
from backend.events.models import Event, EventAction, Source, State
from backend.fastpath.bulk import insert_instances, make
from backend.stats.models import DirtyEvent, EventFact

CLOSED_STATES = (State.CLOSED, State.EVALUATED)
CHUNK = 1000
# The history rows a fact needs: the deadline's moves and the escalations.
ACTIONS_READ = ("dispatch", "extension/approve", "escalate")


def local_day(moment: datetime | None) -> date | None:
    return moment.astimezone(SHANGHAI).date() if moment else None


def working_seconds(start: datetime, end: datetime, periods=None) -> int:
    """Working time between two moments, in the calendar of ``backend/events/deadlines.py``."""
    if end <= start:
        return 0
    periods = periods or settings.WORKING_HOURS
    is_workday = calendar.snapshot().is_workday  # once, not once a day (what ``deadlines.is_workday`` asks)
    first = start.astimezone(SHANGHAI)
    last = end.astimezone(SHANGHAI)
    total = timedelta()
    day = first.date()
    while day <= last.date():
        if is_workday(day):
            for opens_at, closes_at in periods:
                opens = max(datetime.combine(day, opens_at, SHANGHAI), first)
                closes = min(datetime.combine(day, closes_at, SHANGHAI), last)
                if closes > opens:
                    total += closes - opens
        day += timedelta(days=1)
    return int(total.total_seconds())


def _seconds(start: datetime | None, end: datetime | None) -> tuple[int | None, int | None]:
    if start is None or end is None or end < start:
        return None, None
    return int((end - start).total_seconds()), working_seconds(start, end)


def judged_deadline(actions: list[tuple[str, datetime, dict]]) -> datetime | None:
    """The deadline in force: set by each dispatch, moved by an extension approved while
    the deadline then in force had not passed (one approved late does not save it)."""
    deadline = None
    for action, at, data in actions:
        if action == "dispatch" and data.get("deadline_at"):
            deadline = parse_datetime(data["deadline_at"])
        elif action == "extension/approve" and data.get("until"):
            if deadline is None or at <= deadline:
                deadline = parse_datetime(data["until"])
    return deadline


def fact_of(
    event: Event,
    actions: list[tuple[str, datetime, dict]],
    parent_category_id: int | None,
    unit_department_id: int | None = None,
) -> EventFact:
    """``unit_department_id``: the department of the stationed unit holding the event, if
    one does (a stationed unit stands for its department at its street)."""
    closed = event.state in CLOSED_STATES and event.closed_at is not None
    deadline = judged_deadline(actions)
    sign_s, sign_ws = _seconds(event.dispatched_at, event.signed_at) if closed else (None, None)
    handle_s, handle_ws = _seconds(event.signed_at, event.handled_at) if closed else (None, None)
    close_s, close_ws = _seconds(event.reported_at, event.closed_at) if closed else (None, None)
    overdue_now = event.overdue and event.state not in (*CLOSED_STATES, State.MERGED, State.REJECTED)
    from backend.stats.colours import open_rules  # the colours read the facts: imported here, not at the top

    return make(  # EventFact(...) without Model.__init__: the worker makes one per changed event
        EventFact,
        event_id=event.pk,
        grid_id=event.grid_id,
        community_id=event.community_id,
        street_id=event.street_id,
        platform_id=event.holder_platform_id,
        department_id=event.holder_department_id or unit_department_id,
        holder_user_id=event.holder_user_id,
        reporter_id=event.reporter_id,
        category_id=event.category_id,
        parent_category_id=parent_category_id,
        source=event.source,
        state=event.state,
        severity=event.severity,
        reported_day=local_day(event.reported_at),
        closed_day=local_day(event.closed_at) if closed else None,
        due_day=local_day(deadline),
        # The deadline is the handling deadline (处置时限: supervision stops at 已处置), so an
        # event closed on time was last handled by it; the approval's own delay is not the holder's.
        on_time=closed and (deadline is None or (event.handled_at or event.closed_at) <= deadline),
        dispatched=event.dispatched_at is not None,
        overdue_now=overdue_now,
        colour_counted=bool(
            open_rules(event.state, overdue_now, event.severity, event.category_id, parent_category_id)
        ),
        reworks=event.rework_count,
        returns=event.return_count,
        extensions=event.extension_count,
        urges=event.urge_count,
        escalations=sum(1 for action, _, _ in actions if action == "escalate"),
        satisfaction=event.satisfaction or "",
        tip_address=event.address_text.strip() if event.source == Source.PUBLIC_TIP else "",
        sign_s=sign_s,
        handle_s=handle_s,
        close_s=close_s,
        sign_ws=sign_ws,
        handle_ws=handle_ws,
        close_ws=close_ws,
    )


def compute_facts(event_ids: Iterable) -> list[EventFact]:
    """The facts of these events, from the events and their history (a few queries)."""
    ids = list(event_ids)
    events = list(Event.objects.filter(pk__in=ids).select_related("category", "holder_unit"))
    history: dict = defaultdict(list)
    rows = (
        EventAction.objects.filter(event_id__in=[e.pk for e in events], action__in=ACTIONS_READ)
        .order_by("event_id", "seq")
        .values_list("event_id", "action", "server_at", "data")
    )
    for event_id, action, at, data in rows:
        history[event_id].append((action, at, data or {}))
    return [
        fact_of(e, history[e.pk], e.category.parent_id, e.holder_unit.department_id if e.holder_unit_id else None)
        for e in events
    ]


def refresh_facts(event_ids: Iterable) -> list[EventFact]:
    """Recompute and store the facts of these events (an event gone loses its fact)."""
    ids = list(dict.fromkeys(event_ids))
    stored = []
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        facts = compute_facts(part)
        with transaction.atomic():
            EventFact.objects.filter(event_id__in=part).delete()
            insert_instances(EventFact, facts)  # binary COPY on PostgreSQL (backend/fastpath)
        stored.extend(facts)
    return stored


def mark_dirty(event_ids: Iterable) -> None:
    """The write path's one statement: these events' facts are stale. Written by hand,
    not through ``bulk_create``: it runs in every push batch (``push_mutations_per_s``),
    where building a hundred model instances cost more than the insert itself."""
    if not settings.STATS_FACTS:
        return
    ids = [str(event_id) for event_id in event_ids]
    if not ids:
        return
    table = connection.ops.quote_name(DirtyEvent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one statement and one parameter, whatever the batch
            cursor.execute(f"INSERT INTO {table} (event_id) SELECT unnest(%s::uuid[])", [ids])
        else:  # SQLite keeps a UUID as its 32 hex digits (Django's own conversion)
            cursor.executemany(f"INSERT INTO {table} (event_id) VALUES (%s)", [(UUID(i).hex,) for i in ids])


def rebuild_facts(progress=None) -> int:
    """Every fact again from the raw events (``manage.py rebuild_stats``)."""
    EventFact.objects.all().delete()
    DirtyEvent.objects.all().delete()
    ids = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK):
        refresh_facts(ids[start : start + CHUNK])
        if progress:
            progress(min(start + CHUNK, len(ids)), len(ids))
    return len(ids)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, SHANGHAI)
