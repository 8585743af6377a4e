"""Helpers shared by the event-loop tests."""

from __future__ import annotations

import uuid

from backend.territory.demo import cell_centre
from backend.territory.models import Department, Grid, Platform, PlatformKind

GRID_A = "330102001001001"
GRID_B = "330102001001002"


def centre_of(grid_code: str) -> tuple[float, float]:
    """(lat, lng) WGS-84 centre of a demo grid."""
    index = list(Grid.objects.order_by("code").values_list("code", flat=True)).index(grid_code)
    lng, lat = cell_centre(index)
    return lat, lng


def governance_platform_id() -> int:
    return Platform.objects.get(street__code=GRID_A[:9], kind=PlatformKind.GOVERNANCE).pk


def department_id(code: str = "police") -> int:
    return Department.objects.get(code=code).pk


def report(client, *, category="06.01", source="public_tip", grid=GRID_A, **extra):
    lat, lng = centre_of(grid)
    body = {
        "source": source,
        "category": category,
        "description": "小区门口有一堆暴露垃圾",
        "location": {"lat": lat, "lng": lng, "crs": "wgs84"},
        "before_photos": [f"sha256:{uuid.uuid4().hex}"],
    }
    body.update(extra)
    return client.post("/events", body)


def step(client, event_id, name, body=None):
    return client.post(f"/events/{event_id}/{name}", body or {})
