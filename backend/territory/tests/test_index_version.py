"""The grid index's version as ``grid_index`` reads it (with Redis, through one client
kept per process) against the cache API's answer, as it moves."""

from django.core.cache import cache

from backend.territory.geometry import VERSION_KEY, _current_version, grid_index, invalidate_grid_index


def test_the_version_read_is_the_caches_and_moves_with_each_invalidation(db):
    cache.delete(VERSION_KEY)
    assert _current_version() == 1 == cache.get(VERSION_KEY)  # first read: set to 1
    for _ in range(3):
        before = _current_version()
        invalidate_grid_index()
        assert _current_version() == before + 1 == cache.get(VERSION_KEY)
    assert grid_index().version == cache.get(VERSION_KEY)
