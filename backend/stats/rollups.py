"""Daily rollups (``DayRollup``): a street's figures of one day, summed from its facts.

They are never adjusted by deltas: the worker recomputes from the facts every (street,
day) a changed fact touched, before and after the change (its reported, closed and due
days), so a rollup always equals the sum of the facts it covers. ``rebuild_rollups``
recomputes them all (``rebuild_stats``)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Max, Q

from backend.fastpath.bulk import insert_rows
from backend.stats.models import ROLLUP_COLUMNS, DayRollup, EventFact

DAY_COLUMNS = ("reported_day", "closed_day", "due_day")


def touched(facts: Iterable[tuple]) -> set[tuple]:
    """The (street, day) pairs these facts count on; each fact given as
    ``(street_id, reported_day, closed_day, due_day)``."""
    return {(street_id, day) for street_id, *days in facts for day in days if day is not None}


def _sums(streets: list | None, days: list | None) -> dict[tuple, dict[str, int]]:
    """``{(street, day): {column: sum}}`` of the facts of these streets on these days
    (every street and day when None): one grouped statement per day column."""
    from backend.stats.selectors import FAMILIES

    sums: dict = defaultdict(lambda: dict.fromkeys(ROLLUP_COLUMNS, 0))
    for column, (condition, aggregates) in FAMILIES.items():
        within = Q(**{f"{column}__isnull": False})
        if streets is not None:
            within &= Q(street_id__in=streets, **{f"{column}__in": days})
        named = {f"a_{name}": aggregate for name, aggregate in aggregates.items()}
        facts = EventFact.objects.filter(condition & within)
        for row in facts.values("street_id", column).annotate(**named).order_by():
            target = sums[row["street_id"], row[column]]
            for name in aggregates:
                target[name] += row[f"a_{name}"] or 0
    return sums


def refresh_rollups(pairs: set[tuple]) -> None:
    """Recompute the rollups of these (street, day) pairs from the facts: every pair of
    the streets × days they span (a superset, still exact)."""
    if not pairs:
        return
    streets, days = sorted({s for s, _ in pairs}), sorted({d for _, d in pairs})
    _write(streets, days, _sums(streets, days))


def rebuild_rollups() -> int:
    sums = _sums(None, None)
    _write(None, None, sums)
    return len(sums)


def _write(streets: list | None, days: list | None, sums: dict) -> None:
    with transaction.atomic():
        # Above every stamp written before (a clock set back cannot reuse one).
        stamp = max(time.time_ns(), (DayRollup.objects.aggregate(m=Max("stamp"))["m"] or 0) + 1)
        if streets is None:
            DayRollup.objects.all().delete()
        else:
            DayRollup.objects.filter(street_id__in=streets, day__in=days).delete()
        rows = [
            (day, street_id, stamp, *(values[c] for c in ROLLUP_COLUMNS)) for (street_id, day), values in sums.items()
        ]
        insert_rows(DayRollup, ("day", "street_id", "stamp", *ROLLUP_COLUMNS), rows)
