"""On PostgreSQL: 20 phones push conflicting edits to the same events at once. No
update is lost, nothing answers 5xx, nothing deadlocks, every conflict is recorded."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from backend.accounts.models import Device
from backend.events.models import Event, EventAction
from push.models import NotificationCounter
from sync.models import Change, Conflict
from sync.tests.phones import phone_of
from tests.events_helpers import GRID_A, report
from tests.test_event_rules import in_thread

PHONES = 20
EVENTS = 3


def test_twenty_phones_pushing_conflicting_edits_at_once(db):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent row locks need PostgreSQL; this runs in CI's second pass")
    from conftest import login_as

    event_ids = in_thread(
        lambda: [
            report(login_as("demo_grid_worker"), source="grid_patrol", grid=GRID_A).json()["id"] for _ in range(EVENTS)
        ]
    )
    phones = in_thread(lambda: [phone_of("demo_grid_worker") for _ in range(PHONES)])  # a phone each, one grid
    for index, phone in enumerate(phones):
        in_thread(phone.pull)
        for offset in range(EVENTS):  # each phone edits every event, each in its own order
            event_id = event_ids[(index + offset) % EVENTS]
            phone.edit(event_id, description=f"手机 {index} 的描述", address_text=f"地址 {index}")
    versions = in_thread(lambda: dict(Event.objects.filter(pk__in=event_ids).values_list("id", "action_count")))
    # The resolvers' notification counters, put back afterwards: the conflicts' notifications
    # commit outside the test's transaction, and later tests count sequences from 1.
    counters = in_thread(lambda: dict(NotificationCounter.objects.values_list("user_id", "last")))
    barrier = threading.Barrier(PHONES)
    outcomes: dict[int, list[dict] | BaseException] = {}

    def push(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = phones[index].push()
        except BaseException as error:  # noqa: BLE001 - reported below
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=push, args=(n,)) for n in range(PHONES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert not any(thread.is_alive() for thread in threads), "a push never finished (deadlock?)"
        errors = {n: o for n, o in outcomes.items() if isinstance(o, BaseException)}
        assert not errors, errors  # a 5xx would have raised after the client's retries
        results = [r for o in outcomes.values() for r in o]
        assert len(results) == PHONES * EVENTS
        assert {r["status"] for r in results} <= {"applied", "conflict"}

        def check() -> None:
            for event_id in event_ids:
                event = Event.objects.get(pk=event_id)
                edits = EventAction.objects.filter(event_id=event_id, action="edit")
                # The first push made on the shared base version applies both fields; every
                # later one changed a field that had changed since: all conflicts, kept.
                assert edits.count() == 1 and event.action_count == versions[event.pk] + 1
                for field in ("description", "address_text"):
                    conflicts = Conflict.objects.filter(event_id=event_id, field=field)
                    assert conflicts.count() == PHONES - 1
                    kept = set(conflicts.values_list("phone_value", flat=True)) | {getattr(event, field)}
                    assert len(kept) == PHONES  # every phone's value is somewhere: nothing lost

        in_thread(check)
    finally:

        def clean() -> None:
            Conflict.objects.filter(event_id__in=event_ids).delete()
            EventAction.objects.filter(event_id__in=event_ids)._raw_delete(EventAction.objects.db)
            Change.objects.filter(kind="event", entity_id__in=event_ids).delete()
            Event.objects.filter(pk__in=event_ids).delete()
            Device.objects.filter(device_id__in=[p.device_id for p in phones]).delete()
            Device.objects.filter(device_id__startswith="test-", user__username="demo_grid_worker").delete()
            NotificationCounter.objects.exclude(user_id__in=counters).delete()
            for user_id, last in counters.items():
                NotificationCounter.objects.filter(user_id=user_id).exclude(last=last).update(last=last)

        in_thread(clean)
