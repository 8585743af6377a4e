"""Times sent to the API are read as the same instant in local time
(``backend.core.limits.Instant``): offsets beyond ±15:59, which PostgreSQL cannot store,
were server errors there, found by the fuzzer (tests/test_fuzz.py)."""

from datetime import UTC, datetime

from tests.events_helpers import report, step


def test_it_reads_a_query_time_with_an_offset_beyond_postgresqls_range(as_persona):
    dispatcher = as_persona("demo_dispatcher")
    answer = dispatcher.get("/events", {"reported_to": "2026-10-20T20:16:36.67553+22:18", "queue": "all"})
    assert answer.status_code == 200, answer.content


def test_it_records_a_device_time_with_a_far_offset_as_the_same_instant(as_persona):
    resident = as_persona("demo_resident")
    event_id = report(resident).json()["id"]
    answer = step(resident, event_id, "comment", {"note": "补充说明", "device_time": "2026-10-25T03:34:51-17:13"})
    assert answer.status_code == 200, answer.content
    device_at = resident.get(f"/events/{event_id}/history").json()[-1]["device_at"]
    assert datetime.fromisoformat(device_at).astimezone(UTC) == datetime(2026, 10, 25, 20, 47, 51, tzinfo=UTC)


def test_it_refuses_a_time_outside_the_range_a_time_can_be_stored_in(as_persona):
    resident = as_persona("demo_resident")
    event_id = report(resident).json()["id"]
    answer = step(resident, event_id, "comment", {"note": "补充说明", "device_time": "0001-01-01T00:00:00+08:00"})
    assert answer.status_code == 422, answer.content
    assert answer.json()["code"] == "validation_error"


def test_it_applies_an_offline_report_whose_clock_has_a_far_offset(as_persona):
    from sync.tests.test_push import Phone, offline_report

    phone = Phone(as_persona, "demo_grid_worker")
    mutation = {**offline_report(phone), "client_time": "2026-10-25T03:34:51-17:13"}
    answer = phone.push([mutation], client_time="2026-10-25T03:36:00-17:13")
    assert answer.status_code == 200, answer.content
    assert [result["status"] for result in answer.json()["results"]] == ["applied"]
