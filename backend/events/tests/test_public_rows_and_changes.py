"""The history marks which rows a resident sees (the public view's rule, one source), and
the events list finds what changed lately: the console's event page and last hour."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from backend.events.models import Event
from backend.tips.public import PUBLIC_STEPS
from tests.events_helpers import report, step


def test_staff_history_marks_the_rows_a_resident_sees(as_persona):
    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    event_id = report(resident).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "comment", {"note": "内部：先联系物业"})
    rows = dispatcher.get(f"/events/{event_id}/history").json()
    assert [(r["action"], r["public"]) for r in rows] == [("report", True), ("accept", True), ("comment", False)]
    assert all(r["public"] == (r["action"] in PUBLIC_STEPS) for r in rows)
    # The resident's own history is the public rows only, each marked so.
    theirs = resident.get(f"/events/{event_id}/history").json()
    assert [r["action"] for r in theirs] == ["report", "accept"] and all(r["public"] for r in theirs)


def test_the_list_finds_what_changed_since_a_time_newest_change_first(as_persona):
    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    older, newer = report(resident).json()["id"], report(resident).json()["id"]
    long_ago = timezone.now() - timedelta(days=3)
    Event.objects.filter(pk__in=[older, newer]).update(updated_at=long_ago)
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert {older, newer}.isdisjoint(
        e["id"] for e in dispatcher.get("/events", {"changed_from": since}).json()["items"]
    )
    step(dispatcher, older, "accept")  # the older report changes now
    found = [e["id"] for e in dispatcher.get("/events", {"changed_from": since, "page_size": 200}).json()["items"]]
    assert older in found and newer not in found
    assert found[0] == older  # newest change first
