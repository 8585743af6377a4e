"""``backend.fastpath.intake`` and the running state it keeps: what a batch's
statements read and write is what the ORM reads and writes, and each meter's state
answers every rule's windows as the readings table does, through replaced, late and
missing readings."""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import connection
from django.db.models import Count, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pydantic import TypeAdapter, ValidationError

from backend.fastpath import intake as statements
from backend.intake.meters import HOUR, Hours, span_of, states_rebuild
from backend.intake.models import (
    AlertCounter,
    AlertType,
    Camera,
    Household,
    HouseholdKind,
    PowerReading,
    PowerRule,
    SourceSystem,
    VideoAlert,
)
from backend.intake.power import readings_take
from backend.intake.schemas import VideoAlertItem, validate_items
from backend.territory.models import Grid

NOW = timezone.now().replace(minute=0, second=0, microsecond=0)


def test_each_meters_state_answers_every_window_as_the_readings_table_does(db):
    source = SourceSystem.objects.get(key_id="demo-power")
    households = list(Household.objects.filter(source=source).order_by("pk")[:6])
    PowerReading.objects.filter(household__in=households).delete()
    states_rebuild([h.pk for h in households])  # readings removed around the intake
    span = max(span_of(rule) for rule in PowerRule.objects.filter(active=True))
    rng = random.Random(21)
    start = NOW - timedelta(hours=span + 40)
    for batch in range(12):
        items = []
        for household in households:
            for hour in range(batch * 20, batch * 20 + 20):
                at = start + hour * HOUR
                if at > NOW or rng.random() < 0.1:  # a gap
                    continue
                items.append(
                    {
                        "id": f"i{batch}-{household.pk}-{hour}",
                        "meter": household.meter_no,
                        "hour": at.isoformat(),
                        "kwh": round(rng.random(), 3),
                    }
                )
        late = start + rng.randrange(batch * 20 + 1) * HOUR  # a late or replaced reading of an earlier hour
        items.append({"id": f"late{batch}", "meter": households[0].meter_no, "hour": late.isoformat(), "kwh": 0.5})
        readings_take(source=source, items=items, now=NOW)
        states = {
            pk: Hours.unpack(last, packed)
            for pk, (last, packed) in statements.states_read([h.pk for h in households]).items()
        }
        for household in households:
            hours = states[household.pk]
            assert hours.last == PowerReading.objects.filter(household=household).latest("hour").hour
            for end_back in (0, 3, 24, 30, span - 24):
                for length in (6, 24):
                    offset = end_back
                    if offset + length > len(hours.values):
                        continue
                    end = hours.last - offset * HOUR
                    table = PowerReading.objects.filter(
                        household=household, hour__gt=end - length * HOUR, hour__lte=end
                    ).aggregate(total=Sum("kwh"), count=Count("id"))
                    total, count = hours.window(offset, length)
                    assert count == table["count"], (batch, household.pk, end_back, length)
                    assert (total is None) == (table["total"] is None)
                    if total is not None:
                        assert abs(total - table["total"]) < 1e-9


def test_a_batchs_video_statements_read_and_write_what_the_orm_does(db):
    source = SourceSystem.objects.get(key_id="demo-video")
    grid = Grid.objects.first()
    cameras = [
        Camera.objects.create(source=source, code=f"EQ-{n}", name="测试", lat=30.2, lng=120.1, grid=grid)
        for n in range(3)
    ]
    kinds = list(AlertType.objects.order_by("pk")[:2])
    t0 = NOW - timedelta(hours=2)
    for n, (camera, kind) in enumerate([(cameras[0], kinds[0]), (cameras[0], kinds[0]), (cameras[1], kinds[1])]):
        VideoAlert.objects.create(
            source=source,
            camera=camera,
            type=kind,
            item_id=f"eq-{n}",
            confidence=0.7,
            first_at=t0 + n * HOUR,
            last_at=t0 + n * HOUR,
            received_at=t0,
        )
    VideoAlert.objects.filter(item_id="eq-2").update(state="dismissed")
    found, open_alerts = statements.cameras_and_open_alerts(
        source_id=source.pk, codes=["EQ-0", "EQ-1", "EQ-2", "NOPE"], since=t0
    )
    assert found == {c.code: c.pk for c in cameras}
    latest = VideoAlert.objects.get(item_id="eq-1")  # the later of the two open ones of the pair
    assert open_alerts == {(cameras[0].pk, kinds[0].pk): (latest.pk, latest.first_at, latest.last_at, 0.7, 0)}

    asked = ["eq-0", "eq-2", "eq-9", "中文"]
    assert (
        statements.items_kept(source_id=source.pk, item_ids=asked)
        == set(VideoAlert.objects.filter(source=source, item_id__in=asked).values_list("item_id", flat=True))
        == {"eq-0", "eq-2"}
    )
    other = SourceSystem.objects.get(key_id="demo-power")
    assert statements.items_kept(source_id=other.pk, item_ids=asked) == set()

    ids = statements.alerts_insert([(source.pk, cameras[2].pk, kinds[1].pk, "eq-new", 0.8, NOW, NOW, 2, None, NOW)])
    made = VideoAlert.objects.get(pk=ids["eq-new"])
    assert (
        made.camera_id,
        made.type_id,
        made.confidence,
        made.first_at,
        made.repeats,
        made.state,
        made.snapshot_id,
    ) == (cameras[2].pk, kinds[1].pk, 0.8, NOW, 2, "open", None)
    statements.alerts_join([(latest.pk, 3, NOW, 0.95), (made.pk, 1, NOW - HOUR, 0.1)])
    latest.refresh_from_db()
    made.refresh_from_db()
    assert (latest.repeats, latest.last_at, latest.confidence) == (3, NOW, 0.95)
    assert (made.repeats, made.last_at, made.confidence) == (3, NOW, 0.8)  # the later time, the higher confidence kept

    statements.counters_add({(cameras[0].pk, kinds[0].pk): {"received": 2, "dropped": 1}})
    statements.counters_add(
        {(cameras[0].pk, kinds[0].pk): {"received": 1, "suppressed": 1}, (cameras[1].pk, kinds[0].pk): {"dismissed": 1}}
    )
    counted = {
        (c.camera_id, c.type_id): (c.received, c.dropped, c.suppressed, c.confirmed, c.dismissed)
        for c in AlertCounter.objects.filter(camera__in=cameras)
    }
    assert counted == {(cameras[0].pk, kinds[0].pk): (3, 1, 1, 0, 0), (cameras[1].pk, kinds[0].pk): (0, 0, 0, 0, 1)}


def test_households_are_found_and_readings_replace_as_the_orm_would(db):
    source = SourceSystem.objects.get(key_id="demo-power")
    household = Household.objects.filter(source=source, kind=HouseholdKind.RENTAL).first()
    found = statements.households_locked(source_id=source.pk, meters=[household.meter_no, "NOPE"])
    assert found == [(household.meter_no, household.pk, household.kind, household.baseline_kwh_day)]
    statements.readings_upsert([(household.pk, NOW + HOUR, 1.5)])
    statements.readings_upsert([(household.pk, NOW + HOUR, 2.5)])
    assert list(PowerReading.objects.filter(household=household, hour=NOW + HOUR).values_list("kwh", flat=True)) == [
        2.5
    ]


def test_one_validator_for_the_batch_answers_what_each_item_checked_alone_does():
    alone = TypeAdapter(VideoAlertItem)
    items = [
        {"id": "a", "camera": "c", "type": "garbage", "confidence": 0.5, "at": "2026-01-01T08:00:00+08:00"},
        {"id": "b c", "camera": "c", "type": "garbage", "confidence": 1.5, "at": "2026-01-01T08:00:00+08:00"},
        {"id": "d", "camera": "c"},
        {"id": "e", "camera": "c", "type": "garbage", "confidence": 0.5, "at": "3000-01-01T00:00:00Z", "extra": 1},
        {
            "id": "f",
            "camera": "c",
            "type": "garbage",
            "confidence": 0.9,
            "at": "2026-01-01T00:00:00Z",
            "snapshot": None,
        },
    ]
    good, bad = validate_items("video", items)
    for index, item in enumerate(items):
        try:
            checked = alone.validate_python(item)
        except ValidationError as error:
            assert bad[index] == {".".join(map(str, e["loc"])) or "item": e["msg"] for e in error.errors()}
        else:
            assert dict(good)[index] == checked
    assert sorted(bad) == [1, 2, 3] and [index for index, _ in good] == [0, 4]


def test_the_statements_are_seen_like_djangos_own_with_their_values(db):
    source = SourceSystem.objects.get(key_id="demo-power")
    with CaptureQueriesContext(connection) as seen:
        statements.households_locked(source_id=source.pk, meters=["SEEN-METER"])
    assert len(seen.captured_queries) == 1 and "SEEN-METER" in seen.captured_queries[0]["sql"]
