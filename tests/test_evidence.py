"""Issue 16: photo evidence is counted from photos that arrived, not from the strings
a report or a step claims; between a report and its photos the event waits (待补证据)
and moves on by itself, or goes to the secretary when they never come."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from backend.events.models import Event, EventAction, State
from backend.events.supervision import supervision_tick
from media.models import ExpectedPhoto, Photo
from sync.tests.test_push import Phone
from tests.events_helpers import (
    GRID_A,
    centre_of,
    governance_platform_id,
    photo_bytes,
    report,
    step,
    upload_photo,
)

MADE_UP = ["a" * 64, "b" * 64]


def on_spot(client, **refs):
    return report(
        client,
        source="grid_patrol",
        category="07.02",  # 共享单车乱停: one before and one after photo
        handled_on_spot=True,
        result_note="已将单车摆放整齐",
        **{"before_photos": [], "after_photos": [], **refs},
    )


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def to_approve(client) -> list[str]:
    return [e["id"] for e in client.get("/events", {"queue": "to_approve"}).json()["items"]]


def actions(event_id) -> list[str]:
    return list(EventAction.objects.filter(event_id=event_id).order_by("seq").values_list("action", flat=True))


def test_it_never_lets_made_up_digests_close_an_event(as_persona):
    """The reported case: handled on the spot with two invented digests, then approved."""
    worker, secretary = as_persona("demo_grid_worker"), as_persona("demo_secretary")
    event = on_spot(worker, before_photos=[MADE_UP[0]], after_photos=[MADE_UP[1]]).json()
    assert event["state"] == State.AWAITING_EVIDENCE  # a claim, not evidence
    assert event["id"] not in to_approve(secretary)
    assert step(secretary, event["id"], "approve").json()["code"] == "illegal_transition"

    supervision_tick(now=Event.objects.get(pk=event["id"]).handled_at + timedelta(hours=25))  # they never came
    assert event["id"] in to_approve(secretary)
    refused = step(secretary, event["id"], "approve")
    assert refused.status_code == 422 and refused.json()["code"] == "photos_missing"
    assert refused.json()["detail"]["after"] == {"required": 1, "present": 0, "expected": 1}
    assert Event.objects.get(pk=event["id"]).state == State.HANDLED and not Photo.objects.exists()


def test_it_refuses_what_even_the_claims_could_not_satisfy(as_persona):
    worker = as_persona("demo_grid_worker")
    refused = on_spot(worker, before_photos=[MADE_UP[0]], after_photos=["sha256:not-a-digest", "after.jpg"])
    assert refused.status_code == 422 and refused.json()["code"] == "photos_missing"
    assert refused.json()["detail"]["after"] == {"required": 1, "present": 0, "expected": 0}


def test_it_closes_an_on_the_spot_report_whose_photos_came_first_over_rest(as_persona):
    worker, secretary = as_persona("demo_grid_worker"), as_persona("demo_secretary")
    before, after = photo_bytes(), photo_bytes()
    before_id = upload_photo(worker, None, before, phase="before").json()["id"]
    upload_photo(worker, None, after, phase="after")
    # referenced by the photo's UUID and by its digest: both name an arrived photo
    event = on_spot(worker, before_photos=[before_id], after_photos=[f"sha256:{digest(after)}"]).json()
    assert event["state"] == State.HANDLED
    assert set(Photo.objects.filter(event_id=event["id"]).values_list("phase", flat=True)) == {"before", "after"}
    assert actions(event["id"]) == ["report", "photo", "photo"]
    assert step(secretary, event["id"], "approve").json()["state"] == State.CLOSED


def test_it_waits_for_photos_sent_after_an_on_the_spot_report_and_moves_on_when_they_arrive(as_persona):
    worker, secretary = as_persona("demo_grid_worker"), as_persona("demo_secretary")
    before, after = photo_bytes(), photo_bytes()
    event = on_spot(worker, before_photos=[digest(before)], after_photos=[f"sha256:{digest(after)}"]).json()
    assert event["state"] == State.AWAITING_EVIDENCE
    view = secretary.get(f"/events/{event['id']}/photos").json()["evidence"]
    assert not view["complete"] and [p["status"] for p in view["after"]["photos"]] == ["expected"]

    # photos may arrive by either route: loose (POST /photos) or to the event
    assert upload_photo(worker, None, before, phase="before").json()["event_id"] == event["id"]
    assert Event.objects.get(pk=event["id"]).state == State.AWAITING_EVIDENCE  # one still missing
    upload_photo(worker, event["id"], after, phase="after")
    moved = Event.objects.get(pk=event["id"])
    assert moved.state == State.HANDLED and not ExpectedPhoto.objects.filter(event=moved).exists()
    assert actions(moved.pk) == ["report", "photo", "photo", "evidence_arrived"]
    view = secretary.get(f"/events/{event['id']}/photos").json()["evidence"]
    assert view["complete"] and [p["status"] for p in view["before"]["photos"] + view["after"]["photos"]] == [
        "arrived",
        "arrived",
    ]
    assert event["id"] in to_approve(secretary)
    assert step(secretary, event["id"], "approve").json()["state"] == State.CLOSED
    from backend.events.history import verify_chain

    assert verify_chain(Event.objects.get(pk=event["id"])) == []


def test_a_handle_whose_after_photos_are_on_their_way_waits_for_them(as_persona):
    dispatcher, handler, secretary = (
        as_persona("demo_dispatcher"),
        as_persona("demo_handler"),
        as_persona("demo_secretary"),
    )
    event_id = report(as_persona("demo_resident"), before_photos=[]).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    step(handler, event_id, "sign")
    upload_photo(handler, event_id, phase="before")
    after = photo_bytes()
    handled = step(handler, event_id, "handle", {"result_note": "已清理", "after_photos": [digest(after)]}).json()
    assert handled["state"] == State.AWAITING_EVIDENCE and event_id not in to_approve(secretary)
    assert step(secretary, event_id, "approve").json()["code"] == "illegal_transition"
    upload_photo(handler, None, after, phase="after")  # the phone's upload, after the step
    assert Event.objects.get(pk=event_id).state == State.HANDLED
    assert step(secretary, event_id, "approve").json()["state"] == State.CLOSED


def test_the_supervision_job_sends_a_report_whose_photos_never_came_to_the_secretary(as_persona, settings):
    settings.SUPERVISION = {**settings.SUPERVISION, "EVIDENCE_WAIT_HOURS": 6}
    worker, secretary = as_persona("demo_grid_worker"), as_persona("demo_secretary")
    before, after = photo_bytes(), photo_bytes()
    event_id = on_spot(worker, before_photos=[digest(before)], after_photos=[digest(after)]).json()["id"]
    upload_photo(worker, None, before, phase="before")
    since = Event.objects.get(pk=event_id).handled_at

    assert supervision_tick(now=since + timedelta(hours=6) - timedelta(minutes=1)).evidence_overdue == 0
    assert Event.objects.get(pk=event_id).state == State.AWAITING_EVIDENCE
    assert supervision_tick(now=since + timedelta(hours=6, minutes=1)).evidence_overdue == 1
    assert supervision_tick(now=since + timedelta(hours=7)).evidence_overdue == 0  # once

    event = Event.objects.get(pk=event_id)
    assert event.state == State.HANDLED and event_id in to_approve(secretary)
    row = EventAction.objects.get(event_id=event_id, action="evidence_overdue")
    assert (row.from_state, row.to_state, row.actor_id) == (State.AWAITING_EVIDENCE, State.HANDLED, None)
    assert row.data["reason"] == "photos_not_arrived" and row.data["expected"] == {
        "before": [],
        "after": [digest(after)],
    }
    assert "6 小时" in row.note
    assert row.data["wait_limit_hours"] == 6 and row.data["waited_hours"] == 6.0  # the tick at 6 h 1 min
    view = secretary.get(f"/events/{event_id}/photos").json()["evidence"]
    assert [p["status"] for p in view["before"]["photos"]] == ["arrived"]
    assert [(p["status"], p["sha256"]) for p in view["after"]["photos"]] == [("expected", digest(after))]
    assert step(secretary, event_id, "approve").json()["code"] == "photos_missing"

    upload_photo(worker, None, after, phase="after")  # late, but it still counts
    assert step(secretary, event_id, "approve").json()["state"] == State.CLOSED


def _sync_on_spot(phone: Phone, **refs) -> dict:
    lat, lng = centre_of(GRID_A)
    return phone.mutation(
        "event.report",
        id=str(uuid.uuid4()),
        source="grid_patrol",
        category="07.02",
        description="单车乱停",
        lat=lat,
        lng=lng,
        handled_on_spot=True,
        result_note="已摆放整齐",
        **refs,
    )


def test_sync_attaches_photos_in_either_order(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    worker = phone.client
    # photo first, then the offline report (two reports in one push: the batch path)
    early = [photo_bytes(), photo_bytes()]
    upload_photo(worker, None, early[0], phase="before")
    upload_photo(worker, None, early[1], phase="after")
    late = [photo_bytes(), photo_bytes()]
    first, second = (
        _sync_on_spot(phone, before_photos=[f"sha256:{digest(early[0])}"], after_photos=[digest(early[1])]),
        _sync_on_spot(phone, before_photos=[digest(late[0])], after_photos=[digest(late[1])]),
    )
    results = phone.push([first, second]).json()["results"]
    assert [r["data"]["state"] for r in results] == [State.HANDLED, State.AWAITING_EVIDENCE]
    assert Photo.objects.filter(event_id=first["args"]["id"]).count() == 2
    # event first, then its photos
    upload_photo(worker, None, late[0], phase="after")  # the claim's phase wins over the upload's
    upload_photo(worker, None, late[1], phase="after")
    assert sorted(Photo.objects.filter(event_id=second["args"]["id"]).values_list("phase", flat=True)) == [
        "after",
        "before",
    ]
    assert Event.objects.get(pk=second["args"]["id"]).state == State.HANDLED

    # a report alone (after another mutation, not in a run of reports) takes the same path
    loose = photo_bytes()
    upload_photo(worker, None, loose, phase="before")
    comment = phone.mutation("event.comment", event_id=second["args"]["id"], note="好")
    alone = _sync_on_spot(phone, before_photos=[digest(loose)], after_photos=[MADE_UP[1]])
    applied = phone.push([comment, alone]).json()["results"]
    assert applied[1]["data"]["state"] == State.AWAITING_EVIDENCE  # the made-up one never arrives
    assert Photo.objects.get(sha256=digest(loose)).event_id == uuid.UUID(alone["args"]["id"])


def test_a_resident_cannot_see_the_evidence_view(as_persona):
    tip = report(as_persona("demo_resident")).json()["id"]
    assert "evidence" not in as_persona("demo_resident").get(f"/events/{tip}/photos").json()
    assert "evidence" in as_persona("demo_dispatcher").get(f"/events/{tip}/photos").json()


def test_phones_see_a_waiting_event_where_they_should(as_persona):
    """The grid worker's phone holds the waiting report; the secretary's gets it only
    once it is theirs to approve (sync buckets follow the state)."""
    from sync.tests.phones import phone_of, server_state

    worker = as_persona("demo_grid_worker")
    after = photo_bytes()
    event_id = on_spot(worker, **uploaded_refs_before(worker), after_photos=[digest(after)]).json()["id"]
    worker_phone, secretary_phone = phone_of("demo_grid_worker"), phone_of("demo_secretary")
    worker_phone.pull()
    secretary_phone.pull()
    assert worker_phone.entities("event")[event_id]["state"] == State.AWAITING_EVIDENCE
    assert event_id not in secretary_phone.entities("event")
    upload_photo(worker, None, after, phase="after")
    secretary_phone.pull()
    assert secretary_phone.entities("event")[event_id]["state"] == State.HANDLED
    assert secretary_phone.snapshot() == server_state("demo_secretary")


def uploaded_refs_before(client) -> dict:
    data = photo_bytes()
    upload_photo(client, None, data, phase="before")
    return {"before_photos": [digest(data)]}


def test_a_category_that_requires_no_photo_is_met_without_looking_photos_up(as_persona, django_assert_num_queries):
    """``require_evidence`` answers at once where nothing is required (a step of such a
    category reads no photo); where photos are required it still counts them."""
    import pytest

    from backend.core.errors import ApiError
    from backend.events.models import Category
    from backend.events.services.photos import evidence_of, require_evidence

    event_id = report(as_persona("demo_grid_worker"), category="01.02", source="grid_patrol").json()["id"]
    event = Event.objects.select_related("category", "reporter").get(pk=event_id)
    for category in Category.objects.filter(before_photos_required=0, after_photos_required=0)[:20]:
        event.category = category
        assert evidence_of(event).complete
        with django_assert_num_queries(0):
            assert require_evidence(event) is True
            assert require_evidence(event, claimer=event.reporter, wait=True) is True
    event.category = Category.objects.get(code="07.02")  # one before, one after: none arrived
    with django_assert_num_queries(1), pytest.raises(ApiError) as refused:
        require_evidence(event)
    assert refused.value.code == "photos_missing"
