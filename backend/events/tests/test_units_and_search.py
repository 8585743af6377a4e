"""The department path of the loop through the demo's stationed unit (下沉) and
department handler, and finding events by number and text within scope, with totals."""

from __future__ import annotations

from backend.accounts.scope import scope_of
from backend.core import pagination
from backend.core.pagination import TOTAL_CAP
from backend.events.models import Event
from backend.territory.models import Department, StationedUnit, Street
from push.models import Notification, NotificationKind
from sync.entities import buckets_for
from sync.tests.phones import phone_of
from tests.events_helpers import GRID_A, evidence, report, step


def ids(client, **params) -> set[str]:
    return {e["id"] for e in client.get("/events", {"page_size": 200, **params}).json()["items"]}


def demo_unit() -> StationedUnit:
    return StationedUnit.objects.get(street__code=GRID_A[:9], department__code="enforcement")


def test_it_walks_the_department_path_through_a_stationed_unit(as_persona, persona_user):
    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    unit_handler, platform_handler = as_persona("demo_unit_handler"), as_persona("demo_handler")
    department_handler, secretary = as_persona("demo_department_handler"), as_persona("demo_secretary")
    unit = demo_unit()
    assert unit.platform.get_kind_display() == "综合执法" and unit.department.name == "区综合行政执法局"

    event_id = report(resident, category="06.01").json()["id"]
    step(dispatcher, event_id, "accept")
    elsewhere = StationedUnit.objects.create(
        department=Department.objects.get(code="market"),
        street=Street.objects.exclude(code=GRID_A[:9]).first(),
        platform=Street.objects.exclude(code=GRID_A[:9]).first().platforms.first(),
        name="别的街道的单位",
    )
    wrong = step(dispatcher, event_id, "dispatch", {"unit_id": elsewhere.pk})
    assert wrong.status_code == 422 and "unit_id" in wrong.json()["detail"]
    two = step(dispatcher, event_id, "dispatch", {"unit_id": unit.pk, "platform_id": unit.platform_id})
    assert two.status_code == 422

    dispatched = step(dispatcher, event_id, "dispatch", {"unit_id": unit.pk}).json()
    assert dispatched["state"] == "dispatched" and dispatched["holder_unit_id"] == unit.pk
    # In the unit's queue and its people's, not the platform's or the department's own.
    assert event_id in ids(unit_handler, queue="my_tasks")
    assert event_id not in ids(platform_handler, queue="my_tasks")
    assert event_id not in ids(department_handler, queue="my_tasks")
    unit_user = persona_user("demo_unit_handler")
    assert Notification.objects.filter(user=unit_user, event_id=event_id, kind=NotificationKind.ASSIGNMENT).exists()
    assert f"unit:{unit.pk}" in buckets_for(scope_of(unit_user))
    phone = phone_of("demo_unit_handler")
    phone.pull()
    assert event_id in phone.entities("event")
    assert platform_handler.post(f"/events/{event_id}/sign").status_code == 404  # not theirs to see

    assert step(unit_handler, event_id, "sign").json()["state"] == "in_progress"
    evidence(unit_handler, event_id, before=1, after=1)
    assert step(unit_handler, event_id, "handle", {"result_note": "已依法清理"}).json()["state"] == "handled"
    assert step(secretary, event_id, "approve").json()["state"] == "closed"
    evaluated = step(resident, event_id, "evaluate", {"satisfaction": "satisfied"}).json()
    assert evaluated["state"] == "evaluated"
    assert Event.objects.get(pk=event_id).holder_unit_id == unit.pk

    # A deactivated unit is given nothing new.
    StationedUnit.objects.filter(pk=unit.pk).update(active=False)
    later = report(resident).json()["id"]
    step(dispatcher, later, "accept")
    assert step(dispatcher, later, "dispatch", {"unit_id": unit.pk}).status_code == 422


def test_it_lets_the_department_handler_take_what_is_dispatched_to_the_department(as_persona):
    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    department_handler, unit_handler = as_persona("demo_department_handler"), as_persona("demo_unit_handler")
    event_id = report(resident).json()["id"]
    step(dispatcher, event_id, "accept")
    enforcement = Department.objects.get(code="enforcement")
    step(dispatcher, event_id, "dispatch", {"department_id": enforcement.pk})
    assert event_id in ids(department_handler, queue="my_tasks")
    assert event_id not in ids(unit_handler, queue="all")
    assert step(department_handler, event_id, "sign").json()["state"] == "in_progress"
    returned = step(department_handler, event_id, "return", {"reason": "不属本部门"})
    assert returned.status_code == 409  # signed: no return any more, the step table says so


def test_it_finds_events_by_number_and_text_within_scope_with_totals(as_persona):
    resident, worker = as_persona("demo_resident"), as_persona("demo_grid_worker")
    dispatcher, worker_b = as_persona("demo_dispatcher"), as_persona("demo_grid_worker_b")
    marker = "井盖松动响声很大"
    found = report(resident, description=f"人行道{marker}，车牌 ZJ-A123", address_text="清波街12号门口").json()
    other = report(resident, description="路灯不亮", address_text="清波街12号对面").json()

    by_number = dispatcher.get("/events", {"q": found["number"]}).json()
    assert [e["id"] for e in by_number["items"]] == [found["id"]] and by_number["total"] == 1
    by_lowercase = dispatcher.get("/events", {"q": found["number"].lower()}).json()
    assert [e["id"] for e in by_lowercase["items"]] == [found["id"]]
    by_prefix = dispatcher.get("/events", {"q": found["number"][:-3], "page_size": 200}).json()
    assert found["id"] in {e["id"] for e in by_prefix["items"]}

    by_text = worker.get("/events", {"q": marker}).json()
    assert [e["id"] for e in by_text["items"]] == [found["id"]] and by_text["total_exact"]
    assert [e["id"] for e in dispatcher.get("/events", {"q": "zj-a12"}).json()["items"]] == [found["id"]]
    by_address = dispatcher.get("/events", {"q": "清波街12号"}).json()
    assert {e["id"] for e in by_address["items"]} >= {found["id"], other["id"]}
    # Within scope: the other grid's worker finds nothing, the number does not leak either.
    assert worker_b.get("/events", {"q": marker}).json() == {
        "items": [],
        "page": 1,
        "page_size": 50,
        "has_more": False,
        "total": 0,
        "total_exact": True,
    }
    assert worker_b.get("/events", {"q": found["number"]}).json()["total"] == 0
    # Search works inside a queue as well, and bad input is a clear 422.
    assert found["id"] in ids(dispatcher, queue="to_triage", q=marker)
    assert dispatcher.get("/events", {"q": "x" * 101}).status_code == 422


def test_it_gives_every_paged_list_a_total(as_persona, monkeypatch):
    dispatcher, resident = as_persona("demo_dispatcher"), as_persona("demo_resident")
    for _ in range(3):
        report(resident)
    first = dispatcher.get("/events", {"page_size": 2}).json()
    visible = Event.objects.filter(street__code=GRID_A[:9]).count()
    assert visible > 2 and first["has_more"]
    assert (first["total"], first["total_exact"]) == (min(visible, TOTAL_CAP), visible <= TOTAL_CAP)
    grids = dispatcher.get("/territory/grids", {"page_size": 10, "page": 2}).json()
    assert grids["total"] == 45 and grids["total_exact"] and len(grids["items"]) == 10
    conflicts = dispatcher.get("/sync/conflicts").json()
    assert conflicts["total"] == len(conflicts["items"]) and conflicts["total_exact"]
    monkeypatch.setattr(pagination, "TOTAL_CAP", 2)
    capped = dispatcher.get("/events", {"page_size": 1, "page": 2}).json()
    assert capped["total"] == 2 and capped["total_exact"] is False


def test_a_search_pages_from_its_matching_ids_as_the_ordered_list_would(as_persona, persona_user, monkeypatch):
    """A text search reads its matching ids first (``paginate(rows_by_id=…)``); every
    page, its order and totals are those of paging the ordered list, below the cap and
    above it."""
    from backend.events.selectors import event_queue

    resident = as_persona("demo_resident")
    for n in range(7):
        report(resident, description=f"楼道堆物第{n}处", address_text="清波街8号")
    report(resident, description="路灯不亮", address_text="清波街9号")
    events = event_queue(persona_user("demo_dispatcher"), queue="all", text="楼道堆物")
    for cap in (1_000, 7, 5):
        monkeypatch.setattr(pagination, "TOTAL_CAP", cap)
        for page in range(1, 6):
            plain = pagination.paginate(events, page=page, page_size=2)
            by_ids = pagination.paginate(events, page=page, page_size=2, rows_by_id=Event.objects.all())
            assert [e.pk for e in by_ids.pop("items")] == [e.pk for e in plain.pop("items")]
            assert by_ids == plain
    assert pagination.paginate(events, page=1, page_size=50, rows_by_id=Event.objects.all())["total"] == 5
