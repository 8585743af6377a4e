"""The worker's part (``stats_tick``) and the rebuild: facts of changed events, then
the colours of the grids and communities they are in (and were in)."""

from __future__ import annotations

from django.utils import timezone

from backend.stats.colours import recompute_all, recompute_units
from backend.stats.facts import rebuild_facts, refresh_facts
from backend.stats.models import DirtyEvent, EventFact, UnitKind

# The rules' windows slide with time (30 days of tips, of ratings) with no event
# changing: the worker recomputes every unit this often too.
SWEEP_SECONDS = 3600


def stats_tick(limit: int = 5000) -> int:
    """One pass: returns the number of events whose facts were recomputed."""
    rows = list(DirtyEvent.objects.order_by("pk").values_list("pk", "event_id")[:limit])
    if rows:
        ids = list(dict.fromkeys(event_id for _, event_id in rows))
        units = set()
        for grid_id, community_id in EventFact.objects.filter(event_id__in=ids).values_list("grid_id", "community_id"):
            units |= {(UnitKind.GRID, grid_id), (UnitKind.COMMUNITY, community_id)}
        for fact in refresh_facts(ids):
            units |= {(UnitKind.GRID, fact.grid_id), (UnitKind.COMMUNITY, fact.community_id)}
        DirtyEvent.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
        recompute_units(units)
    return len(rows)


def colour_sweep() -> int:
    """Every grid's and community's colour again (the worker, every SWEEP_SECONDS)."""
    return recompute_all(timezone.now())


def stats_rebuild(progress=None) -> int:
    """Every fact from the raw events, then every colour (``manage.py rebuild_stats``)."""
    count = rebuild_facts(progress)
    recompute_all(timezone.now())
    return count
