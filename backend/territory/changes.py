"""Territory changes: a grid split into new grids, or its boundary redrawn.

Events keep the grid they were reported in (their history, numbers and statistics
stay where they were); new reports go to the new grids (the point look-up skips a
retired grid). The grid workers named for each new grid get a role there, so their
scope, queues and sync buckets follow at once (role and grid saves bump every cached
scope; the phone's next pull backfills the new ``grid:<id>`` bucket). Every change is
a ``GridChange`` row and a line of the admin log (``audit_change``).
docs/administration.md, "Territory changes".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from shapely.geometry import shape

from backend.accounts.models import Role, RoleAssignment, User
from backend.core.audit import audit_change
from backend.core.errors import ApiError, register
from backend.territory.geometry import polygon_from_geojson
from backend.territory.models import Grid, GridChange

register("grid_retired", 409, "该网格已拆分停用", "This grid was split and is retired")
register("grid_overlap", 422, "新边界与其他网格重叠", "The new boundary overlaps another grid")

# Overlap below this (square degrees, about 1 m² at 30°N) is a shared edge drawn twice.
OVERLAP_TOLERANCE = 1e-10


@dataclass
class GridPart:
    code: str
    name: str
    polygon: dict
    worker_ids: list[int] = field(default_factory=list)


def _check_polygon(polygon: dict, where: str):
    try:
        return polygon_from_geojson(polygon)
    except ValueError as error:
        raise ApiError("validation_error", detail={where: str(error)}) from None


def _check_no_overlap(shapes: dict[str, object], *, besides: set[int]) -> None:
    """The new shapes overlap neither each other nor another grid in use."""
    names = list(shapes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if shapes[a].intersection(shapes[b]).area > OVERLAP_TOLERANCE:
                raise ApiError("grid_overlap", detail={"parts": [a, b]})
    for name, polygon in shapes.items():
        minx, miny, maxx, maxy = polygon.bounds
        others = Grid.objects.filter(
            retired_at__isnull=True, min_lng__lt=maxx, max_lng__gt=minx, min_lat__lt=maxy, max_lat__gt=miny
        ).exclude(pk__in=besides)
        for other in others.only("pk", "code", "polygon"):
            if shape(other.polygon).intersection(polygon).area > OVERLAP_TOLERANCE:
                raise ApiError("grid_overlap", detail={name: other.code})


def _validated(grid: Grid, field_name: str) -> None:
    try:
        grid.full_clean()
    except ValidationError as error:
        raise ApiError("validation_error", detail={field_name: error.message_dict}) from None


def grid_split(*, grid: Grid, parts: list[GridPart], by: User, reason: str = "") -> GridChange:
    """Split ``grid`` into ``parts`` (two or more, new codes in the same community).
    The old grid is retired; the workers named for a part become its grid workers
    (with the post they held in the old grid), and keep the old grid to finish its
    events."""
    if grid.retired_at is not None:
        raise ApiError("grid_retired", detail={"grid": grid.code})
    if len(parts) < 2:
        raise ApiError("validation_error", detail={"parts": "at least two"})
    if len({part.code for part in parts}) != len(parts):
        raise ApiError("validation_error", detail={"parts": "codes must differ"})
    shapes = {part.code: _check_polygon(part.polygon, part.code) for part in parts}
    old_roles = {r.user_id: r for r in RoleAssignment.objects.filter(role=Role.GRID_WORKER, grid=grid).order_by("pk")}
    for part in parts:
        strangers = sorted(set(part.worker_ids) - set(old_roles))
        if strangers:
            raise ApiError("validation_error", detail={part.code: {"worker_ids": f"not grid workers of {grid.code}"}})
    with transaction.atomic():
        _check_no_overlap(shapes, besides={grid.pk})
        change = GridChange.objects.create(
            kind=GridChange.Kind.SPLIT, grid=grid, old_polygon=grid.polygon, reason=reason, made_by=by
        )
        new_grids = []
        for part in parts:
            new = Grid(code=part.code, name=part.name, community_id=grid.community_id, polygon=part.polygon)
            _validated(new, part.code)
            new.save()
            new_grids.append(new)
            for user_id in part.worker_ids:
                RoleAssignment.objects.create(
                    user_id=user_id, role=Role.GRID_WORKER, grid=new, grid_post=old_roles[user_id].grid_post
                )
            audit_change(by, new, "add", f"网格 {grid.code} 拆分新建", from_grid=grid.code, workers=part.worker_ids)
        change.new_grids.set(new_grids)
        grid.retired_at = timezone.now()
        grid.save(update_fields=["retired_at"])
        audit_change(
            by,
            grid,
            "change",
            "网格拆分，原网格停用",
            into=[g.code for g in new_grids],
            reason=reason,
        )
    return change


def grid_redraw(*, grid: Grid, polygon: dict, by: User, reason: str = "") -> GridChange:
    """A new boundary for ``grid`` (same code): new reports are located by it; events
    already reported keep the grid."""
    if grid.retired_at is not None:
        raise ApiError("grid_retired", detail={"grid": grid.code})
    new_shape = _check_polygon(polygon, "polygon")
    with transaction.atomic():
        _check_no_overlap({grid.code: new_shape}, besides={grid.pk})
        change = GridChange.objects.create(
            kind=GridChange.Kind.REDRAW, grid=grid, old_polygon=grid.polygon, reason=reason, made_by=by
        )
        grid.polygon = polygon
        grid.save(update_fields=["polygon"])
        audit_change(by, grid, "change", "网格边界重划", reason=reason)
    return change
