"""Reads of residents' tips: events near a point (me-too discovery), and the likely
duplicates in a dispatcher's triage queue."""

from __future__ import annotations

import math
from datetime import timedelta

from shapely.geometry import box

from backend.events.labels import category_name
from backend.events.models import Category, Event
from backend.events.workflow import OPEN_STATES
from backend.territory.coords import to_wgs84
from backend.territory.geometry import grid_index
from backend.tips.public import building_level, me_too_counts, public_status

DEFAULT_RADIUS_M = 250
NEARBY_LIMIT = 50
EARTH_M = 6_371_000
# Likely duplicates: same category, within the category's radius, reported this close in time.
DUPLICATE_WINDOW = timedelta(days=7)


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Equirectangular distance: exact enough within a district."""
    x = math.radians(lng2 - lng1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return EARTH_M * math.hypot(x, y)


def bounding_box(lat: float, lng: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lng, max_lng) around the point."""
    dlat = math.degrees(radius_m / EARTH_M)
    dlng = math.degrees(radius_m / (EARTH_M * math.cos(math.radians(lat))))
    return lat - dlat, lat + dlat, lng - dlng, lng + dlng


def grids_touching(min_lat: float, max_lat: float, min_lng: float, max_lng: float) -> list[int]:
    index = grid_index()
    hits = index.tree.query(box(min_lng, min_lat, max_lng, max_lat), predicate="intersects")
    return [index.grid_ids[i] for i in hits.tolist()]


def nearby(*, lat: float, lng: float, crs: str = "wgs84", category: Category | None = None) -> dict:
    """Open events near a point: the grids the circle's box touches (from the in-memory
    grid index), then their open events by the grid queue index (grid, state), the box
    on their coordinates, and the exact distance. Only public fields."""
    lat, lng = to_wgs84(lat=lat, lng=lng, crs=crs)
    radius = category.duplicate_radius_m if category else DEFAULT_RADIUS_M
    min_lat, max_lat, min_lng, max_lng = bounding_box(lat, lng, radius)
    grids = grids_touching(min_lat, max_lat, min_lng, max_lng)
    items = []
    if grids:
        events = Event.objects.filter(
            grid_id__in=grids,
            state__in=OPEN_STATES,
            lat__gte=min_lat,
            lat__lte=max_lat,
            lng__gte=min_lng,
            lng__lte=max_lng,
        )
        if category is not None:
            events = events.filter(category=category)
        rows = list(events.values_list("id", "number", "category_id", "state", "lat", "lng")[:2000])
        found = sorted((d, row) for row in rows if (d := distance_m(lat, lng, row[4], row[5])) <= radius)[:NEARBY_LIMIT]
        names = {c.pk: c for c in Category.objects.filter(pk__in={row[2] for _, row in found})}
        counts = me_too_counts([row[0] for _, row in found])
        for d, (pk, number, category_id, state, elat, elng) in found:
            code, label = public_status(state)
            items.append(
                {
                    "id": pk,
                    "number": number,
                    "category": names[category_id].code,
                    "category_name": category_name(names[category_id]),
                    "status": code,
                    "status_label": label,
                    "distance_m": round(d),
                    "lat": building_level(elat),
                    "lng": building_level(elng),
                    "me_too_count": counts.get(pk, 0),
                }
            )
    return {"radius_m": radius, "items": items}


def duplicate_groups(events: list[Event]) -> list[list[Event]]:
    """Likely duplicates among a queue's events: same category, within the category's
    radius of the group's first event and reported within ``DUPLICATE_WINDOW`` of it.
    Groups of two or more, oldest first."""
    groups: list[list[Event]] = []
    placed: set = set()
    ordered = sorted((e for e in events if e.lat is not None), key=lambda e: e.reported_at)
    for i, first in enumerate(ordered):
        if first.pk in placed:
            continue
        group = [first]
        for other in ordered[i + 1 :]:
            if (
                other.pk not in placed
                and other.category_id == first.category_id
                and other.reported_at - first.reported_at <= DUPLICATE_WINDOW
                and distance_m(first.lat, first.lng, other.lat, other.lng) <= first.category.duplicate_radius_m
            ):
                group.append(other)
        if len(group) > 1:
            placed.update(e.pk for e in group)
            groups.append(group)
    return groups
