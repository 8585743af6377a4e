"""How a pull page is read and printed: the merged page query returns the log in
server order whatever the number of buckets, and the fast printer writes exactly the
bytes Python's ``json`` would, so a phone's recomputed checksum matches."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.accounts.models import Role, RoleAssignment, User
from backend.accounts.scope import invalidate_scope_of, scope_of
from backend.events.models import Event
from backend.fastpath.canonical import canonical_bytes, canonical_json, load_json, load_json_of_strings, safe_float
from backend.fastpath.rows import reader
from backend.territory.models import Grid
from sync import pull
from sync.changes import stamp_changes
from sync.client import PROTOCOL_VERSION, SyncError, canonical_checksum
from sync.entities import KINDS, buckets_for
from sync.models import Change
from sync.tests.phones import PASSWORD, DjangoTransport, phone_of, server_state
from tests.events_helpers import GRID_A, report

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_stored_json_read_back_prints_as_python_json_does(value):
    assert canonical_bytes(load_json(json.dumps(value))) == canonical_json(value).encode()


@pytest.mark.parametrize(
    "stored, python_value",
    [
        (
            '{"after": [], "before": ["sha256:1e5a"]}',
            {"after": [], "before": ["sha256:1e5a"]},
        ),  # a digest, not a number
        (
            '{"lat": 0.00001, "n": [1, 12345678901234567890]}',
            {"lat": 1e-05, "n": [1, 12345678901234567890]},
        ),  # jsonb's forms
        ('{"tiny" : 2.5e-07,"big":1.5e+16}', {"tiny": 2.5e-07, "big": 1.5e16}),
        ("1e-05", 1e-05),
    ],
)
def test_stored_json_as_each_database_prints_it_reads_back_as_python_json_prints(stored, python_value):
    assert canonical_bytes(load_json(stored)) == canonical_json(python_value).encode()


@given(st.dictionaries(st.text(max_size=8), st.lists(st.text(), max_size=4), max_size=4))
def test_stored_json_of_strings_reads_back_as_python_json_reads_it(value):
    stored = json.dumps(value, ensure_ascii=False)
    assert load_json_of_strings(stored) == json.loads(stored)
    assert canonical_bytes(load_json_of_strings(stored)) == canonical_json(value).encode()


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_prints_as_python_json_does(number):
    assert canonical_bytes([safe_float(number)]) == canonical_json([number]).encode()


def reference_rows(buckets, after, limit, *, until=None, live_only=False, tombstones_after=None):
    rows = Change.objects.filter(bucket__in=buckets, stamp__isnull=False).values_list(
        "stamp", "id", "kind", "entity_id", "deleted"
    )
    wanted = []
    for stamp, row_id, kind, entity_id, deleted in rows:
        if (stamp, row_id) <= after or (until is not None and (stamp, row_id) > until):
            continue
        if (live_only and deleted) or (tombstones_after is not None and deleted and stamp <= tombstones_after):
            continue
        wanted.append((stamp, row_id, kind, entity_id))
    return sorted(wanted)[: limit + 1]


@pytest.fixture
def street_worker(db):
    """A grid worker of every grid: more buckets than the page query's probe threshold."""
    user = User.objects.create_user(username="street_worker", password=PASSWORD)
    for grid in Grid.objects.all():
        RoleAssignment.objects.create(user=user, role=Role.GRID_WORKER, grid=grid)
    invalidate_scope_of(user.pk)
    return user


@pytest.mark.parametrize("options", [{}, {"live_only": True}, {"tombstones_after": 0}, {"until": "middle"}])
@pytest.mark.parametrize("who", ["demo_grid_worker", "street_worker"])
def test_page_rows_are_the_log_in_server_order_for_few_and_many_buckets(as_persona, street_worker, who, options):
    event_id = report(as_persona("demo_resident"), grid=GRID_A).json()["id"]
    moved = Event.objects.get(pk=event_id)
    moved.grid = Grid.objects.exclude(code=GRID_A).first()
    moved.save()  # a tombstone in GRID_A's bucket
    state = stamp_changes()
    buckets = buckets_for(scope_of(User.objects.get(username=who)))
    assert (len(buckets) > pull.PROBE_OVER) == (who == "street_worker")
    options = dict(options)
    if options.get("until") == "middle":
        everything = reference_rows(buckets, (0, 0), 10**9)
        options["until"] = everything[len(everything) // 2][:2]
    expected = reference_rows(buckets, (0, 0), 10**9, **options)
    limit = 60 if who == "street_worker" else 10
    after, pages = (0, 0), 0
    while True:
        rows = pull._page_rows(buckets, after, limit, **options)
        assert rows == [row for row in expected if row[:2] > after][: limit + 1]
        pages += 1
        if len(rows) <= limit:
            break
        after = rows[limit - 1][:2]
    assert pages > 2
    assert pull._page_rows(buckets, (state.stamp, pull.SKIP_AHEAD_ID), 25) == []


def test_a_street_wide_worker_pulls_their_whole_scope_in_small_pages(street_worker):
    phone = phone_of("street_worker")
    assert phone.pull(limit=40) > 40
    assert phone.snapshot() == server_state("street_worker")


def test_numbers_printed_in_exponent_form_keep_the_page_checksum_right(as_persona):
    event_id = report(as_persona("demo_resident"), grid=GRID_A).json()["id"]
    event = Event.objects.get(pk=event_id)
    event.lat, event.lng = 1e-05, 1.5e16
    event.save()
    grid = Grid.objects.get(code=GRID_A)
    grid.polygon = {**grid.polygon, "tiny": 2.5e-07, "huge": 12345678901234567.5, "small": [0.00009, -3e-05]}
    grid.save()
    phone = phone_of("demo_grid_worker")
    body = {"device_id": phone.device_id, "protocol_version": PROTOCOL_VERSION, "cursor": None, "limit": 1000}
    status, page = phone.transport.post("/sync/pull", body, phone.meta("access_token"))
    assert status == 200, page
    assert not page["has_more"], (len(page["changes"]), page["reset"])
    sent = {(c["kind"], c["id"]): c.get("data") for c in page["changes"]}
    assert sent[("event", event_id)]["lat"] == 1e-05 and sent[("grid", str(grid.pk))]["polygon"]["tiny"] == 2.5e-07
    assert canonical_checksum(page["changes"]) == page["checksum"]


def test_an_event_is_read_with_the_values_the_orm_holds(as_persona):
    """Timestamps as ISO-8601 in UTC with six fraction digits (SQLite stores a whole
    second without them), UUIDs in their usual text, booleans, JSON and nulls."""
    event_id = report(as_persona("demo_resident"), grid=GRID_A).json()["id"]
    Event.objects.filter(pk=event_id).update(
        reported_at=datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
        signed_at=datetime(2026, 3, 2, 9, 15, 7, 250, tzinfo=UTC),
        overdue=True,
        handled_on_spot=False,
    )
    event = Event.objects.select_related("category").get(pk=event_id)
    [row] = reader(KINDS["event"]).rows([event_id])

    def iso(moment):
        return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")

    assert row["id"] == str(event.pk) and row["number"] == event.number and row["category_code"] == event.category.code
    assert (row["reported_at"], row["signed_at"]) == (
        "2026-03-01T08:30:00.000000+00:00",
        "2026-03-02T09:15:07.000250+00:00",
    )
    assert row["updated_at"] == iso(event.updated_at) and row["closed_at"] is None and row["deadline_at"] is None
    assert (row["overdue"], row["handled_on_spot"]) == (True, False)
    assert row["photos"] == event.photos and (row["lat"], row["lng"]) == (event.lat, event.lng)
    assert row["version"] == event.action_count and row["holder_user_id"] is None


class DamagingTransport(DjangoTransport):
    """Alters the first ``times`` pull pages in transit (a bit flipped in a description)."""

    def __init__(self, times: int):
        super().__init__()
        self.times = times

    def post(self, path, body, token):
        status, answer = super().post(path, body, token)
        if path == "/sync/pull" and self.times and answer.get("changes"):
            self.times -= 1
            upsert = next(c for c in answer["changes"] if c["op"] == "upsert")
            upsert["data"]["name" if "name" in upsert["data"] else "id"] += "x"
        return status, answer


def test_a_damaged_page_is_asked_for_again_and_a_page_damaged_every_time_stops_the_sync(db):
    phone = phone_of("demo_grid_worker", DamagingTransport(times=2))
    assert phone.pull() > 0
    assert phone.snapshot() == server_state("demo_grid_worker")
    stubborn = phone_of("demo_grid_worker", DamagingTransport(times=10**6))
    with pytest.raises(SyncError, match="checksum_mismatch"):
        stubborn.pull()
    assert stubborn.meta("cursor") is None and not stubborn.snapshot()  # nothing damaged was applied
