"""A grid split (and a redraw) through the admin API: the events keep their original
grid, new reports go to the new grids, the queues and the sync scopes follow the
change at once, and a phone of the affected grid worker pulls what it must."""

from __future__ import annotations

from django.contrib.admin.models import LogEntry

from backend.accounts.models import Role, RoleAssignment
from backend.accounts.scope import scope_of
from backend.events.models import Event
from backend.territory.models import Grid, GridChange
from sync.entities import buckets_for
from sync.tests.phones import phone_of, server_state
from tests.events_helpers import GRID_A, GRID_B, report, step


def box(west, south, east, north) -> dict:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def halves(grid: Grid) -> tuple[dict, dict]:
    (west, south), (east, _), (_, north) = grid.polygon["coordinates"][0][:3]
    middle = round((west + east) / 2, 6)
    return box(west, south, middle, north), box(middle, south, east, north)


def centre(polygon: dict) -> dict:
    ring = polygon["coordinates"][0]
    return {"lng": (ring[0][0] + ring[1][0]) / 2, "lat": (ring[0][1] + ring[2][1]) / 2, "crs": "wgs84"}


def ids(client, queue: str) -> set[str]:
    return {e["id"] for e in client.get("/events", {"queue": queue, "page_size": 200}).json()["items"]}


def test_it_splits_a_grid_with_its_events_queues_and_sync_scopes_right_afterwards(as_persona, persona_user):
    admin, dispatcher = as_persona("demo_admin"), as_persona("demo_dispatcher")
    resident, worker = as_persona("demo_resident"), as_persona("demo_grid_worker")
    worker_user = persona_user("demo_grid_worker")
    grid_a = Grid.objects.get(code=GRID_A)
    RoleAssignment.objects.filter(user=worker_user, grid=grid_a).update(grid_post="leader")

    # Before: an open event of grid A, dispatched to its grid worker, on the worker's phone.
    old = report(resident).json()["id"]
    step(dispatcher, old, "accept")
    step(dispatcher, old, "dispatch", {"grid_worker_id": worker_user.pk})
    phone = phone_of("demo_grid_worker")
    phone.pull()
    assert set(phone.entities("grid")) == {str(grid_a.pk)}

    west, east = halves(grid_a)
    prefix = GRID_A[:12]
    answer = admin.post(
        f"/admin/grids/{grid_a.pk}/split",
        {
            "reason": "人口增长，一格拆两格",
            "parts": [
                {"code": f"{prefix}901", "name": "清波门第1网格西", "polygon": west, "worker_ids": [worker_user.pk]},
                {"code": f"{prefix}902", "name": "清波门第1网格东", "polygon": east},
            ],
        },
    )
    assert answer.status_code == 201, answer.content
    change = answer.json()
    assert change["kind"] == "split" and change["new_grid_codes"] == [f"{prefix}901", f"{prefix}902"]
    grid_west, grid_east = (Grid.objects.get(code=code) for code in change["new_grid_codes"])
    grid_a.refresh_from_db()
    assert grid_a.retired_at is not None

    # The event keeps its original grid and stays in the worker's queue.
    assert Event.objects.get(pk=old).grid_id == grid_a.pk
    assert old in ids(worker, "my_tasks")
    # The worker moved to the west half with the post they held (and keeps A for its events).
    moved = RoleAssignment.objects.get(user=worker_user, role=Role.GRID_WORKER, grid=grid_west)
    assert moved.grid_post == "leader"
    scope = scope_of(worker_user.__class__.objects.get(pk=worker_user.pk))
    assert scope.grid_ids == {grid_a.pk, grid_west.pk}
    assert f"grid:{grid_west.pk}" in buckets_for(scope) and f"grid:{grid_east.pk}" not in buckets_for(scope)

    # New reports go to the new grids, even from a phone that still names the old one.
    in_east = report(resident, location=centre(east)).json()
    assert in_east["grid_id"] == grid_east.pk
    stale = report(resident, location=centre(west), grid_id=grid_a.pk).json()
    assert stale["grid_id"] == grid_west.pk
    assert stale["id"] in ids(worker, "all") and in_east["id"] not in ids(worker, "all")
    assert {in_east["id"], stale["id"]} <= ids(dispatcher, "to_triage")

    # The phone's next pull brings the new grid, the retired one's new state and the new event.
    phone.pull()
    assert set(phone.entities("grid")) == {str(grid_a.pk), str(grid_west.pk)}
    assert phone.entities("grid")[str(grid_a.pk)]["retired_at"] is not None
    assert stale["id"] in phone.entities("event") and in_east["id"] not in phone.entities("event")
    assert phone.snapshot() == server_state("demo_grid_worker")

    # Recorded with who and when; the retired grid cannot be split again.
    admin_user = persona_user("demo_admin")
    entries = LogEntry.objects.filter(object_id__in=[str(grid_a.pk), str(grid_west.pk), str(grid_east.pk)])
    assert entries.count() == 3 and {e.user_id for e in entries} == {admin_user.pk}
    refused = admin.post(
        f"/admin/grids/{grid_a.pk}/split",
        {
            "parts": [
                {"code": f"{prefix}903", "name": "x", "polygon": west},
                {"code": f"{prefix}904", "name": "y", "polygon": east},
            ]
        },
    )
    assert refused.status_code == 409 and refused.json()["code"] == "grid_retired"


def test_it_refuses_overlaps_and_redraws_a_boundary_keeping_the_events(as_persona):
    admin, resident = as_persona("demo_admin"), as_persona("demo_resident")
    grid_b = Grid.objects.get(code=GRID_B)
    grid_a = Grid.objects.get(code=GRID_A)
    west, east = halves(grid_b)
    overlapping = admin.post(
        f"/admin/grids/{grid_b.pk}/split",
        {
            "parts": [
                {"code": f"{GRID_B[:12]}901", "name": "x", "polygon": west},
                {"code": f"{GRID_B[:12]}902", "name": "y", "polygon": grid_a.polygon},
            ]
        },
    )
    assert overlapping.status_code == 422 and overlapping.json()["code"] == "grid_overlap"
    assert not Grid.objects.filter(code__startswith=f"{GRID_B[:12]}9").exists()

    event = report(resident, grid=GRID_B).json()
    phone = phone_of("demo_grid_worker_b")
    phone.pull()
    redrawn = admin.post(f"/admin/grids/{grid_b.pk}/redraw", {"polygon": west, "reason": "河道改道"})
    assert redrawn.status_code == 201, redrawn.content
    grid_b.refresh_from_db()
    assert grid_b.polygon == west and grid_b.max_lng == west["coordinates"][0][1][0]
    assert GridChange.objects.get(pk=redrawn.json()["id"]).old_polygon["coordinates"][0][2] != west["coordinates"][0][2]
    assert Event.objects.get(pk=event["id"]).grid_id == grid_b.pk
    phone.pull()
    assert phone.entities("grid")[str(grid_b.pk)]["polygon"] == west
    # The east half is outside every grid now.
    outside = report(resident, location=centre(east))
    assert outside.status_code == 422 and outside.json()["code"] == "location_outside_district"
    invalid = admin.post(f"/admin/grids/{grid_b.pk}/redraw", {"polygon": {"type": "Point", "coordinates": [1, 2]}})
    assert invalid.status_code == 422


def test_the_admin_page_of_a_key_subject_lets_an_admin_move_it_to_another_grid(persona_user):
    from django.test import Client

    from backend.patrols.models import KeySubject

    browser = Client()
    browser.force_login(persona_user("demo_admin"))
    subject = KeySubject.objects.filter(grid__code=GRID_A).first()
    page = browser.get(f"/admin/patrols/keysubject/{subject.pk}/change/").content.decode()
    assert 'name="grid"' in page


def test_an_admin_splits_and_redraws_a_grid_from_its_admin_page(persona_user):
    """The same services from the admin site: the grid page links to the forms, a bad
    part is refused with the service's message, a good split retires the grid and makes
    the parts (audited), and a redraw moves the boundary."""
    from django.test import Client

    site = Client()
    site.force_login(persona_user("demo_admin"))
    grid_a, grid_b = Grid.objects.get(code=GRID_A), Grid.objects.get(code=GRID_B)
    page = site.get(f"/admin/territory/grid/{grid_a.pk}/change/").content.decode()
    assert f"/admin/territory/grid/{grid_a.pk}/split/" in page and f"/admin/territory/grid/{grid_b.pk}/" not in page

    import json

    west, east = halves(grid_a)
    prefix = GRID_A[:12]
    refused = site.post(
        f"/admin/territory/grid/{grid_a.pk}/split/",
        {"parts": json.dumps([{"code": f"{prefix}911", "name": "西", "polygon": west}]), "reason": "一格"},
    )
    assert refused.status_code == 200 and "at least two" in refused.content.decode()
    assert Grid.objects.get(pk=grid_a.pk).retired_at is None

    parts = [
        {"code": f"{prefix}911", "name": "清波门第1网格西", "polygon": west},
        {"code": f"{prefix}912", "name": "清波门第1网格东", "polygon": east},
    ]
    done = site.post(f"/admin/territory/grid/{grid_a.pk}/split/", {"parts": json.dumps(parts), "reason": "拆分"})
    assert done.status_code == 302
    assert Grid.objects.get(pk=grid_a.pk).retired_at is not None
    assert GridChange.objects.filter(grid=grid_a, kind=GridChange.Kind.SPLIT).exists()
    new = Grid.objects.get(code=f"{prefix}911")
    assert LogEntry.objects.filter(object_id=str(new.pk), user__username="demo_admin").exists()

    (w, s), (e, _), (_, n) = grid_b.polygon["coordinates"][0][:3]
    smaller = box(w, s, round((w + e) / 2, 6), n)
    redrawn = site.post(
        f"/admin/territory/grid/{grid_b.pk}/redraw/", {"polygon": json.dumps(smaller), "reason": "边界调整"}
    )
    assert redrawn.status_code == 302
    grid_b.refresh_from_db()
    assert grid_b.polygon == smaller
    assert site.post(f"/admin/territory/grid/{grid_b.pk}/redraw/", {"polygon": "{not json"}).status_code == 200
