"""The push half of offline sync: exactly once, one result per mutation, commands
checked against the current state, nothing recorded on a phone lost."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from backend.accounts.models import Device
from backend.events.models import Event, EventAction
from sync.models import LedgerEntry, SyncDevice
from sync.schemas import PushOut
from tests import matrix_registry
from tests.events_helpers import GRID_A, centre_of, evidence, governance_platform_id, report, step

matrix_registry.cover("/api/v1/sync/push")


def device_of(client) -> Device:
    return Device.objects.filter(user__username=client.username).latest("pk")


class Phone:
    """Enough of a phone to push: its login, its device id, its mutation counter."""

    def __init__(self, as_persona, username: str):
        self.client = as_persona(username)
        self.client.username = username
        self.device = device_of(self.client)
        self.next_id = 1

    def mutation(self, name: str, **args) -> dict:
        mutation = {"id": self.next_id, "name": name, "args": args, "client_time": timezone.now().isoformat()}
        self.next_id += 1
        return mutation

    def push(self, mutations: list[dict], **overrides):
        body = {
            "device_id": self.device.device_id,
            "protocol_version": 1,
            "client_time": (timezone.now() - timedelta(seconds=90)).isoformat(),
            "mutations": mutations,
        }
        body.update(overrides)
        response = self.client.post("/sync/push", body)
        if response.status_code == 200:
            PushOut.model_validate(response.json())  # the route writes its body itself
        return response


def offline_report(phone: Phone, *, grid: str = GRID_A, description: str = "离线上报的暴露垃圾") -> dict:
    lat, lng = centre_of(grid)
    return phone.mutation(
        "event.report",
        id=str(uuid.uuid4()),
        source="grid_patrol",
        category="06.01",
        description=description,
        lat=lat,
        lng=lng,
        before_photos=["sha256:offline"],
    )


def test_a_replayed_push_is_answered_from_the_ledger_and_applied_once(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    batch = [offline_report(phone), offline_report(phone)]
    first = phone.push(batch)
    assert first.status_code == 200, first.content
    results = first.json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied"]
    again = phone.push(batch).json()["results"]
    reordered = phone.push(list(reversed(batch))).json()["results"]
    partial = phone.push(batch[1:]).json()["results"]
    assert again == results and partial == results[1:] and sorted(reordered, key=lambda r: r["id"]) == results
    assert Event.objects.filter(pk__in=[r["data"]["event_id"] for r in results]).count() == 2
    assert LedgerEntry.objects.filter(device=phone.device).count() == 2
    assert EventAction.objects.filter(event_id=results[0]["data"]["event_id"], action="report").count() == 1


def test_one_bad_mutation_never_blocks_the_rest(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    other = report(as_persona("demo_grid_worker_b"), source="grid_patrol", grid="330102001001002").json()["id"]
    batch = [
        offline_report(phone),
        phone.mutation("event.teleport", event_id=other),
        phone.mutation("event.sign", event_id="not-a-uuid"),
        phone.mutation("event.sign", event_id=other),  # grid B's event: not in this phone's scope
        offline_report(phone),
    ]
    results = phone.push(batch).json()["results"]
    assert [(r["status"], r.get("code")) for r in results] == [
        ("applied", None),
        ("rejected", "unknown_mutation"),
        ("rejected", "invalid_arguments"),
        ("rejected", "event_not_found"),
        ("applied", None),
    ]
    # The phone learns what was wrong, as a REST client would from the error's detail.
    assert "event.report" in results[1]["detail"]["known"] and results[1]["detail"]["name"] == "event.teleport"
    assert [field["loc"] for field in results[2]["detail"]] == [["event_id"]]


def test_a_step_that_became_invalid_offline_is_rejected_with_the_state_and_its_notes_are_kept(as_persona, persona_user):
    dispatcher = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker").pk})
    phone = Phone(as_persona, "demo_grid_worker")
    # While the phone was offline the dispatcher took the task back and gave it to the platform.
    step(as_persona("demo_grid_worker"), event_id, "return", {"reason": "临时"})
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    results = phone.push(
        [
            phone.mutation(
                "event.handle", event_id=event_id, result_note="已清理完毕", after_photos=["sha256:after-offline"]
            )
        ]
    ).json()["results"]
    assert results[0]["status"] == "rejected" and results[0]["code"] in ("step_forbidden", "illegal_transition")
    assert results[0]["state"] == "dispatched"
    # No longer its holder, the worker may not comment on a street-level tip: the note
    # stays in the phone's ledger row, not on the event (test_unapplied.py has both cases).
    assert results[0]["kept"] == "ledger"
    assert not EventAction.objects.filter(event_id=event_id, action="comment").exists()
    entry = LedgerEntry.objects.get(device=phone.device, mutation_id=results[0]["id"])
    assert entry.args["result_note"] == "已清理完毕" and entry.args["after_photos"] == ["sha256:after-offline"]
    assert "sha256:after-offline" not in Event.objects.get(pk=event_id).photos.get(
        "after", []
    )  # not evidence of a step


def test_workflow_steps_apply_in_order_within_a_batch(as_persona, persona_user):
    dispatcher = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker").pk})
    phone = Phone(as_persona, "demo_grid_worker")
    evidence(as_persona("demo_grid_worker"), event_id, before=1, after=1)
    results = phone.push(
        [
            phone.mutation("event.sign", event_id=event_id),
            phone.mutation("event.handle", event_id=event_id, result_note="已清理"),
        ]
    ).json()["results"]
    assert [r["data"]["state"] for r in results] == ["in_progress", "handled"]
    row = EventAction.objects.get(event_id=event_id, action="handle")
    assert row.device_at is not None and row.device_ref == phone.device.device_id


def test_mutation_ids_must_increase(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    phone.next_id = 10
    assert phone.push([offline_report(phone)]).json()["results"][0]["status"] == "applied"
    phone.next_id = 5
    late = phone.push([offline_report(phone)]).json()
    assert late["results"][0]["code"] == "mutation_id_not_increasing" and late["last_mutation_id"] == 10


def test_it_records_the_devices_clock_offset(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    body = phone.push([]).json()
    assert 89_000 <= body["clock_offset_ms"] <= 95_000  # the phone's clock is 90 s slow
    assert SyncDevice.objects.get(device=phone.device).clock_offset_ms == body["clock_offset_ms"]


def test_a_too_old_client_is_told_to_upgrade(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    response = phone.push([offline_report(phone)], protocol_version=0)
    assert response.status_code == 426 and response.json()["code"] == "upgrade_required"
    assert not LedgerEntry.objects.exists()


def test_a_push_for_another_device_is_refused(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    response = phone.push([offline_report(phone)], device_id="someone-elses-phone")
    assert response.status_code == 403 and response.json()["code"] == "foreign_device"


def test_an_oversized_batch_is_refused_whole(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    response = phone.push([offline_report(phone) for _ in range(101)])
    assert response.status_code == 413 and response.json()["code"] == "batch_too_large"
    assert not Event.objects.filter(description="离线上报的暴露垃圾").exists()


@pytest.mark.parametrize(
    "body",
    [
        {"mutations": "not a list"},
        {"mutations": [{"id": "one", "name": "event.report"}]},
        {"mutations": [{"id": 0, "name": "event.report"}]},
        {"protocol_version": "new"},
        {"protocol_version": 40000},  # beyond the column that keeps it
        {"mutations": [{"id": 2**63, "name": "event.report"}]},
    ],
)
def test_a_malformed_batch_is_a_clear_validation_error(as_persona, body):
    phone = Phone(as_persona, "demo_grid_worker")
    mutations = body.pop("mutations", [])
    response = phone.push(mutations, **body)
    assert response.status_code == 422 and response.json()["code"] == "validation_error"


def test_a_run_of_reports_is_checked_one_by_one_and_saved_together(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    phone.next_id = 5  # ids need only increase: 1-4 were never used
    good = offline_report(phone)
    bad_category = offline_report(phone)
    bad_category["args"]["category"] = "99.99"
    wrong_types = offline_report(phone)
    wrong_types["args"]["lat"] = "north"
    again = phone.mutation("event.report", **good["args"])  # the same event id: answered with the event made
    later = offline_report(phone)
    backwards = {**offline_report(phone), "id": 3}
    batch = [good, bad_category, wrong_types, again, later, backwards, dict(good)]
    results = phone.push(batch).json()["results"]
    assert [(r["status"], r.get("code")) for r in results] == [
        ("applied", None),
        ("rejected", "unknown_category"),
        ("rejected", "invalid_arguments"),
        ("applied", None),
        ("applied", None),
        ("rejected", "mutation_id_not_increasing"),
        ("applied", None),
    ]
    assert results[6] == results[0]  # one mutation id sent twice in a batch: one effect, one answer
    assert results[3]["data"]["event_id"] == results[0]["data"]["event_id"]
    assert Event.objects.filter(pk__in=[good["args"]["id"], later["args"]["id"]]).count() == 2
    assert not Event.objects.filter(pk=backwards["args"]["id"]).exists()
    numbers = [results[0]["data"]["number"], results[4]["data"]["number"]]
    assert numbers[0] != numbers[1] and all(n.startswith("SC") for n in numbers)
    assert phone.push(batch).json()["results"] == results  # replayed: the same answers
    assert LedgerEntry.objects.filter(device=phone.device).count() == 6  # ids 3, 5-9
    for event_id in (good["args"]["id"], later["args"]["id"]):
        assert EventAction.objects.filter(event_id=event_id, action="report").count() == 1


def test_a_run_of_reports_finds_each_points_grid_and_numbers_them_without_gaps(as_persona):
    from backend.territory.coords import to_gcj02
    from backend.territory.geometry import locate_grid_id
    from tests.events_helpers import GRID_B

    phone = Phone(as_persona, "demo_grid_worker")
    reports = [offline_report(phone), offline_report(phone, grid=GRID_B), offline_report(phone)]
    gcj_lat, gcj_lng = to_gcj02(lat=reports[2]["args"]["lat"], lng=reports[2]["args"]["lng"])
    reports[2]["args"].update(lat=gcj_lat, lng=gcj_lng, crs="gcj02")  # a map SDK's coordinates
    outside = offline_report(phone)
    outside["args"].update(lat=0.0, lng=0.0)
    unknown_crs = offline_report(phone)
    unknown_crs["args"]["crs"] = "bd09"
    results = phone.push([*reports, outside, unknown_crs]).json()["results"]
    assert [(r["status"], r.get("code")) for r in results] == [("applied", None)] * 3 + [
        ("rejected", "location_outside_district"),
        ("rejected", "invalid_arguments"),
    ]
    events = [Event.objects.get(pk=m["args"]["id"]) for m in reports]
    first, second = (centre_of(grid) for grid in (GRID_A, GRID_B))
    assert [e.grid_id for e in events] == [
        locate_grid_id(first[1], first[0]),
        locate_grid_id(second[1], second[0]),
        locate_grid_id(first[1], first[0]),
    ]
    assert events[0].grid_id != events[1].grid_id
    numbers = [int(e.number[-7:]) for e in events]
    assert numbers == list(range(numbers[0], numbers[0] + 3))  # one counter update, no gap


@pytest.mark.django_db(transaction=True)
def test_a_push_of_reports_is_one_durable_commit_and_a_step_among_them_its_own(as_persona, monkeypatch):
    phone = Phone(as_persona, "demo_grid_worker")
    phone.push([offline_report(phone)])  # the device's first push makes its row
    commits = []
    commit = connection.commit
    monkeypatch.setattr(connection, "commit", lambda: commits.append(1) or commit())
    results = phone.push([offline_report(phone) for _ in range(5)]).json()["results"]
    assert [r["status"] for r in results] == ["applied"] * 5 and len(commits) == 1
    event_id = results[0]["data"]["event_id"]
    commits.clear()
    mixed = [offline_report(phone), phone.mutation("event.sign", event_id=event_id)]  # not dispatched: refused
    answer = phone.push(mixed + [offline_report(phone)]).json()
    assert [r["status"] for r in answer["results"]] == ["applied", "rejected", "applied"] and len(commits) == 3
    assert (
        answer["last_mutation_id"]
        == mixed[-1]["id"] + 1
        == SyncDevice.objects.get(device=phone.device).last_mutation_id
    )
    assert LedgerEntry.objects.filter(device=phone.device).count() == 9
