"""Property: phones that push their whole pending queue in order, with requests
duplicated, replayed late (an old request arriving after a newer one) and
responses lost after the server committed, end with every mutation applied exactly
once and every note they recorded on the server. (Pull and the full simulated-phone
convergence test come with the rest of the sync issue.)"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.events.models import Event, EventAction
from sync.models import LedgerEntry
from sync.tests.test_push import Phone, offline_report
from tests.events_helpers import GRID_A, GRID_B

ACTIONS = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.sampled_from(["report", "comment", "push", "push_lose_response", "replay_old", "duplicate"]),
    ),
    min_size=1,
    max_size=25,
)


class SimulatedPhone:
    def __init__(self, phone: Phone):
        self.phone = phone
        self.pending: list[dict] = []
        self.sent_requests: list[list[dict]] = []
        self.results: dict[int, dict] = {}
        self.reported: list[str] = []
        self.notes: list[str] = []

    def send(self, mutations: list[dict], *, lose_response: bool = False) -> None:
        response = self.phone.push(mutations)
        assert response.status_code == 200, response.content
        self.sent_requests.append(mutations)
        if lose_response:
            return  # the server committed; the phone never hears of it
        for result in response.json()["results"]:
            previous = self.results.setdefault(result["id"], result)
            assert previous == result, "a replay answered differently"
        answered = {r["id"] for r in response.json()["results"]}
        self.pending = [m for m in self.pending if m["id"] not in answered]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_pushes_apply_each_mutation_exactly_once_and_lose_nothing(as_persona, actions):
    phones = [
        SimulatedPhone(Phone(as_persona, "demo_grid_worker")),
        SimulatedPhone(Phone(as_persona, "demo_grid_worker_b")),
    ]
    for index, action in actions:
        phone = phones[index]
        if action == "report":
            grid = GRID_A if index == 0 else GRID_B
            mutation = offline_report(phone.phone, grid=grid, description=f"巡查发现 {uuid.uuid4().hex[:8]}")
            phone.pending.append(mutation)
            phone.reported.append(mutation["args"]["id"])
        elif action == "comment" and phone.reported:
            note = f"补充说明 {uuid.uuid4().hex[:8]}"
            phone.pending.append(phone.phone.mutation("event.comment", event_id=phone.reported[-1], note=note))
            phone.notes.append(note)
        elif action in ("push", "duplicate") and phone.pending:
            batch = list(phone.pending)
            phone.send(batch)
            if action == "duplicate":
                phone.send(batch)
        elif action == "push_lose_response" and phone.pending:
            phone.send(list(phone.pending), lose_response=True)
        elif action == "replay_old" and phone.sent_requests:
            phone.send(phone.sent_requests[0])
    for phone in phones:  # back online: push until the queue is empty
        while phone.pending:
            phone.send(list(phone.pending))
        device = phone.phone.device
        ids = list(LedgerEntry.objects.filter(device=device).values_list("mutation_id", flat=True))
        assert len(ids) == len(set(ids)) == len(phone.results)
        assert all(result["status"] == "applied" for result in phone.results.values())
        assert Event.objects.filter(pk__in=phone.reported).count() == len(set(phone.reported))
        for event_id in phone.reported:
            assert EventAction.objects.filter(event_id=event_id, action="report").count() == 1
        for note in phone.notes:
            assert EventAction.objects.filter(action="comment", note=note).count() == 1
