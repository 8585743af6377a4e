"""Every resolution of a conflict leaves its row in the event's history, with the
resolver's note, whichever value it keeps (docs/sync.md, "Conflicts")."""

from __future__ import annotations

import pytest

from backend.events.models import Event, EventAction
from sync.models import Conflict
from sync.tests.test_merge import worker_event
from tests.events_helpers import step


def conflicted(as_persona) -> tuple[str, int]:
    """An event whose description the dispatcher and the worker's phone both changed."""
    event_id, phone = worker_event(as_persona)
    step(as_persona("demo_dispatcher"), event_id, "edit", {"fields": {"description": "调度员改的描述"}})
    phone.edit(event_id, description="网格员改的描述")
    (result,) = phone.push()
    assert result["status"] == "conflict"
    return event_id, result["data"]["conflict_ids"][0]


@pytest.mark.parametrize(
    ("body", "final"),
    [
        ({"keep": "server", "note": "以调度员核实为准"}, "调度员改的描述"),
        ({"keep": "phone", "note": "网格员在现场"}, "网格员改的描述"),
        ({"keep": "value", "value": "两人描述合并", "note": "合并两者"}, "两人描述合并"),
    ],
)
def test_it_writes_every_resolution_with_its_note_into_the_history(as_persona, body, final):
    event_id, conflict_id = conflicted(as_persona)
    version = Event.objects.get(pk=event_id).action_count
    answer = as_persona("demo_dispatcher").post(f"/sync/conflicts/{conflict_id}/resolve", body)
    assert answer.status_code == 200, answer.content
    event = Event.objects.get(pk=event_id)
    assert event.description == final and event.action_count == version + 1
    row = EventAction.objects.get(event_id=event_id, data__conflict_id=conflict_id)
    assert (row.action, row.seq, row.note) == ("edit", version + 1, body["note"])
    assert (row.data["resolution"], row.data["field"], row.data["value"]) == (body["keep"], "description", final)
    assert Conflict.objects.get(pk=conflict_id).resolved_value == final


def test_it_keeps_a_resolution_that_changed_nothing_out_of_later_merges(as_persona):
    event_id, phone = worker_event(as_persona)
    step(as_persona("demo_dispatcher"), event_id, "edit", {"fields": {"description": "调度员改的描述"}})
    phone.edit(event_id, description="网格员改的描述")
    conflict_id = phone.push()[0]["data"]["conflict_ids"][0]
    phone.pull()  # the phone now holds the server's value, at the version before the resolution
    resolved = as_persona("demo_secretary").post(f"/sync/conflicts/{conflict_id}/resolve", {"keep": "server"})
    assert resolved.status_code == 200
    row = EventAction.objects.get(event_id=event_id, data__conflict_id=conflict_id)
    assert row.data["fields"] == {}  # nothing changed: nothing for a merge to compare against
    phone.edit(event_id, description="网格员再次补充")
    (result,) = phone.push()
    assert (result["status"], result["data"]["applied_fields"]) == ("merged", ["description"])
