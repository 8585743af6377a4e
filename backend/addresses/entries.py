"""Rows of the search table for buildings, units and aliases (shared by the import
and the demo library)."""

from __future__ import annotations

from functools import lru_cache

from backend.addresses.normalize import normalize

ENTRY_COLUMNS = (
    "kind",
    "building_id",
    "unit_id",
    "alias_id",
    "grid_id",
    "community_id",
    "street_id",
    "code",
    "text",
    "standard",
    "lat",
    "lng",
    "source",
    "normalized",
)


@lru_cache(maxsize=1)
def territory_names() -> tuple[str, ...]:
    """Normalised street and community names, longest first, stripped from the front
    of a query (or of another source's string) so '清波街道清波门社区…' loses both."""
    from backend.territory.models import Community, Street

    names = [*Street.objects.values_list("name", flat=True), *Community.objects.values_list("name", flat=True)]
    return tuple(sorted({normalize(name) for name in names}, key=len, reverse=True))


def search_key(text: str) -> str:
    key = normalize(text)
    for _ in range(2):  # a street, then a community
        for name in territory_names():
            if key.startswith(name) and len(key) > len(name):
                key = key[len(name) :]
                break
    return key


def unit_text(standard_building: str, unit: int, room: str) -> str:
    return f"{standard_building}{unit}单元{room}室"


def building_entry(*, building_id, grid, code, standard, lat, lng) -> tuple:
    return (
        "building",
        building_id,
        None,
        None,
        grid[0],
        grid[1],
        grid[2],
        code,
        standard,
        standard,
        lat,
        lng,
        "",
        normalize(standard),
    )


def unit_entry(*, building_id, unit_id, grid, code, text, lat, lng) -> tuple:
    return (
        "unit",
        building_id,
        unit_id,
        None,
        grid[0],
        grid[1],
        grid[2],
        code,
        text,
        text,
        lat,
        lng,
        "",
        normalize(text),
    )


def alias_entry(*, building_id, unit_id, alias_id, grid, code, text, standard, source, lat, lng) -> tuple:
    return (
        "alias",
        building_id,
        unit_id,
        alias_id,
        grid[0],
        grid[1],
        grid[2],
        code,
        text,
        standard,
        lat,
        lng,
        source,
        search_key(text),
    )
