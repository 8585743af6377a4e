"""The KPI figures of docs/kpis.md, aggregated from ``EventFact``: one grouped statement
per day family (reported, closed, due), one for the overdue count and one reading the
durations for the percentiles, whatever the number of points or child units."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Aggregate, BigIntegerField, Case, Count, IntegerField, Max, Q, Sum, Value, When

from backend.events.models import Category, Satisfaction, Source, State
from backend.stats.models import ROLLUP_COLUMNS, DayRollup, EventFact
from backend.stats.periods import Period

DURATIONS = ("sign", "handle", "close")
PERCENTILE_WORK_MEM = "64MB"
PERCENTILE_CACHE_SECONDS = 7 * 86400  # a key never goes stale (it names its rows' stamps): this only frees space
SOURCES = tuple(Source.values)
NOT_VALID = (State.MERGED, State.REJECTED)


def unit_q(kind: str, unit_id: int | None, unit=None) -> Q:
    if kind == "stationed":  # the department's events in the street, held directly or by this unit
        return Q(department_id=unit.department_id, street_id=unit.street_id)
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


VALID = ~Q(state__in=NOT_VALID)
DISPATCHED = VALID & Q(dispatched=True)
RATED_WELL = (Satisfaction.SATISFIED, Satisfaction.BASIC)
DURATION_COLUMNS = tuple(f"{name}_{suffix}" for name in DURATIONS for suffix in ("s", "ws"))

# Each figure belongs to the day column that places it in a period (docs/kpis.md): one
# statement per family, grouped by that day (and the unit of a breakdown), then the days
# summed into each point of the answer. Means are kept as sums and counts so they add up.
FAMILIES: dict[str, tuple[Q, dict]] = {
    "reported_day": (
        Q(),
        {
            "new": Count("pk"),
            **{f"src_{source}": Count("pk", filter=Q(source=source)) for source in SOURCES},
            "merged": Count("pk", filter=Q(state=State.MERGED)),
            "rejected": Count("pk", filter=Q(state=State.REJECTED)),
            "closed_of_new": Count("pk", filter=VALID & Q(closed_day__isnull=False)),
            "dispatched": Count("pk", filter=DISPATCHED),
            "reworked": Count("pk", filter=DISPATCHED & Q(reworks__gt=0)),
            "returned": Count("pk", filter=DISPATCHED & Q(returns__gt=0)),
            "extended": Count("pk", filter=DISPATCHED & Q(extensions__gt=0)),
            "parked": Count("pk", filter=Q(state=State.PARKED)),
            "urges": Sum("urges"),
            "escalations": Sum("escalations"),
        },
    ),
    "closed_day": (
        Q(),
        {
            "closed": Count("pk"),
            "evaluated": Count("pk", filter=~Q(satisfaction="")),
            "satisfied": Count("pk", filter=Q(satisfaction__in=RATED_WELL)),
            **{f"sum_{column}": Sum(column) for column in DURATION_COLUMNS},
            **{f"n_{column}": Count(column) for column in DURATION_COLUMNS},
        },
    ),
    "due_day": (
        ~Q(state__in=(*NOT_VALID, State.PARKED)),
        {
            "due": Count("pk"),
            "due_closed": Count("pk", filter=Q(closed_day__isnull=False)),
            "due_on_time": Count("pk", filter=Q(closed_day__isnull=False, on_time=True)),
        },
    ),
}
COUNTED = [name for _, aggregates in FAMILIES.values() for name in aggregates]


class Percentile90(Aggregate):
    """PostgreSQL's nearest-rank 90th percentile (``percentile_disc`` is the first value
    whose cumulative share reaches 0.9: ``p90`` below, computed where the rows are)."""

    function = "percentile_disc"
    template = "%(function)s(0.9) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = BigIntegerField()


def _percentiles(closed, group: str | None, points: list[Period], index) -> dict:
    """``{key: [{column: p90} for each point]}`` of the closed events' durations: in the
    database on PostgreSQL, over the values read out elsewhere (SQLite has no percentile)."""
    found: dict = defaultdict(lambda: [{} for _ in points])
    if connection.vendor == "postgresql":
        named = {f"p_{column}": Percentile90(column) for column in DURATION_COLUMNS}
        keys = [*([group] if group else []), *(["point"] if len(points) > 1 else [])]
        if len(points) > 1:
            point = Case(
                *[When(closed_day__gte=p.start, closed_day__lte=p.end, then=Value(i)) for i, p in enumerate(points)],
                output_field=IntegerField(),
            )
            closed = closed.annotate(point=point)
        # Each percentile sorts its group's values: in memory rather than spilled to disk
        # (a district's year is six sorts of 170,000 values; the default 4 MB spilled them).
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{PERCENTILE_WORK_MEM}'")
            rows = list(closed.values(*keys).annotate(**named).order_by()) if keys else [closed.aggregate(**named)]
        for row in rows:
            key = row[group] if group else None
            found[key][row.get("point", 0)] = {c: row[f"p_{c}"] for c in DURATION_COLUMNS}
        return found
    values: dict = defaultdict(lambda: [defaultdict(list) for _ in points])
    for row in closed.values_list(group or "closed_day", "closed_day", *DURATION_COLUMNS).iterator(chunk_size=5000):
        bucket = values[row[0] if group else None][index(row[1])]
        for column, value in zip(DURATION_COLUMNS, row[2:]):
            if value is not None:
                bucket[column].append(value)
    for key, per_point in values.items():
        found[key] = [{column: p90(lists[column]) for column in DURATION_COLUMNS} for lists in per_point]
    return found


def _point_index(points: list[Period]):
    """day -> index of the point holding it (points are consecutive and in order)."""
    starts = [point.start for point in points]

    def index(day) -> int:
        return bisect_right(starts, day) - 1

    return index


def _fact_sums(base: Q, period: Period, group: str | None, points: list[Period], index) -> dict:
    sums: dict = defaultdict(lambda: [defaultdict(int) for _ in points])
    for column, (condition, aggregates) in FAMILIES.items():
        by_day = len(points) > 1  # one point: no need to split it by day
        keys = [*([group] if group else []), *([column] if by_day else [])]
        facts = EventFact.objects.filter(
            base & condition, **{f"{column}__gte": period.start, f"{column}__lte": period.end}
        )
        named = {f"a_{name}": aggregate for name, aggregate in aggregates.items()}
        # values() with no field would group by every column: a plain aggregate then.
        rows = facts.values(*keys).annotate(**named).order_by() if keys else [facts.aggregate(**named)]
        for row in rows:
            target = sums[row[group] if group else None][index(row[column]) if by_day else 0]
            for name in aggregates:
                target[name] += row[f"a_{name}"] or 0
    return sums


def _rollup_sums(rollup: Q, period: Period, group: str | None, points: list[Period], index) -> tuple[dict, dict]:
    """The same sums from the daily rollups, one statement (grouped by day for a series),
    and ``{(key, point): (highest stamp, rows)}``: what the p90s are cached under."""
    sums: dict = defaultdict(lambda: [defaultdict(int) for _ in points])
    versions: dict = {}
    by_day = len(points) > 1
    keys = [*([group] if group else []), *(["day"] if by_day else [])]
    days = DayRollup.objects.filter(rollup, day__gte=period.start, day__lte=period.end)
    named = {f"a_{name}": Sum(name) for name in ROLLUP_COLUMNS}
    named.update(a_stamp=Max("stamp"), a_rows=Count("pk"))
    rows = days.values(*keys).annotate(**named).order_by() if keys else [days.aggregate(**named)]
    for row in rows:
        key, point = row[group] if group else None, index(row["day"]) if by_day else 0
        target = sums[key][point]
        for name in ROLLUP_COLUMNS:
            value = row[f"a_{name}"]
            if value:
                target[name] += value
        stamp, count = versions.get((key, point), (0, 0))
        versions[key, point] = (max(stamp, row["a_stamp"] or 0), count + row["a_rows"])
    return sums, versions


def _cached_percentiles(closed, rollup: Q, group: str | None, points: list[Period], versions: dict) -> dict:
    """The p90s of a district's or a street's points, cached under the highest stamp and
    the count of the rollup rows of each point (``DayRollup.stamp``): a point any fact
    change touched has a new stamp or fewer rows, so it is a new key and is sorted again;
    the others are read from the cache. Exact: a point's p90s depend only on the facts
    closed on its days in its unit, and each of those days' rollups is recomputed, with a
    new stamp, whenever one of those facts changes."""
    unit = "".join(ch for ch in str(rollup) if ch.isalnum() or ch == "_")  # "ANDstreet_id5"
    prefix = f"stats:p90:{unit}:{group}"

    def cache_key(key, i: int) -> str:
        stamp, count = versions.get((key, i), (0, 0))
        return f"{prefix}:{key}:{points[i].start}:{points[i].end}:{stamp}:{count}"

    wanted = {cache_key(key, i): (key, i) for key, i in versions}
    cached = cache.get_many(list(wanted))
    found: dict = defaultdict(lambda: [{} for _ in points])
    for name, value in cached.items():
        key, i = wanted[name]
        found[key][i] = value
    missing = sorted({i for name, (_, i) in wanted.items() if name not in cached})
    if missing:
        some = [points[i] for i in missing]
        within = Q()
        if len(some) < len(points):
            within = Q(pk__in=[])
            for point in some:
                within |= Q(closed_day__gte=point.start, closed_day__lte=point.end)
        computed = _percentiles(closed.filter(within), group, some, _point_index(some))
        for key, per_point in computed.items():
            for j, i in enumerate(missing):
                found[key][i] = per_point[j]
        # Every point asked for is stored, those without a closure too ({}: no p90).
        fresh = {name: found[key][i] for name, (key, i) in wanted.items() if name not in cached}
        cache.set_many(fresh, PERCENTILE_CACHE_SECONDS)
    return found


def figures_grouped(base: Q, period: Period, group: str | None, points: list[Period], rollup: Q | None = None) -> dict:
    """``{key: [figures of each point]}``: key None without ``group``, else one key per
    value of the ``group`` column (``street_id``, ``grid_id``…) that has facts.
    ``rollup``: the same units as ``base`` said of ``DayRollup`` (a district or a street,
    no category), whose days are then summed instead of the facts'."""
    index = _point_index(points)
    versions = None
    if rollup is not None and group in (None, "street_id"):
        sums, versions = _rollup_sums(rollup, period, group, points, index)
    else:
        sums = _fact_sums(base, period, group, points, index)
    overdue = EventFact.objects.filter(base, overdue_now=True)
    if group:
        overdue_by = dict(overdue.values(group).annotate(n=Count("pk")).order_by().values_list(group, "n"))
    else:
        overdue_by = {None: overdue.count()}
    closed = EventFact.objects.filter(base, closed_day__gte=period.start, closed_day__lte=period.end)
    if versions is None:
        durations = _percentiles(closed, group, points, index)
    else:
        durations = _cached_percentiles(closed, rollup, group, points, versions)
    answer = {}
    for key in set(sums) | set(k for k, n in overdue_by.items() if n):
        answer[key] = [_figures(sums[key][i], durations[key][i], overdue_by.get(key, 0)) for i in range(len(points))]
    return answer


def _mean(row: dict, column: str) -> float | None:
    count = row[f"n_{column}"]
    return row[f"sum_{column}"] / count if count else None


def _figures(row: dict, percentiles: dict, overdue_now: int) -> dict:
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
            "mean": _hours(_mean(row, f"{name}_s")),
            "p90": _hours(percentiles.get(f"{name}_s")),
            "working_mean": _hours(_mean(row, f"{name}_ws")),
            "working_p90": _hours(percentiles.get(f"{name}_ws")),
        }
    figures.update(
        evaluated=row["evaluated"],
        satisfied=row["satisfied"],
        satisfaction_rate=_rate(row["satisfied"], row["evaluated"]),
        overdue_now=overdue_now,
        urges=row["urges"],
        escalations=row["escalations"],
    )
    return figures


def figures_by(base: Q, period: Period, group: str | None = None, rollup: Q | None = None) -> dict:
    """``{key: figures}`` over the whole period (see ``figures_grouped``)."""
    return {key: figures[0] for key, figures in figures_grouped(base, period, group, [period], rollup).items()}


def empty_figures() -> dict:
    return _figures(defaultdict(int), {}, 0)


def figures_of(base: Q, period: Period, rollup: Q | None = None) -> dict:
    return figures_by(base, period, None, rollup).get(None) or empty_figures()


def series_of(base: Q, period: Period, points: list[Period], rollup: Q | None = None) -> list[dict]:
    if not points:
        return []
    return figures_grouped(base, period, None, points, rollup).get(None) or [empty_figures() for _ in points]


def rollup_q(kind: str, unit_id: int | None, category: Category | None) -> Q | None:
    """The unit said of ``DayRollup`` (a street's days), or None where the rollups cannot
    answer (a category, or a unit finer than a street or across streets)."""
    if category is not None:
        return None
    if kind == "district":
        return Q()
    if kind == "street":
        return Q(street_id=unit_id)
    return None
