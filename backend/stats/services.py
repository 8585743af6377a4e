"""The worker's part (``stats_tick``) and the rebuild: facts of changed events, the daily
rollups of the days they touch, then the colours of the grids and communities they are in (and were in)."""

from __future__ import annotations

from django.utils import timezone

from backend.stats.colours import recompute_all, recompute_units
from backend.stats.facts import rebuild_facts, refresh_facts
from backend.stats.models import DirtyEvent, EventFact, UnitKind
from backend.stats.rollups import DAY_COLUMNS, rebuild_rollups, refresh_rollups, touched

UNIT_AND_DAYS = ("grid_id", "community_id", "street_id", *DAY_COLUMNS)

# The rules' windows slide with time (30 days of tips, of ratings) with no event
# changing: the worker recomputes every unit this often too.
SWEEP_SECONDS = 3600


def stats_tick(limit: int = 5000) -> int:
    """One pass: returns the number of events whose facts were recomputed."""
    rows = list(DirtyEvent.objects.order_by("pk").values_list("pk", "event_id")[:limit])
    if rows:
        ids = list(dict.fromkeys(event_id for _, event_id in rows))
        before = list(EventFact.objects.filter(event_id__in=ids).values_list(*UNIT_AND_DAYS))
        after = [tuple(getattr(fact, name) for name in UNIT_AND_DAYS) for fact in refresh_facts(ids)]
        units, community_of = set(), {}
        for grid_id, community_id, *_ in (*before, *after):
            units |= {(UnitKind.GRID, grid_id), (UnitKind.COMMUNITY, community_id)}
            community_of[grid_id] = community_id
        refresh_rollups(touched(row[2:] for row in (*before, *after)))
        DirtyEvent.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
        recompute_units(units, community_of=community_of)
    return len(rows)


def colour_sweep() -> int:
    """Every grid's and community's colour again (the worker, every SWEEP_SECONDS)."""
    return recompute_all(timezone.now())


def stats_rebuild(progress=None) -> int:
    """Every fact from the raw events, then every colour (``manage.py rebuild_stats``)."""
    count = rebuild_facts(progress)
    rebuild_rollups()
    recompute_all(timezone.now())
    return count
