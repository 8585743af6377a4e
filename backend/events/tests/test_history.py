import io

import pytest
from django.core.management import CommandError, call_command

from backend.events.history import verify_chain
from backend.events.models import Event, EventAction
from tests.events_helpers import report, step


@pytest.fixture
def event_with_history(as_persona):
    dispatcher = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept", {"note": "受理"})
    assert step(dispatcher, event_id, "comment", {"note": "已联系物业"}).status_code == 200
    return Event.objects.get(pk=event_id)


def test_an_untouched_chain_verifies(event_with_history):
    assert verify_chain(event_with_history) == []
    out = io.StringIO()
    call_command("verify_event_chain", event_with_history.number, stdout=out)
    assert "1 events" in out.getvalue()
    # A mistyped number is not "intact": the command names it and fails.
    with pytest.raises(CommandError, match="SC29990000001"):
        call_command("verify_event_chain", event_with_history.number, "SC29990000001", stdout=io.StringIO())


def test_an_edited_note_breaks_the_chain_at_that_row(event_with_history):
    EventAction.objects.filter(event=event_with_history, seq=2).update(note="改过的说明")
    problems = verify_chain(event_with_history)
    assert problems == ["#2: content does not match its hash"]
    with pytest.raises(CommandError, match="1 of 1"):
        call_command("verify_event_chain", event_with_history.number, stdout=io.StringIO(), stderr=io.StringIO())


def test_a_removed_last_row_is_noticed(event_with_history):
    EventAction.objects.filter(event=event_with_history, seq=3)._raw_delete(EventAction.objects.db)
    assert any("missing" in problem for problem in verify_chain(event_with_history))


def test_a_removed_middle_row_breaks_the_links(event_with_history):
    EventAction.objects.filter(event=event_with_history, seq=2)._raw_delete(EventAction.objects.db)
    problems = verify_chain(event_with_history)
    assert "#3: expected sequence 2" in problems and "#3: does not link to the row before it" in problems
