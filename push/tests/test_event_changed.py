"""The street feed's ``event.changed`` gives each field the meaning it has in every
other answer: ``category`` is the category's code, ``category_name`` its name."""

from __future__ import annotations

import pytest

from sync.tests.test_push import Phone, offline_report
from tests.events_helpers import report, step


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, dict]]:
    """The channel-layer messages sent after commit."""
    messages: list[tuple[str, dict]] = []
    monkeypatch.setattr("push.services.group_send_many", messages.extend)
    return messages


def fed(sent: list[tuple[str, dict]]) -> list[dict]:
    return [event for group, message in sent if group.startswith("street.") for event in message["events"]]


def test_it_gives_the_category_code_as_category_in_event_changed(as_persona, sent, django_capture_on_commit_callbacks):
    dispatcher = as_persona("demo_dispatcher")
    with django_capture_on_commit_callbacks(execute=True):
        event_id = report(as_persona("demo_resident"), category="06.01").json()["id"]
        step(dispatcher, event_id, "accept")
    shown = dispatcher.get(f"/events/{event_id}").json()
    assert shown["category"] == "06.01" and shown["category_name"] not in ("", "06.01")  # the REST answer
    feed = fed(sent)
    assert [e["state"] for e in feed] == ["reported", "accepted"]
    for event in feed:
        assert event["id"] == event_id
        assert (event["category"], event["category_name"]) == ("06.01", shown["category_name"])


def test_it_gives_the_category_code_for_a_phones_batch_of_reports(as_persona, sent, django_capture_on_commit_callbacks):
    phone = Phone(as_persona, "demo_grid_worker")
    with django_capture_on_commit_callbacks(execute=True):
        results = phone.push([offline_report(phone), offline_report(phone)]).json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied"]
    feed = fed(sent)
    assert sorted(e["id"] for e in feed) == sorted(r["data"]["event_id"] for r in results)
    assert {e["category"] for e in feed} == {"06.01"} and all(e["category_name"] != "06.01" for e in feed)
