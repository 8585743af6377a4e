"""Grid polygons: validation and point-in-grid through shapely's STRtree.

The index is built once per process from the grids table and rebuilt when any
grid changes (a post_save/post_delete signal bumps a version in the cache, so
every process notices).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy
from shapely import STRtree, points
from shapely.geometry import Polygon, shape

_lock = threading.Lock()


def polygon_from_geojson(geojson: dict) -> Polygon:
    if not isinstance(geojson, dict) or geojson.get("type") != "Polygon":
        raise ValueError("边界必须是 GeoJSON Polygon (polygon must be a GeoJSON Polygon)")
    try:
        polygon = shape(geojson)
    except Exception as error:  # shapely raises several kinds for malformed rings
        raise ValueError(f"无法解析边界: {error}") from None
    if polygon.is_empty or not polygon.is_valid:
        raise ValueError("边界无效或自相交 (polygon is empty or invalid)")
    return polygon


def bbox_of(geojson: dict) -> tuple[float, float, float, float]:
    return polygon_from_geojson(geojson).bounds


@dataclass(frozen=True)
class GridIndex:
    version: int
    grid_ids: list[int]
    tree: STRtree
    polygons: list[Polygon]

    def locate(self, lng: float, lat: float) -> int | None:
        return self.locate_many([(lng, lat)])[0]

    def locate_many(self, coordinates: list[tuple[float, float]]) -> list[int | None]:
        """The grid of each (lng, lat) point, in one query of the tree (a phone's batch
        of reports: a hundred single queries cost more than the rest of a report).
        "intersects" counts a point on a shared edge as inside; the lowest id wins so
        the answer is stable."""
        found: list[int | None] = [None] * len(coordinates)
        if not coordinates:
            return found
        inputs, hits = self.tree.query(points(numpy.asarray(coordinates, dtype=float)), predicate="intersects")
        for position, hit in zip(inputs.tolist(), hits.tolist()):
            grid_id = self.grid_ids[hit]
            if found[position] is None or grid_id < found[position]:
                found[position] = grid_id
        return found


_index: GridIndex | None = None
VERSION_KEY = "territory:grid-index-version"


_version_client: tuple[int, object, str] | None = None  # (pid, redis client, the version's key)


def _current_version() -> int:
    """The shared index version. Every report asks (a tip, a phone's batch), so with
    Redis the read goes through one client kept per process: Django's cache API made a
    new client for each read, four times what a kept client's read costs (tip_submit_rps,
    docs/residents.md). Django stores an integer as its digits, which this reads back."""
    global _version_client
    from django.core.cache import cache, caches
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if isinstance(backend, RedisCache):
        if _version_client is None or _version_client[0] != os.getpid():
            client = backend._cache.get_client(write=False)
            _version_client = (os.getpid(), client, backend.make_and_validate_key(VERSION_KEY))
        stored = _version_client[1].get(_version_client[2])
        if stored is not None:
            return int(stored)
    return cache.get_or_set(VERSION_KEY, 1, timeout=None)


def invalidate_grid_index() -> None:
    from django.core.cache import cache

    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.set(VERSION_KEY, 2, timeout=None)


def grid_index() -> GridIndex:
    global _index
    version = _current_version()
    if _index is not None and _index.version == version:
        return _index
    with _lock:
        if _index is None or _index.version != version:
            from backend.territory.models import Grid

            rows = list(Grid.objects.filter(retired_at__isnull=True).values_list("id", "polygon"))
            polygons = [shape(polygon) for _, polygon in rows]
            _index = GridIndex(
                version=version, grid_ids=[pk for pk, _ in rows], tree=STRtree(polygons), polygons=polygons
            )
    return _index


def locate_grid_id(lng: float, lat: float) -> int | None:
    """The id of the grid a WGS-84 point falls in, or None outside every grid."""
    return grid_index().locate(lng, lat)
