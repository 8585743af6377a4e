"""Offline field edits merge field by field against the phone's base version;
conflicts wait for a dispatcher or secretary."""

from __future__ import annotations

import hashlib
import uuid

from backend.events.models import Event, EventAction
from conftest import ApiClient
from media.models import ExpectedPhoto, Photo
from media.tests.test_photos import image_bytes, upload
from push.models import Notification
from sync.models import Conflict
from sync.tests.phones import phone_of
from tests import matrix_registry
from tests.events_helpers import GRID_A, centre_of, report, step

matrix_registry.cover(
    "/api/v1/sync/conflicts", "/api/v1/sync/conflicts/{conflict_id}/resolve", "/api/v1/events/{event_id}/edit"
)


def worker_event(as_persona) -> tuple:
    """A report of grid A made by its worker, and that worker's phone holding it."""
    event_id = report(as_persona("demo_grid_worker"), source="grid_patrol", grid=GRID_A).json()["id"]
    phone = phone_of("demo_grid_worker")
    phone.pull()
    return event_id, phone


def test_an_edit_on_an_unchanged_event_is_applied(as_persona):
    event_id, phone = worker_event(as_persona)
    phone.edit(event_id, description="楼道内堆放杂物，约两立方", severity="high")
    (result,) = phone.push()
    assert result["status"] == "applied", result
    event = Event.objects.get(pk=event_id)
    assert (event.description, event.severity) == ("楼道内堆放杂物，约两立方", "high")
    phone.pull()
    assert phone.entities("event")[event_id]["version"] == event.action_count


def test_edits_to_different_fields_merge(as_persona):
    event_id, phone = worker_event(as_persona)
    dispatcher = as_persona("demo_dispatcher")
    assert step(dispatcher, event_id, "edit", {"fields": {"address_text": "清波街道 5 幢 2 单元"}}).status_code == 200
    phone.edit(event_id, description="手机上补充的描述")
    (result,) = phone.push()
    assert result["status"] == "merged" and result["data"]["applied_fields"] == ["description"]
    event = Event.objects.get(pk=event_id)
    assert (event.description, event.address_text) == ("手机上补充的描述", "清波街道 5 幢 2 单元")


def test_the_same_field_changed_on_both_sides_is_a_conflict_for_a_person(as_persona):
    event_id, phone = worker_event(as_persona)
    dispatcher = as_persona("demo_dispatcher")
    step(dispatcher, event_id, "edit", {"fields": {"description": "调度员改的描述"}})
    phone.edit(event_id, description="网格员改的描述", address_text="清波街道 7 幢")
    (result,) = phone.push()
    assert result["status"] == "conflict" and result["data"]["applied_fields"] == ["address_text"]
    conflict = Conflict.objects.get(pk=result["data"]["conflict_ids"][0])
    assert (conflict.field, conflict.server_value, conflict.phone_value) == (
        "description",
        "调度员改的描述",
        "网格员改的描述",
    )
    assert conflict.base_value == "小区门口有一堆暴露垃圾"
    assert Event.objects.get(pk=event_id).description == "调度员改的描述"  # nothing overwritten
    assert Notification.objects.filter(user__username="demo_dispatcher", kind="conflict").exists()

    listed = dispatcher.get("/sync/conflicts").json()["items"]
    assert [c["id"] for c in listed if c["event_id"] == event_id] == [conflict.pk]
    assert as_persona("demo_grid_worker").get("/sync/conflicts").status_code == 403
    assert as_persona("demo_secretary").get("/sync/conflicts").json()["items"][0]["id"] == conflict.pk

    resolved = dispatcher.post(f"/sync/conflicts/{conflict.pk}/resolve", {"keep": "phone"})
    assert resolved.status_code == 200, resolved.content
    assert resolved.json()["status"] == "resolved"
    assert Event.objects.get(pk=event_id).description == "网格员改的描述"
    assert EventAction.objects.filter(event_id=event_id, action="edit", data__resolution="phone").count() == 1
    assert (
        dispatcher.post(f"/sync/conflicts/{conflict.pk}/resolve", {"keep": "server"}).json()["code"]
        == "conflict_resolved"
    )
    assert Notification.objects.filter(user__username="demo_grid_worker", kind="conflict").exists()
    assert conflict.pk not in [c["id"] for c in dispatcher.get("/sync/conflicts").json()["items"]]
    assert conflict.pk in [c["id"] for c in dispatcher.get("/sync/conflicts", {"status": "resolved"}).json()["items"]]


def test_a_conflict_can_be_resolved_with_a_third_value_and_is_hidden_outside_the_territory(as_persona):
    event_id, phone = worker_event(as_persona)
    step(as_persona("demo_dispatcher"), event_id, "edit", {"fields": {"severity": "critical"}})
    phone.edit(event_id, severity="low")
    conflict_id = phone.push()[0]["data"]["conflict_ids"][0]
    outsider = as_persona("demo_resident")
    assert outsider.post(f"/sync/conflicts/{conflict_id}/resolve", {"keep": "server"}).status_code == 403
    secretary = as_persona("demo_secretary")
    bad = secretary.post(f"/sync/conflicts/{conflict_id}/resolve", {"keep": "value", "value": "apocalyptic"})
    assert bad.json()["code"] == "field_not_editable"
    good = secretary.post(f"/sync/conflicts/{conflict_id}/resolve", {"keep": "value", "value": "normal"})
    assert good.status_code == 200 and Event.objects.get(pk=event_id).severity == "normal"


def test_bad_edits_are_rejected_and_their_values_kept_on_the_event(as_persona):
    event_id, phone = worker_event(as_persona)
    phone.record("event.update_fields", {"event_id": event_id, "fields": {"state": "closed"}})
    phone.record("event.update_fields", {"event_id": event_id, "fields": {"description": "x"}}, base_version=999)
    phone.record("event.update_fields", {"event_id": event_id, "fields": {"description": "盲改"}})
    results = phone.push()
    assert [r["code"] for r in results] == ["field_not_editable", "invalid_base_version", "base_version_required"]
    kept = EventAction.objects.filter(event_id=event_id, action="comment", data__unapplied_step="edit")
    assert kept.count() == 3 and '"state": "closed"' in kept.first().note


def test_a_photo_referenced_before_it_arrives_is_attached_when_it_does(as_persona):
    phone = phone_of("demo_grid_worker")
    data = image_bytes()
    digest = hashlib.sha256(data).hexdigest()
    early = image_bytes(size=(320, 240))
    early_digest = hashlib.sha256(early).hexdigest()
    client = ApiClient(phone.meta("access_token"))
    assert upload(client, None, early).status_code == 201  # uploaded before the event reached the server
    lat, lng = centre_of(GRID_A)
    event_id = phone.report(
        category="06.01",
        description="带照片的离线上报",
        lat=lat,
        lng=lng,
        before_photos=[f"sha256:{digest}", early_digest],
    )
    (result,) = phone.push()
    assert result["status"] == "applied"
    assert Photo.objects.get(sha256=early_digest).event_id == uuid.UUID(event_id)
    assert ExpectedPhoto.objects.filter(sha256=digest, event_id=event_id).exists()
    assert upload(client, None, data).status_code == 201  # the photo arrives later
    assert Photo.objects.get(sha256=digest).event_id == uuid.UUID(event_id)
    assert not ExpectedPhoto.objects.filter(sha256=digest).exists()
    event = Event.objects.get(pk=event_id)
    assert sorted(event.photos["before"]) == sorted([digest, early_digest])  # each counted once


def test_who_may_edit_an_event(as_persona):
    tip = report(as_persona("demo_resident"), grid=GRID_A).json()["id"]
    body = {"fields": {"description": "更正后的描述"}}
    assert (
        step(as_persona("demo_resident"), tip, "edit", body).json()["code"] == "step_forbidden"
    )  # a tip is not rewritten
    assert step(as_persona("demo_grid_worker_b"), tip, "edit", body).status_code == 404  # another grid's event
    edited = step(as_persona("demo_dispatcher"), tip, "edit", body)
    assert edited.status_code == 200 and edited.json()["description"] == "更正后的描述"
    assert (
        step(as_persona("demo_dispatcher"), tip, "edit", {"fields": {"state": "closed"}}).json()["code"]
        == "field_not_editable"
    )
    assert step(as_persona("demo_dispatcher"), tip, "reject", {"reason": "重复"}).status_code == 200
    assert step(as_persona("demo_dispatcher"), tip, "edit", body).json()["code"] == "illegal_transition"


def test_it_applies_a_phones_two_queued_edits_of_one_field_in_turn_on_the_base_they_were_made_on(as_persona):
    event_id, phone = worker_event(as_persona)
    base = phone.entities("event")[event_id]["version"]
    phone.edit(event_id, description="第一次修改")
    phone.edit(event_id, description="第二次修改")
    step(as_persona("demo_dispatcher"), event_id, "accept")  # meanwhile the event moves on
    phone.pull()  # the cycle's first pull: the store moves on, the queued edits keep their base
    assert phone.entities("event")[event_id]["version"] == base + 1
    assert [m["base_version"] for m in phone.pending()] == [base, base]
    outcome = phone.sync()
    assert outcome["conflicts"] == [] and outcome["rejected"] == []
    assert [r["status"] for r in phone.results().values()] == ["merged", "merged"]  # the later wins
    assert [row[0] for row in phone.db.execute("SELECT base_version FROM outbox ORDER BY id")] == [base, base]
    event = Event.objects.get(pk=event_id)
    assert event.description == "第二次修改" and not Conflict.objects.filter(event_id=event_id).exists()
    assert phone.entities("event")[event_id]["description"] == "第二次修改"
    assert phone.entities("event")[event_id]["version"] == event.action_count == base + 3


def test_it_makes_both_queued_edits_conflicts_when_someone_else_changed_the_field(as_persona):
    event_id, phone = worker_event(as_persona)
    step(as_persona("demo_dispatcher"), event_id, "edit", {"fields": {"description": "调度员改的描述"}})
    phone.edit(event_id, description="第一次修改")
    phone.edit(event_id, description="第二次修改")
    results = phone.push()
    assert [r["status"] for r in results] == ["conflict", "conflict"]
    assert [Conflict.objects.get(pk=r["data"]["conflict_ids"][0]).phone_value for r in results] == [
        "第一次修改",
        "第二次修改",
    ]
    assert Event.objects.get(pk=event_id).description == "调度员改的描述"
