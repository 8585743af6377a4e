"""Who may see and do what on events, illegal steps, and bad input."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from backend.events.models import Event, EventAction
from conftest import PERSONAS
from tests import matrix_registry
from tests.events_helpers import GRID_B, department_id, governance_platform_id, report, step

matrix_registry.cover(
    "/api/v1/events",
    "/api/v1/events/{event_id}",
    "/api/v1/events/{event_id}/history",
    "/api/v1/catalogue/categories",
    *[
        f"/api/v1/events/{{event_id}}/{name}"
        for name in (
            "accept",
            "reject",
            "merge",
            "dispatch",
            "sign",
            "return",
            "handle",
            "extension",
            "extension/approve",
            "extension/refuse",
            "park",
            "park/approve",
            "park/refuse",
            "unpark",
            "approve",
            "rework",
            "evaluate",
            "reopen",
            "urge",
            "escalate",
            "comment",
        )
    ],
)

# Who sees a grid-A tip reported by the resident and dispatched to the governance platform.
VISIBLE = {
    "demo_grid_worker": True,
    "demo_grid_worker_b": False,
    "demo_secretary": True,
    "demo_dispatcher": True,
    "demo_handler": True,
    "demo_commander": True,
    "demo_resident": True,
    "demo_admin": True,
}


@pytest.fixture
def dispatched_tip(as_persona):
    dispatcher = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    return event_id


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_shows_an_event_only_inside_the_viewers_scope(as_persona, dispatched_tip, persona):
    client = as_persona(persona)
    visible = VISIBLE[persona]
    assert client.get(f"/events/{dispatched_tip}").status_code == (200 if visible else 404)
    assert client.get(f"/events/{dispatched_tip}/history").status_code == (200 if visible else 404)
    listed = [e["id"] for e in client.get("/events", {"page_size": 200}).json()["items"]]
    assert (dispatched_tip in listed) == visible
    if not visible:
        response = step(client, dispatched_tip, "sign")
        assert response.status_code == 404 and response.json()["code"] == "event_not_found"


def test_the_grid_worker_of_b_cannot_see_events_of_a(as_persona):
    event_id = report(as_persona("demo_grid_worker"), source="grid_patrol").json()["id"]
    other = as_persona("demo_grid_worker_b")
    assert other.get(f"/events/{event_id}").status_code == 404
    own = report(other, source="grid_patrol", grid=GRID_B).json()["id"]
    assert own not in [e["id"] for e in as_persona("demo_grid_worker").get("/events").json()["items"]]


def test_a_resident_sees_only_their_own_tips(as_persona):
    mine = report(as_persona("demo_resident")).json()["id"]
    patrol = report(as_persona("demo_grid_worker"), source="grid_patrol").json()["id"]
    listed = [e["id"] for e in as_persona("demo_resident").get("/events").json()["items"]]
    assert mine in listed and patrol not in listed


@pytest.mark.parametrize(
    "persona, step_name, body, status",
    [
        ("demo_handler", "approve", {}, 403),
        ("demo_grid_worker", "accept", {}, 403),
        ("demo_dispatcher", "sign", {}, 403),
        ("demo_resident", "urge", {}, 403),
        ("demo_secretary", "dispatch", {"platform_id": 1}, 403),
        ("demo_dispatcher", "accept", {}, 409),
        ("demo_handler", "handle", {"result_note": "x", "after_photos": ["a"]}, 409),
    ],
)
def test_it_refuses_steps_by_role_and_by_state(as_persona, dispatched_tip, persona, step_name, body, status):
    response = step(as_persona(persona), dispatched_tip, step_name, body)
    assert response.status_code == status, response.content
    detail = response.json()["detail"]
    assert detail["state"] == "dispatched"
    assert isinstance(detail["allowed_steps"], list)
    if status == 409:
        assert response.json()["code"] == "illegal_transition"
        assert step_name not in detail["allowed_steps"] and detail["allowed_steps"]


def test_it_keeps_grid_workers_to_the_admission_list(as_persona, persona_user):
    dispatcher = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident"), category="06.06").json()["id"]  # 违法搭建: not admissible
    step(dispatcher, event_id, "accept")
    response = step(dispatcher, event_id, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker").pk})
    assert response.status_code == 422 and response.json()["code"] == "not_on_admission_list"
    on_spot = report(
        as_persona("demo_grid_worker"),
        source="grid_patrol",
        category="06.06",
        handled_on_spot=True,
        result_note="拆了",
        after_photos=["a"],
    )
    assert on_spot.json()["code"] == "not_on_admission_list"


def test_it_refuses_a_grid_worker_of_another_grid_as_target(as_persona, persona_user):
    dispatcher = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept")
    response = step(dispatcher, event_id, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker_b").pk})
    assert response.json()["code"] == "invalid_target"


@pytest.mark.parametrize(
    "change, code",
    [
        ({"category": "99.99"}, "unknown_category"),
        ({"category": "06"}, "unknown_category"),  # a 大类 is not reportable
        ({"location": {"lat": 39.9, "lng": 116.4, "crs": "wgs84"}}, "location_outside_district"),
        ({"location": {"lat": 30.2, "lng": 120.1, "crs": "bd09"}}, "validation_error"),
        ({"location": None}, "location_required"),
        ({"description": "长" * 2001}, "validation_error"),
        ({"source": "video_alert"}, "source_not_allowed"),
    ],
)
def test_it_rejects_bad_reports_clearly(as_persona, change, code):
    response = report(as_persona("demo_resident"), **change)
    assert response.status_code in (409, 422), response.content
    assert response.json()["code"] == code
    assert not Event.objects.filter(description="长" * 2001).exists()


def test_it_rejects_a_deadline_in_the_past_and_an_overlong_note(as_persona):
    dispatcher = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept")
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    response = step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id(), "deadline_at": past})
    assert response.json()["code"] == "deadline_in_past"
    too_long = step(dispatcher, event_id, "urge", {"note": "x" * 2001})
    assert too_long.status_code == 422 and too_long.json()["code"] == "validation_error"
    assert step(dispatcher, event_id, "reject", {"reason": ""}).json()["code"] == "validation_error"
    assert Event.objects.get(pk=event_id).state == "accepted"


def test_it_returns_the_same_event_for_a_repeated_client_id(as_persona):
    resident = as_persona("demo_resident")
    event_id = str(uuid.uuid4())
    first = report(resident, id=event_id)
    second = report(resident, id=event_id)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["number"] == second.json()["number"]
    assert Event.objects.filter(pk=event_id).count() == 1
    assert report(as_persona("demo_grid_worker"), source="grid_patrol", id=event_id).json()["code"] == "event_id_taken"


def test_it_merges_duplicates_and_rejects_with_a_reason(as_persona):
    resident = as_persona("demo_resident")
    dispatcher = as_persona("demo_dispatcher")
    original = report(resident).json()["id"]
    duplicate = report(resident).json()["id"]
    merged = step(dispatcher, duplicate, "merge", {"into": original}).json()
    assert merged["state"] == "merged" and merged["merged_into_id"] == original
    spam = report(resident).json()["id"]
    rejected = step(dispatcher, spam, "reject", {"reason": "重复爆料"})
    assert rejected.json()["state"] == "rejected"


def test_it_parks_with_the_districts_approval(as_persona):
    dispatcher = as_persona("demo_dispatcher")
    commander = as_persona("demo_commander")
    event_id = report(as_persona("demo_resident"), category="06.06").json()["id"]
    step(dispatcher, event_id, "accept")
    assert step(dispatcher, event_id, "park", {"reason": "历史遗留，需区级协调"}).json()["park_requested"]
    assert event_id in [e["id"] for e in commander.get("/events", {"queue": "to_triage"}).json()["items"]]
    assert step(commander, event_id, "park/approve").json()["state"] == "parked"
    assert step(dispatcher, event_id, "unpark").json()["state"] == "accepted"


def test_it_lets_dispatchers_refuse_extensions_and_urge(as_persona):
    dispatcher = as_persona("demo_dispatcher")
    handler = as_persona("demo_handler")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    step(handler, event_id, "sign")
    deadline = Event.objects.get(pk=event_id).deadline_at
    step(handler, event_id, "extension", {"until": (deadline + timedelta(days=3)).isoformat(), "reason": "缺材料"})
    refused = step(dispatcher, event_id, "extension/refuse", {"note": "按期完成"}).json()
    assert refused["extension_requested_until"] is None and refused["extension_count"] == 0
    assert Event.objects.get(pk=event_id).deadline_at == deadline
    assert step(dispatcher, event_id, "urge", {"note": "请加快"}).json()["urge_count"] == 1


def test_it_escalates_manually_up_to_the_district(as_persona, persona_user):
    dispatcher = as_persona("demo_dispatcher")
    worker = as_persona("demo_grid_worker")
    commander = as_persona("demo_commander")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker").pk})
    handed_back = step(worker, event_id, "escalate", {"reason": "网格内无法解决"}).json()
    assert handed_back["level"] == 1 and handed_back["state"] == "returned"
    to_district = step(dispatcher, event_id, "escalate", {"reason": "需区级部门"}).json()
    assert to_district["level"] == 2
    to_district = step(dispatcher, event_id, "escalate", {"reason": "需区级部门"}).json()
    assert to_district["level"] == 3
    # At district level the street no longer triages; the district dispatches to a department.
    assert step(dispatcher, event_id, "dispatch", {"department_id": department_id()}).status_code == 403
    assert (
        step(commander, event_id, "dispatch", {"department_id": department_id()}).json()["holder_department_id"]
        == department_id()
    )


def test_history_rows_cannot_be_edited():
    row = EventAction(seq=1)
    row.pk = 1
    with pytest.raises(RuntimeError):
        row.save()


def test_it_records_the_device_and_its_claimed_time(as_persona):
    client = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(client, event_id, "accept", {"device_time": "2020-01-01T12:00:00+08:00"})
    row = EventAction.objects.get(event_id=event_id, action="accept")
    assert row.device_at.year == 2020 and row.server_at.year >= 2026
    assert row.device_ref.startswith("test-") and row.actor_role == "dispatcher"


def in_thread(function):
    """Run on a thread of its own, hence its own autocommitting connection: outside
    the test's transaction, as concurrent requests are."""
    box = {}

    def target():
        try:
            box["value"] = function()
        except BaseException as error:  # re-raised in the test's thread
            box["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_two_dispatchers_at_once_one_wins(db):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; this runs in CI's second pass")
    from backend.accounts.models import Device
    from conftest import login_as

    resident, first, second = (
        in_thread(lambda u=u: login_as(u)) for u in ("demo_resident", "demo_dispatcher", "demo_dispatcher")
    )
    event_id = in_thread(lambda: report(resident).json()["id"])
    barrier = threading.Barrier(2)
    results = []

    def accept(client):
        barrier.wait()
        try:
            results.append(step(client, event_id, "accept").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(c,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(results) == [200, 409]
        assert in_thread(lambda: EventAction.objects.filter(event_id=event_id, action="accept").count()) == 1
    finally:

        def clean():
            EventAction.objects.filter(event_id=event_id)._raw_delete(EventAction.objects.db)
            Event.objects.filter(pk=event_id).delete()
            Device.objects.filter(
                device_id__startswith="test-", user__username__in=["demo_resident", "demo_dispatcher"]
            ).delete()

        in_thread(clean)


def test_queues_filter_by_state_category_grid_date_and_overdue(as_persona):
    dispatcher = as_persona("demo_dispatcher")
    resident = as_persona("demo_resident")
    garbage = report(resident, category="06.01").json()["id"]
    building = report(resident, category="06.06", grid=GRID_B).json()["id"]
    step(dispatcher, building, "accept")

    def listed(**params):
        return {e["id"] for e in dispatcher.get("/events", {"queue": "all", **params}).json()["items"]}

    assert garbage in listed(state="reported") and building not in listed(state="reported")
    assert listed(category="06.06") >= {building} and garbage not in listed(category="06.06")
    assert {garbage, building} <= listed(category="06")  # a 大类 code matches its 小类
    from backend.territory.models import Grid

    grid_b = Grid.objects.get(code=GRID_B).pk
    assert building in listed(grid_id=grid_b) and garbage not in listed(grid_id=grid_b)
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()
    assert not listed(reported_from=tomorrow)
    assert garbage in listed(reported_to=tomorrow)
    assert garbage not in listed(overdue=True)
    bad = dispatcher.get("/events", {"queue": "nonsense"})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert dispatcher.get("/events", {"state": "nonsense"}).status_code == 422
    page = dispatcher.get("/events", {"page_size": 1}).json()
    assert len(page["items"]) == 1 and page["has_more"]
