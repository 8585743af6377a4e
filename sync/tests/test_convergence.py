"""Property (sync.md, "How it is proven"): several simulated phones, the reference
client over a network that drops requests, loses answers after the server
committed, duplicates requests and delivers stale pushes late, make random offline
reports, edits, comments, patrols and steps while a dispatcher changes the same
events on the server. Afterwards:

- every phone's store equals the server's state for its scope;
- no mutation was applied twice;
- every note, edit and photo reference recorded on a phone is on the server
  (applied, kept as a conflict, or kept as an unapplied step's comment on the event or,
  where its author may not comment, in the device's ledger).
"""

from __future__ import annotations

import random
import uuid

from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.events.models import Event, EventAction
from backend.patrols.models import PatrolSession
from sync.models import Conflict, LedgerEntry
from sync.tests.phones import FlakyTransport, phone_of, server_state
from tests.events_helpers import GRID_A, GRID_B, centre_of, report, step

USERS = ["demo_grid_worker", "demo_grid_worker_b", "demo_resident"]
OPERATIONS = st.lists(
    st.tuples(
        st.integers(0, len(USERS) - 1),
        st.sampled_from(
            [
                "report",
                "report",
                "edit",
                "comment",
                "sign",
                "patrol",
                "sync",
                "dispatcher_edit",
                "dispatcher_accept",
                "dispatcher_reject",
            ]
        ),
        st.integers(0, 10_000),
    ),
    min_size=3,
    max_size=30,
)


class Recorded:
    """What one phone recorded offline, to look for on the server afterwards."""

    def __init__(self):
        self.reports: list[str] = []
        self.photo_refs: dict[str, str] = {}
        self.notes: list[str] = []
        self.edits: list[tuple[str, str, str]] = []  # (event id, field, value)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(operations=OPERATIONS, seed=st.integers(0, 2**32 - 1))
def test_phones_converge_to_the_server_and_lose_nothing(as_persona, operations, seed):
    rng = random.Random(seed)
    phones = [phone_of(user, FlakyTransport(random.Random(rng.random()))) for user in USERS]
    recorded = [Recorded() for _ in USERS]
    dispatcher = as_persona("demo_dispatcher")
    grids = {0: GRID_A, 1: GRID_B, 2: GRID_A}
    for index, operation, number in operations:
        phone, mine = phones[index], recorded[index]
        local_events = sorted(phone.entities("event"))
        target = local_events[number % len(local_events)] if local_events else None
        tag = uuid.uuid4().hex[:8]
        if operation == "report":
            lat, lng = centre_of(grids[index])
            ref = "sha256:" + uuid.uuid4().hex + uuid.uuid4().hex
            event_id = phone.report(
                category="06.01",
                description=f"离线上报 {tag}",
                lat=lat,
                lng=lng,
                source="public_tip" if index == 2 else "grid_patrol",
                before_photos=[ref],
            )
            mine.reports.append(event_id)
            mine.photo_refs[event_id] = ref[7:]
        elif operation == "edit" and target and index != 2:
            value = f"网格员修改 {tag}"
            phone.edit(target, description=value)
            mine.edits.append((target, "description", value))
        elif operation == "comment" and target:
            note = f"补充说明 {tag}"
            phone.step("comment", target, note=note)
            mine.notes.append(note)
        elif operation == "sign" and target:
            note = f"签收 {tag}"
            phone.step("sign", target, note=note)  # usually no longer allowed: its note must survive
            mine.notes.append(note)
        elif operation == "patrol" and index != 2:
            lat, lng = centre_of(grids[index])
            start = timezone.now()
            phone.record(
                "patrol.log",
                {
                    "id": str(uuid.uuid4()),
                    "started_at": start.isoformat(),
                    "note": f"巡查 {tag}",
                    "points": [
                        {"lat": lat + i / 10_000, "lng": lng, "at": (start + timezone.timedelta(seconds=i)).isoformat()}
                        for i in range(3)
                    ],
                },
            )
            mine.notes.append(f"巡查 {tag}")
        elif operation == "sync":
            phone.sync()
        elif operation.startswith("dispatcher_") and target:
            if operation == "dispatcher_edit":
                step(dispatcher, target, "edit", {"fields": {"description": f"调度员修改 {tag}"}})
            elif operation == "dispatcher_accept":
                step(dispatcher, target, "accept")
            else:
                step(dispatcher, target, "reject", {"reason": f"驳回 {tag}"})
        elif operation == "dispatcher_accept":
            report(dispatcher, source="video_alert", grid=grids[index])  # something new in a phone's grid

    for phone in phones:  # back online for good
        phone.sync()
    for phone in phones:  # others' last pushes may have changed what a phone sees
        phone.pull()

    for user, phone, mine in zip(USERS, phones, recorded):
        assert phone.snapshot() == server_state(user), f"{user}'s store differs from the server"
        assert not phone.pending()
        ledger = list(
            LedgerEntry.objects.filter(device__device_id=phone.device_id).values_list("mutation_id", flat=True)
        )
        assert sorted(ledger) == sorted(set(ledger)) == sorted(phone.results())
        for event_id in mine.reports:
            assert EventAction.objects.filter(event_id=event_id, action="report").count() == 1
            assert mine.photo_refs[event_id] in Event.objects.get(pk=event_id).photos["before"]
        # A refused step's note is on the event only when its author may comment there;
        # otherwise its own ledger row holds it, and the result says so.
        in_ledger = {
            entry.args.get("note")
            for entry in LedgerEntry.objects.filter(device__device_id=phone.device_id, result__kept="ledger")
        }
        for note in mine.notes:
            kept = (
                EventAction.objects.filter(note=note).count()
                + PatrolSession.objects.filter(note=note).count()
                + (note in in_ledger)
            )
            assert kept == 1, f"{note!r} kept {kept} times"
        for event_id, field, value in mine.edits:
            edits = EventAction.objects.filter(event_id=event_id, action="edit").values_list("data", flat=True)
            assert (
                any(
                    data["fields"].get(field, [None, None])[1] == value for data in edits
                )  # applied (maybe since overwritten)
                or Conflict.objects.filter(
                    event_id=event_id, field=field, phone_value=value
                ).exists()  # waits for a person
                or EventAction.objects.filter(
                    event_id=event_id, action="comment", note__contains=value
                ).exists()  # kept, not applied
                or LedgerEntry.objects.filter(
                    device__device_id=phone.device_id, result__kept="ledger", **{f"args__fields__{field}": value}
                ).exists()  # kept in the ledger: the user may not comment on the event
            ), f"the edit {value!r} of {event_id} is lost"
