"""``fastpath.record.save_with_action`` (PostgreSQL) writes what ``event.save(update_fields=…)``
and ``action.save()`` write: the event's row (every column, ``auto_now`` set) and the
history row (every column), for steps that set relations, JSON, times and nulls; and it
refuses, as the ORM does, to add a history row to an event whose row is gone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from backend.accounts.actor import Actor
from backend.accounts.models import Device, User
from backend.events.models import Event, EventAction, State
from backend.events.services import recording
from backend.fastpath import record
from backend.territory.models import Platform
from tests.events_helpers import report

pytestmark = pytest.mark.django_db


def columns(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


NOW = timezone.now()  # the step's time in both runs: the history row's hash covers it


def recorded(event_id, change, *, fast: bool, monkeypatch) -> tuple[dict, dict]:
    monkeypatch.setattr(record, "applies", lambda: fast)
    with transaction.atomic():
        event = Event.objects.select_related("category", "grid").select_for_update().get(pk=event_id)
        action, fields, data = change(event)
        user = User.objects.get(username="demo_dispatcher")
        device = Device.objects.get_or_create(user=user, device_id="record-test")[0]
        actor = Actor(user=user, device=device, device_at=NOW - timedelta(minutes=3))
        recording._record(
            event,
            action=action,
            actor=actor,
            role="dispatcher",
            from_state=State.ACCEPTED,
            data=data,
            fields=fields,
            now=NOW,
        )
        row = EventAction.objects.get(event_id=event_id, seq=event.action_count)
        saved = columns(Event.objects.get(pk=event_id))
        written = columns(row)
        assert written["id"] == row.pk and saved["updated_at"] == event.updated_at
        transaction.set_rollback(True)
    saved.pop("updated_at")  # the moment of each save
    written.pop("id")
    return saved, written


def dispatched(event):
    event.state = State.DISPATCHED
    event.holder_platform = Platform.objects.filter(street_id=event.street_id).first()
    event.deadline_at = NOW + timedelta(days=2)
    event.photos = {"before": ["a" * 64], "after": []}
    return "dispatch", ("holder_platform", "deadline_at", "photos"), {"to": {"platform": "综治"}, "n": [1, None]}


def released(event):
    event.holder_platform = None
    event.signed_by = None
    event.overdue = True
    event.return_count += 1
    return "return", ("holder_platform", "signed_by_id", "overdue", "return_count", "state"), None


@pytest.mark.parametrize("change", [dispatched, released])
def test_one_statement_writes_what_the_two_saves_write(as_persona, monkeypatch, is_postgres, change):
    if not is_postgres:
        pytest.skip("the one-statement write is PostgreSQL's (SQLite keeps the two saves)")
    event_id = report(as_persona("demo_grid_worker"), source="grid_patrol").json()["id"]
    Device.objects.get_or_create(user=User.objects.get(username="demo_dispatcher"), device_id="record-test")
    assert recorded(event_id, change, fast=True, monkeypatch=monkeypatch) == recorded(
        event_id, change, fast=False, monkeypatch=monkeypatch
    )


def test_no_history_row_without_the_event_row(as_persona, is_postgres):
    if not is_postgres:
        pytest.skip("the one-statement write is PostgreSQL's")
    event_id = report(as_persona("demo_grid_worker"), source="grid_patrol").json()["id"]
    event = Event.objects.get(pk=event_id)
    row = EventAction(event_id=event.pk, seq=99, action="comment", server_at=timezone.now(), hash="x")
    event.pk = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(DatabaseError), transaction.atomic():
        record.save_with_action(event, row, ["state"])
    assert row.pk is None
