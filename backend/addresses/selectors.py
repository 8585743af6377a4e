"""Address search and point lookup."""

from __future__ import annotations

import math

from django.db import connection
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Length

from backend.accounts.models import User
from backend.accounts.scope import scope_of
from backend.addresses.entries import search_key
from backend.addresses.models import AddressEntry, Building, EntryKind
from backend.addresses.normalize import segments
from backend.core.errors import ApiError, register
from backend.territory.coords import to_wgs84
from backend.territory.geometry import locate_grid_id
from backend.territory.models import Grid

register("query_too_short", 422, "请至少输入两个字", "Type at least two characters")
MAX_RESULTS = 50
NEAREST = 5
NEAR_DEGREES = 0.004  # about 400 m: the box searched for nearest buildings


def entries_visible_to(user: User) -> QuerySet[AddressEntry]:
    """Staff see their territory (district-wide roles everything); residents, who
    report tips anywhere, see standard addresses but not other departments' aliases."""
    scope = scope_of(user)
    entries = AddressEntry.objects.all()
    if not scope.is_staff_role:
        return entries.exclude(kind=EntryKind.ALIAS)
    if scope.district_wide or scope.department_ids:
        return entries
    return entries.filter(scope.q_territory(grid="grid_id", community="community_id", street="street_id"))


def _containing(entries: QuerySet[AddressEntry], part: str) -> QuerySet[AddressEntry]:
    """Entries whose key contains ``part`` as written, through each database's trigram
    index: ``%``, ``_`` and ``\\`` in a query are characters, never LIKE wildcards."""
    if connection.vendor == "sqlite" and len(part) >= 3:
        # A quoted phrase on the FTS5 trigram table is a substring match that uses the
        # index and reads nothing in it as a wildcard; LIKE with an ESCAPE clause would
        # scan the whole table, and without one '%%%' matched every row.
        phrase = '"' + part.replace('"', '""') + '"'
        return entries.filter(
            id__in=RawSQL("SELECT rowid FROM addresses_entry_fts WHERE addresses_entry_fts MATCH %s", (phrase,))
        )
    # Django escapes %, _ and \ in a ``contains`` pattern (LIKE … ESCAPE '\' on SQLite,
    # backslash being PostgreSQL's default escape, which pg_trgm's index understands).
    return entries.filter(normalized__contains=part)


def search_addresses(user: User, query: str, *, limit: int = 20) -> list[AddressEntry]:
    """Ranked: exact key, then prefix, then shorter keys; units before buildings
    before aliases. When the whole key is not found in one piece, its segments
    (road and door number apart from building/unit/room) are searched together."""
    key = search_key(query)
    if len(key) < 2:
        raise ApiError("query_too_short")
    limit = max(1, min(limit, MAX_RESULTS))
    visible = entries_visible_to(user)
    ranking = dict(
        exact=Case(When(normalized=key, then=Value(0)), default=Value(1), output_field=IntegerField()),
        prefix=Case(When(normalized__startswith=key, then=Value(0)), default=Value(1), output_field=IntegerField()),
        kind_rank=Case(
            When(kind=EntryKind.UNIT, then=Value(0)),
            When(kind=EntryKind.BUILDING, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        ),
        key_length=Length("normalized"),
    )
    order = ("exact", "kind_rank", "prefix", "key_length", "code")
    results = list(_containing(visible, key).annotate(**ranking).order_by(*order)[:limit])
    parts = segments(key)
    if len(results) < limit and len(parts) > 1:
        combined = visible
        for part in sorted(parts, key=len, reverse=True):
            combined = _containing(combined, part)
        seen = {entry.pk for entry in results}
        more = combined.exclude(pk__in=seen).annotate(**ranking).order_by(*order)[: limit - len(results)]
        results.extend(more)
    return results


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Equirectangular distance: exact enough within a district."""
    x = math.radians(lng2 - lng1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6_371_000 * math.hypot(x, y)


def locate(*, lat: float, lng: float, crs: str) -> dict:
    lat, lng = to_wgs84(lat=lat, lng=lng, crs=crs)
    grid_id = locate_grid_id(lng, lat)
    nearby = Building.objects.filter(
        lat__range=(lat - NEAR_DEGREES, lat + NEAR_DEGREES), lng__range=(lng - NEAR_DEGREES, lng + NEAR_DEGREES)
    ).only("code", "name", "road", "number", "estate", "lat", "lng")
    nearest = sorted(((distance_m(lat, lng, b.lat, b.lng), b) for b in nearby), key=lambda pair: pair[0])[:NEAREST]
    answer = {
        "lat": lat,
        "lng": lng,
        "inside": grid_id is not None,
        "grid": None,
        "community": None,
        "street": None,
        "message": "" if grid_id is not None else "该位置不在本区任何网格内 (outside every grid of the district)",
        "nearest_buildings": [
            {"code": b.code, "address": b.standard_address, "lat": b.lat, "lng": b.lng, "distance_m": round(d, 1)}
            for d, b in nearest
        ],
    }
    if grid_id is not None:
        grid = Grid.objects.select_related("community__street").get(pk=grid_id)
        community, street = grid.community, grid.community.street
        answer.update(
            grid={"id": grid.pk, "code": grid.code, "name": grid.name},
            community={"id": community.pk, "code": community.code, "name": community.name},
            street={"id": street.pk, "code": street.code, "name": street.name},
        )
    return answer
