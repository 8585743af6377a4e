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
        # A claim only: no file with this digest arrives unless a test uploads one.
        "before_photos": [f"sha256:{uuid.uuid4().hex}{uuid.uuid4().hex}"],
    }
    body.update(extra)
    return client.post("/events", body)


def step(client, event_id, name, body=None):
    return client.post(f"/events/{event_id}/{name}", body or {})


def photo_bytes() -> bytes:
    """A small real JPEG, different every time (evidence is a file, not a string)."""
    import io

    from PIL import Image

    seed = uuid.uuid4()
    out = io.BytesIO()
    Image.new("RGB", (64, 48), tuple(seed.bytes[:3])).save(out, format="JPEG", comment=seed.bytes)
    return out.getvalue()


def upload_photo(client, event_id, data: bytes | None = None, *, phase="after", photo_id=None):
    """``POST /events/{id}/photos``, or ``POST /photos`` when ``event_id`` is None."""
    import hashlib
    import io

    data = data or photo_bytes()
    handle = io.BytesIO(data)
    handle.name = "photo.jpg"
    return client.client.post(
        f"/api/v1/events/{event_id}/photos" if event_id else "/api/v1/photos",
        {
            "file": handle,
            "phase": phase,
            "photo_id": str(photo_id or uuid.uuid4()),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
        headers={"Authorization": f"Bearer {client.token}"},
    )


def evidence(client, event_id, *, before: int = 0, after: int = 1) -> None:
    """Real photos uploaded to the event, for the steps that require them."""
    for phase, count in (("before", before), ("after", after)):
        for _ in range(count):
            response = upload_photo(client, event_id, phase=phase)
            assert response.status_code == 201, response.content


def uploaded_refs(client, *, before: int = 1, after: int = 1) -> dict:
    """Photos uploaded with ``POST /photos`` before their event exists, as the
    ``before_photos`` / ``after_photos`` references of a report or a step."""
    import hashlib

    refs: dict = {"before_photos": [], "after_photos": []}
    for phase, count in (("before", before), ("after", after)):
        for _ in range(count):
            data = photo_bytes()
            response = upload_photo(client, None, data, phase=phase)
            assert response.status_code == 201, response.content
            refs[f"{phase}_photos"].append("sha256:" + hashlib.sha256(data).hexdigest())
    return refs
