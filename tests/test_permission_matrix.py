"""Every endpoint, for each demo persona, in scope and out of scope.

Rows are added by every issue; an endpoint with no row here fails
``test_every_route_is_in_the_matrix``."""

from __future__ import annotations

import pytest

from backend.accounts.models import Device
from backend.api import api
from backend.territory.models import Grid
from conftest import PERSONAS

GRID_A_CODE = "330102001001001"
GRID_B_CODE = "330102001001002"
OTHER_STREET_GRID_CODE = "330102006009004"


def ids() -> dict:
    grid_a = Grid.objects.get(code=GRID_A_CODE)
    return {
        "grid_a": grid_a.pk,
        "grid_b": Grid.objects.get(code=GRID_B_CODE).pk,
        "other_street_grid": Grid.objects.get(code=OTHER_STREET_GRID_CODE).pk,
        "other_community_grid": Grid.objects.filter(community__street=grid_a.community.street)
        .exclude(community=grid_a.community)
        .first()
        .pk,
    }


# (persona, grid key) -> visible?
GRID_VISIBILITY = {
    "demo_grid_worker": {"grid_a": True, "grid_b": False, "other_community_grid": False, "other_street_grid": False},
    "demo_grid_worker_b": {"grid_a": False, "grid_b": True, "other_community_grid": False, "other_street_grid": False},
    "demo_secretary": {"grid_a": True, "grid_b": True, "other_community_grid": False, "other_street_grid": False},
    "demo_dispatcher": {"grid_a": True, "grid_b": True, "other_community_grid": True, "other_street_grid": False},
    "demo_handler": {"grid_a": True, "grid_b": True, "other_community_grid": True, "other_street_grid": False},
    "demo_commander": {"grid_a": True, "grid_b": True, "other_community_grid": True, "other_street_grid": True},
    "demo_resident": {"grid_a": False, "grid_b": False, "other_community_grid": False, "other_street_grid": False},
    "demo_admin": {"grid_a": True, "grid_b": True, "other_community_grid": True, "other_street_grid": True},
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_shows_each_persona_exactly_the_grids_of_their_scope(as_persona, persona):
    client = as_persona(persona)
    known = ids()
    for grid_key, visible in GRID_VISIBILITY[persona].items():
        response = client.get(f"/territory/grids/{known[grid_key]}")
        assert response.status_code == (200 if visible else 404), (persona, grid_key)
        if not visible:
            assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_lists_only_grids_in_scope(as_persona, persona):
    client = as_persona(persona)
    listed = []
    page = 1
    while True:
        body = client.get("/territory/grids", {"page": page, "page_size": 200}).json()
        listed += [item["id"] for item in body["items"]]
        if not body["has_more"]:
            break
        page += 1
    expected = {
        "demo_grid_worker": 1,
        "demo_grid_worker_b": 1,
        "demo_secretary": 5,
        "demo_dispatcher": 45,
        "demo_handler": 45,
        "demo_commander": 260,
        "demo_resident": 0,
        "demo_admin": 260,
    }[persona]
    assert len(listed) == len(set(listed)) == expected
    known = ids()
    for grid_key, visible in GRID_VISIBILITY[persona].items():
        assert (known[grid_key] in listed) == visible


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_lists_only_communities_in_scope(as_persona, persona):
    names = [c["name"] for c in as_persona(persona).get("/territory/communities").json()]
    expected = {
        "demo_grid_worker": 1,
        "demo_grid_worker_b": 1,
        "demo_secretary": 1,
        "demo_dispatcher": 9,
        "demo_handler": 9,
        "demo_commander": 54,
        "demo_resident": 0,
        "demo_admin": 54,
    }[persona]
    assert len(names) == expected
    if expected:
        assert "清波门社区" in names


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_answers_me_and_health_for_everyone(as_persona, persona):
    client = as_persona(persona)
    assert client.get("/me").json()["username"] == persona
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_lets_only_the_owner_or_an_admin_revoke_a_device(as_persona, persona):
    client = as_persona(persona)
    victim = as_persona("demo_resident")  # noqa: F841  (creates the resident's device)
    device = Device.objects.filter(user__username="demo_resident").latest("pk")
    allowed = persona in ("demo_resident", "demo_admin")
    assert client.post(f"/devices/{device.pk}/revoke").status_code == (200 if allowed else 404)
    listed = {d["id"] for d in client.get("/devices").json()}
    assert (device.pk in listed) == allowed


@pytest.mark.parametrize("path", ["/me", "/devices", "/territory/grids", "/territory/communities", "/auth/logout"])
def test_it_refuses_anonymous_callers(anonymous, path):
    response = anonymous.post(path) if path == "/auth/logout" else anonymous.get(path)
    assert response.status_code == 401


COVERED_ROUTES = {
    "/api/v1/health",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/me",
    "/api/v1/devices",
    "/api/v1/devices/{device_pk}/revoke",
    "/api/v1/territory/communities",
    "/api/v1/territory/grids",
    "/api/v1/territory/grids/{grid_id}",
}


def test_every_route_is_in_the_matrix():
    import importlib
    from pathlib import Path

    from tests import matrix_registry

    # Import every test module so their registrations count even when run alone.
    root = Path(__file__).resolve().parent.parent
    for folder in ("backend", "push", "media", "sync", "tests"):
        for path in (root / folder).rglob("test_*.py"):
            importlib.import_module(".".join(path.relative_to(root).with_suffix("").parts))
    routes = set(api.get_openapi_schema()["paths"])

    missing = routes - COVERED_ROUTES - matrix_registry.covered()
    assert not missing, f"routes with no permission test: {sorted(missing)}"
