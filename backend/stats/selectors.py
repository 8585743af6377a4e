"""The KPI figures of docs/kpis.md, aggregated from ``EventFact`` in one statement per
period (plus one for the percentiles), for one unit or grouped by child unit."""

from __future__ import annotations

import math
from collections import defaultdict

from django.db.models import Avg, Count, Q, Sum

from backend.events.models import Category, Satisfaction, Source, State
from backend.stats.models import EventFact
from backend.stats.periods import Period

DURATIONS = ("sign", "handle", "close")
SOURCES = tuple(Source.values)
NOT_VALID = (State.MERGED, State.REJECTED)


def unit_q(kind: str, unit_id: int | None) -> Q:
    if kind == "district":
        return Q()
    if kind == "grid_worker":
        return Q(reporter_id=unit_id) | Q(holder_user_id=unit_id)
    return Q(**{f"{kind}_id": unit_id})


def category_q(category: Category | None) -> Q:
    if category is None:
        return Q()
    return Q(category_id=category.pk) | Q(parent_category_id=category.pk)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def p90(values: list[int]) -> float | None:
    """Nearest-rank 90th percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _aggregates(period: Period) -> dict:
    reported = Q(reported_day__gte=period.start, reported_day__lte=period.end)
    valid = reported & ~Q(state__in=NOT_VALID)
    closed = Q(closed_day__gte=period.start, closed_day__lte=period.end)
    due = Q(due_day__gte=period.start, due_day__lte=period.end) & ~Q(state__in=(*NOT_VALID, State.PARKED))
    dispatched = valid & Q(dispatched=True)
    evaluated = closed & ~Q(satisfaction="")
    aggregates = {
        "new": Count("pk", filter=reported),
        **{f"src_{source}": Count("pk", filter=reported & Q(source=source)) for source in SOURCES},
        "merged": Count("pk", filter=reported & Q(state=State.MERGED)),
        "rejected": Count("pk", filter=reported & Q(state=State.REJECTED)),
        "closed": Count("pk", filter=closed),
        "closed_of_new": Count("pk", filter=valid & Q(closed_day__isnull=False)),
        "due": Count("pk", filter=due),
        "due_closed": Count("pk", filter=due & Q(closed_day__isnull=False)),
        "due_on_time": Count("pk", filter=due & Q(closed_day__isnull=False, on_time=True)),
        "dispatched": Count("pk", filter=dispatched),
        "reworked": Count("pk", filter=dispatched & Q(reworks__gt=0)),
        "returned": Count("pk", filter=dispatched & Q(returns__gt=0)),
        "extended": Count("pk", filter=dispatched & Q(extensions__gt=0)),
        "parked": Count("pk", filter=reported & Q(state=State.PARKED)),
        "evaluated": Count("pk", filter=evaluated),
        "satisfied": Count("pk", filter=evaluated & Q(satisfaction__in=(Satisfaction.SATISFIED, Satisfaction.BASIC))),
        "overdue_now": Count("pk", filter=Q(overdue_now=True)),
        "urges": Sum("urges", filter=reported),
        "escalations": Sum("escalations", filter=reported),
    }
    for name in DURATIONS:
        aggregates[f"{name}_mean"] = Avg(f"{name}_s", filter=closed)
        aggregates[f"{name}_working_mean"] = Avg(f"{name}_ws", filter=closed)
    # Prefixed: an aggregate may not share its name with a column (``dispatched``).
    return {f"a_{name}": aggregate for name, aggregate in aggregates.items()}


def _touching(period: Period) -> Q:
    """Facts that count for some figure of the period."""
    return (
        Q(reported_day__gte=period.start, reported_day__lte=period.end)
        | Q(closed_day__gte=period.start, closed_day__lte=period.end)
        | Q(due_day__gte=period.start, due_day__lte=period.end)
        | Q(overdue_now=True)
    )


def _figures(row: dict, percentiles: dict) -> dict:
    row = {name[2:]: value for name, value in row.items() if name.startswith("a_")}
    new = row["new"]
    valid = new - row["merged"] - row["rejected"]
    figures = {
        "new": new,
        "new_by_source": {source: row[f"src_{source}"] for source in SOURCES},
        "tip_share": _rate(row[f"src_{Source.PUBLIC_TIP}"], new),
        "merged": row["merged"],
        "rejected": row["rejected"],
        "valid": valid,
        "closed": row["closed"],
        "closed_of_new": row["closed_of_new"],
        "completion_rate": _rate(row["closed_of_new"], valid),
        "due": row["due"],
        "due_closed": row["due_closed"],
        "closure_rate": _rate(row["due_closed"], row["due"]),
        "due_on_time": row["due_on_time"],
        "on_time_rate": _rate(row["due_on_time"], row["due"]),
        "dispatched": row["dispatched"],
        "reworked": row["reworked"],
        "rework_rate": _rate(row["reworked"], row["dispatched"]),
        "returned": row["returned"],
        "return_rate": _rate(row["returned"], row["dispatched"]),
        "extended": row["extended"],
        "extension_rate": _rate(row["extended"], row["dispatched"]),
        "parked": row["parked"],
    }
    for name in DURATIONS:
        figures[f"{name}_hours"] = {
            "mean": _hours(row[f"{name}_mean"]),
            "p90": _hours(p90(percentiles.get(f"{name}_s", []))),
            "working_mean": _hours(row[f"{name}_working_mean"]),
            "working_p90": _hours(p90(percentiles.get(f"{name}_ws", []))),
        }
    figures.update(
        evaluated=row["evaluated"],
        satisfied=row["satisfied"],
        satisfaction_rate=_rate(row["satisfied"], row["evaluated"]),
        overdue_now=row["overdue_now"],
        urges=row["urges"] or 0,
        escalations=row["escalations"] or 0,
    )
    return figures


DURATION_COLUMNS = tuple(f"{name}_{suffix}" for name in DURATIONS for suffix in ("s", "ws"))


def figures_by(base: Q, period: Period, group: str | None = None) -> dict:
    """``{key: figures}``: one key (None) without ``group``, else one per value of the
    ``group`` column (``street_id``, ``community_id``, ``grid_id``…) that has facts."""
    facts = EventFact.objects.filter(base & _touching(period))
    aggregates = _aggregates(period)
    if group:
        rows = {row[group]: row for row in facts.values(group).annotate(**aggregates).order_by()}
    else:
        rows = {None: facts.aggregate(**aggregates)}
    percentiles: dict = defaultdict(lambda: defaultdict(list))
    closed = facts.filter(closed_day__gte=period.start, closed_day__lte=period.end)
    for values in closed.values_list(group or "pk", *DURATION_COLUMNS).iterator(chunk_size=5000):
        key = values[0] if group else None
        bucket = percentiles[key]
        for column, value in zip(DURATION_COLUMNS, values[1:]):
            if value is not None:
                bucket[column].append(value)
    return {key: _figures(row, percentiles[key]) for key, row in rows.items()}


def empty_figures() -> dict:
    row = {name: 0 for name in _aggregates(Period("day", None, None))}
    for name in DURATIONS:
        row[f"a_{name}_mean"] = row[f"a_{name}_working_mean"] = None
    return _figures(row, {})


def figures_of(base: Q, period: Period) -> dict:
    return figures_by(base, period)[None]
