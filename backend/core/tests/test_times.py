"""Every timestamp in every answer has one form: UTC, six fraction digits, ``+00:00``
(the form sync pull pages have always sent)."""

import re
from datetime import UTC, datetime, timedelta, timezone

from backend.core.times import wire_time
from backend.events.models import Event
from sync.client import PROTOCOL_VERSION
from sync.tests.phones import phone_of
from tests.events_helpers import GRID_A, governance_platform_id, report, step

WIRE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def test_it_prints_any_moment_in_one_form():
    shanghai = timezone(timedelta(hours=8))
    assert wire_time(datetime(2026, 12, 2, 17, 30, tzinfo=shanghai)) == "2026-12-02T09:30:00.000000+00:00"
    assert wire_time(datetime(2026, 12, 2, 9, 30, 0, 250, tzinfo=UTC)) == "2026-12-02T09:30:00.000250+00:00"


def test_it_gives_a_deadline_alike_in_the_dispatch_answer_the_queue_the_event_its_history_and_a_pull(as_persona):
    event_id = report(as_persona("demo_resident"), grid=GRID_A).json()["id"]
    dispatcher = as_persona("demo_dispatcher")
    assert step(dispatcher, event_id, "accept").status_code == 200
    dispatched = step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id(), "deadline_hours": 8})
    assert dispatched.status_code == 200, dispatched.content
    deadline = dispatched.json()["deadline_at"]
    assert WIRE.match(deadline), deadline
    assert deadline == wire_time(Event.objects.get(pk=event_id).deadline_at)

    queue = dispatcher.get("/events", {"queue": "all"}).json()["items"]
    assert next(item["deadline_at"] for item in queue if item["id"] == event_id) == deadline
    detail = dispatcher.get(f"/events/{event_id}").json()
    assert detail["deadline_at"] == deadline and WIRE.match(detail["reported_at"])
    history = dispatcher.get(f"/events/{event_id}/history").json()
    assert next(row["data"]["deadline_at"] for row in history if row["action"] == "dispatch") == deadline
    assert all(WIRE.match(row["server_at"]) for row in history)

    phone = phone_of("demo_grid_worker")
    body = {"device_id": phone.device_id, "protocol_version": PROTOCOL_VERSION, "cursor": None, "limit": 1000}
    status, page = phone.transport.post("/sync/pull", body, phone.meta("access_token"))
    assert status == 200 and WIRE.match(page["server_time"])
    pulled = next(c["data"] for c in page["changes"] if c["kind"] == "event" and c["id"] == event_id)
    assert pulled["deadline_at"] == deadline


def test_it_gives_a_whole_second_its_fraction_and_notifications_the_same_form(as_persona):
    event_id = report(as_persona("demo_resident"), grid=GRID_A).json()["id"]
    Event.objects.filter(pk=event_id).update(reported_at=datetime(2026, 3, 1, 8, 30, tzinfo=UTC))
    resident = as_persona("demo_resident")
    assert resident.get(f"/events/{event_id}").json()["reported_at"] == "2026-03-01T08:30:00.000000+00:00"
    dispatcher = as_persona("demo_dispatcher")
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id(), "deadline_hours": 8})
    notifications = as_persona("demo_handler").get("/notifications").json()
    items = notifications["items"] if isinstance(notifications, dict) else notifications
    assert items and all(WIRE.match(item["created_at"]) for item in items)
