"""End to end: a public tip and a patrol report walked through every step with the
demo personas, including return, rework, extension, unsatisfied evaluation and
reopen, and automatic escalation after the deadline with a controlled clock."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.utils import timezone

from backend.events.history import verify_chain
from backend.events.models import Event, Level
from backend.events.supervision import supervision_tick
from backend.territory.coords import to_gcj02
from tests.events_helpers import GRID_A, centre_of, evidence, governance_platform_id, report, step, uploaded_refs


def test_it_walks_a_public_tip_through_the_whole_loop(as_persona, persona_user):
    resident = as_persona("demo_resident")
    dispatcher = as_persona("demo_dispatcher")
    worker = as_persona("demo_grid_worker")
    handler = as_persona("demo_handler")
    secretary = as_persona("demo_secretary")

    # 受理: the resident's phone reports in GCJ-02; storage is WGS-84 and the grid is found.
    lat, lng = centre_of(GRID_A)
    gcj_lat, gcj_lng = to_gcj02(lat=lat, lng=lng)
    created = report(resident, location={"lat": gcj_lat, "lng": gcj_lng, "crs": "gcj02"})
    assert created.status_code == 201, created.content
    tip = created.json()
    event_id = tip["id"]
    assert tip["state"] == "reported" and tip["state_label"] == "已收到，等待受理"  # a resident reads the public status
    assert tip["number"].startswith(f"SC{timezone.localtime().year}")
    assert abs(tip["lat"] - lat) < 1e-6 and abs(tip["lng"] - lng) < 1e-6
    assert tip["grid_name"] == "清波门第1网格"
    assert tip["allowed_steps"] == ["comment"]  # a resident may only add notes until it is closed

    assert "accept" in dispatcher.get(f"/events/{event_id}").json()["allowed_steps"]
    assert step(dispatcher, event_id, "accept").json()["state"] == "accepted"

    # 分流 to the grid worker (暴露垃圾 is on the admission list), who returns it.
    worker_id = persona_user("demo_grid_worker").pk
    dispatched = step(dispatcher, event_id, "dispatch", {"grid_worker_id": worker_id}).json()
    assert dispatched["state"] == "dispatched" and dispatched["holder_user_id"] == worker_id
    assert dispatched["level"] == Level.GRID and dispatched["deadline_at"]
    assert event_id in [e["id"] for e in worker.get("/events", {"queue": "my_tasks"}).json()["items"]]
    returned = step(worker, event_id, "return", {"reason": "需要执法力量"}).json()
    assert returned["state"] == "returned" and returned["return_count"] == 1 and returned["holder_user_id"] is None
    assert event_id in [e["id"] for e in dispatcher.get("/events", {"queue": "to_triage"}).json()["items"]]

    # Re-dispatched to the street's platform; the handler signs and asks for more time.
    platform_id = governance_platform_id()
    step(dispatcher, event_id, "dispatch", {"platform_id": platform_id})
    assert step(handler, event_id, "sign").json()["state"] == "in_progress"
    until = (timezone.now() + timedelta(days=10)).isoformat()
    asked = step(handler, event_id, "extension", {"until": until, "reason": "需协调物业"}).json()
    assert asked["extension_requested_until"]
    approved = step(dispatcher, event_id, "extension/approve").json()
    assert approved["extension_count"] == 1 and approved["extension_requested_until"] is None
    assert approved["deadline_at"].startswith(until[:16])

    # 处置 → 返工 → 处置 → 结案 (evidence: photos that arrived, not strings)
    evidence(handler, event_id, before=1, after=1)
    handled = step(handler, event_id, "handle", {"result_note": "已清运"}).json()
    assert handled["state"] == "handled"
    assert event_id in [e["id"] for e in secretary.get("/events", {"queue": "to_approve"}).json()["items"]]
    reworked = step(secretary, event_id, "rework", {"reason": "照片看不出已清理"}).json()
    assert reworked["state"] == "in_progress" and reworked["rework_count"] == 1
    step(handler, event_id, "handle", {"result_note": "已清运并消毒"})
    closed = step(secretary, event_id, "approve").json()
    assert closed["state"] == "closed" and closed["closed_at"]

    # 评价: unsatisfied lets the dispatcher reopen it.
    assert (
        step(resident, event_id, "evaluate", {"satisfaction": "unsatisfied", "comment": "第二天又有了"}).json()["state"]
        == "evaluated"
    )
    reopened = step(dispatcher, event_id, "reopen").json()
    assert reopened["state"] == "accepted" and reopened["reopen_count"] == 1
    step(dispatcher, event_id, "dispatch", {"platform_id": platform_id})
    step(handler, event_id, "sign")
    step(handler, event_id, "handle", {"result_note": "加装监控并每日巡查"})
    step(secretary, event_id, "approve")
    final = step(resident, event_id, "evaluate", {"satisfaction": "satisfied"}).json()
    assert final["state"] == "evaluated" and final["satisfaction"] == "satisfied"
    assert final["allowed_steps"] == ["comment"]

    history = dispatcher.get(f"/events/{event_id}/history").json()  # the resident's is the public view
    actions = [row["action"] for row in history]
    assert actions == [
        "report",
        "accept",
        "dispatch",
        "return",
        "dispatch",
        "sign",
        "extension",
        "extension/approve",
        "photo",
        "photo",
        "handle",
        "rework",
        "handle",
        "approve",
        "evaluate",
        "reopen",
        "dispatch",
        "sign",
        "handle",
        "approve",
        "evaluate",
    ]
    assert [row["seq"] for row in history] == list(range(1, len(history) + 1))
    assert all(history[i]["prev_hash"] == history[i - 1]["hash"] for i in range(1, len(history)))
    assert (
        history[3]["note"] == "需要执法力量"
        and history[3]["from_state"] == "dispatched"
        and history[3]["to_state"] == "returned"
    )
    assert verify_chain(Event.objects.get(pk=event_id)) == []


def test_it_takes_a_small_matter_fixed_on_the_spot_straight_to_approval(as_persona):
    worker = as_persona("demo_grid_worker")
    secretary = as_persona("demo_secretary")
    created = report(
        worker,
        source="grid_patrol",
        category="07.02",
        id=str(uuid.uuid4()),
        handled_on_spot=True,
        result_note="已将单车摆放整齐",
        **uploaded_refs(worker),
        device_time="2026-11-28T08:00:00+08:00",
    )
    assert created.status_code == 201, created.content
    event = created.json()
    assert event["state"] == "handled" and event["handled_on_spot"] and event["level"] == Level.GRID
    assert event["device_reported_at"] == "2026-11-28T00:00:00.000000+00:00"  # the device's 08:00 in Shanghai, in UTC
    assert event["id"] in [e["id"] for e in secretary.get("/events", {"queue": "to_approve"}).json()["items"]]
    assert step(secretary, event["id"], "approve").json()["state"] == "closed"


def test_it_escalates_an_overdue_event_one_level_per_grace_period(as_persona, persona_user, settings):
    settings.SUPERVISION = {**settings.SUPERVISION, "GRACE_HOURS": 24}
    worker = as_persona("demo_grid_worker")
    dispatcher = as_persona("demo_dispatcher")
    event_id = report(worker, source="grid_patrol").json()["id"]
    step(dispatcher, event_id, "accept")
    dispatched = step(dispatcher, event_id, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker").pk}).json()
    step(worker, event_id, "sign")
    deadline = Event.objects.get(pk=event_id).deadline_at
    assert dispatched["level"] == Level.GRID

    before = supervision_tick(now=deadline - timedelta(minutes=1))
    assert (before.marked_overdue, before.escalated) == (0, 0)

    late = deadline + timedelta(minutes=1)
    first = supervision_tick(now=late)
    assert first.marked_overdue == 1 and first.escalated == 0
    again = supervision_tick(now=late)
    assert (again.marked_overdue, again.escalated) == (0, 0)  # twice in a row changes nothing
    event = Event.objects.get(pk=event_id)
    assert event.overdue and event.urge_count == 1
    assert event_id in [e["id"] for e in dispatcher.get("/events", {"queue": "overdue"}).json()["items"]]

    levels = []
    for periods in (1, 2, 3, 4):
        moment = late + timedelta(hours=24 * periods, minutes=periods)
        supervision_tick(now=moment)
        assert supervision_tick(now=moment).escalated == 0
        levels.append(Event.objects.get(pk=event_id).level)
    assert levels == [Level.COMMUNITY, Level.STREET, Level.DISTRICT, Level.DISTRICT]

    history = dispatcher.get(f"/events/{event_id}/history").json()
    system_rows = [(row["action"], row["actor_role"]) for row in history if row["actor_id"] is None]
    assert system_rows == [("overdue", "system"), ("urge", "system")] + [("escalate", "system")] * 3
    assert verify_chain(Event.objects.get(pk=event_id)) == []
