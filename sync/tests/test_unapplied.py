"""A step refused when it arrives keeps its note, photo references or values, but
only where its author may write: on the event's history when they may comment on
it, otherwise in their own device's ledger (docs/sync.md, "Rules")."""

from __future__ import annotations

from backend.events.models import Event, EventAction
from sync.models import LedgerEntry
from sync.tests.test_push import Phone
from tests.events_helpers import evidence, governance_platform_id, report, step


def closed_tip(as_persona) -> str:
    """A resident's tip of grid A, handled by the street's platform and closed: it stays
    in grid A's worker's scope, but they are none of the people who may comment on it."""
    dispatcher, handler = as_persona("demo_dispatcher"), as_persona("demo_handler")
    event_id = report(as_persona("demo_resident"), before_photos=[]).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    step(handler, event_id, "sign")
    evidence(handler, event_id, before=1, after=1)
    step(handler, event_id, "handle", {"result_note": "已清运"})
    assert step(as_persona("demo_secretary"), event_id, "approve").json()["state"] == "closed"
    return event_id


def test_it_keeps_a_refused_step_out_of_the_history_of_an_event_its_author_may_not_comment_on(as_persona):
    event_id = closed_tip(as_persona)
    worker = as_persona("demo_grid_worker")
    direct = step(worker, event_id, "comment", {"note": "直接评论"})
    assert direct.status_code == 403 and direct.json()["code"] == "step_forbidden"
    version = Event.objects.get(pk=event_id).action_count

    phone = Phone(as_persona, "demo_grid_worker")
    comment = phone.mutation("event.comment", event_id=event_id, note="离线补充说明", after_photos=["sha256:offline"])
    handle = phone.mutation("event.handle", event_id=event_id, result_note="离线处置", after_photos=["sha256:late"])
    results = phone.push([comment, handle]).json()["results"]

    assert [(r["status"], r["code"], r["kept"]) for r in results] == [
        ("rejected", "step_forbidden", "ledger"),
        ("rejected", "step_forbidden", "ledger"),
    ]
    assert results[0]["state"] == "closed" and results[0]["allowed_steps"] == []
    event = Event.objects.get(pk=event_id)
    assert event.action_count == version  # nothing written on the event
    assert not EventAction.objects.filter(event_id=event_id, action="comment").exists()
    assert "sha256:offline" not in event.photos.get("after", []) and "sha256:late" not in event.photos.get("after", [])
    # The phone's own ledger rows keep what it sent and say where it is.
    ledger = LedgerEntry.objects.filter(device=phone.device).order_by("mutation_id")
    assert [entry.args["note"] if "note" in entry.args else entry.args["result_note"] for entry in ledger] == [
        "离线补充说明",
        "离线处置",
    ]
    assert [entry.result["kept"] for entry in ledger] == ["ledger", "ledger"]
    assert phone.push([comment]).json()["results"][0]["kept"] == "ledger"  # a replay answers the same


def test_it_keeps_a_refused_step_in_the_history_when_its_author_may_comment_there(as_persona):
    event_id = report(as_persona("demo_grid_worker"), source="grid_patrol").json()["id"]  # the worker is the reporter
    step(as_persona("demo_dispatcher"), event_id, "reject", {"reason": "重复上报"})
    phone = Phone(as_persona, "demo_grid_worker")
    (result,) = phone.push([phone.mutation("event.sign", event_id=event_id, note="已到现场")]).json()["results"]
    assert (result["status"], result["kept"], result["state"]) == ("rejected", "history", "rejected")
    kept = EventAction.objects.get(event_id=event_id, action="comment")
    assert kept.note == "已到现场" and kept.data["unapplied_step"] == "sign" and kept.actor_role == ""
    assert Event.objects.get(pk=event_id).action_count == kept.seq


def test_it_says_nothing_was_kept_when_a_refused_step_carried_nothing(as_persona):
    event_id = closed_tip(as_persona)
    phone = Phone(as_persona, "demo_grid_worker")
    (result,) = phone.push([phone.mutation("event.sign", event_id=event_id)]).json()["results"]
    assert result["status"] == "rejected" and "kept" not in result
