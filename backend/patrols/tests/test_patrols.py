"""Patrols and visits, made offline and pushed through sync."""

from __future__ import annotations

import importlib
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from backend.core.errors import ApiError
from backend.patrols.models import KeySubject, PatrolSession, Visit
from backend.patrols.services import MAX_NOTED_PARTS, merge_part_note, track_distance_m
from backend.territory.models import Grid
from sync.tests.phones import phone_of
from tests.events_helpers import GRID_A, GRID_B, centre_of


def track(start, count: int, *, step_deg: float = 0.0005, grid: str = GRID_A) -> list[dict]:
    lat, lng = centre_of(grid)
    return [
        {"lat": lat + i * step_deg, "lng": lng, "at": (start + timedelta(seconds=10 * i)).isoformat()}
        for i in range(count)
    ]


def test_a_patrol_arrives_in_parts_and_a_part_sent_twice_adds_nothing(db):
    phone = phone_of("demo_grid_worker")
    start = timezone.now() - timedelta(hours=2)
    patrol_id = str(uuid.uuid4())
    points = track(start, 30)
    phone.record("patrol.log", {"id": patrol_id, "started_at": start.isoformat(), "points": points[:20]})
    phone.record(
        "patrol.log",
        {
            "id": patrol_id,
            "started_at": start.isoformat(),
            "points": points[10:],
            "ended_at": (start + timedelta(minutes=5)).isoformat(),
            "note": "巡查完毕",
        },
    )
    results = phone.push()
    assert [r["status"] for r in results] == ["applied", "applied"]
    patrol = PatrolSession.objects.get(pk=patrol_id)
    assert patrol.point_count == 30 and patrol.note == "巡查完毕" and patrol.ended_at is not None
    # 29 steps of 0.0005° latitude ≈ 29 × 55.6 m
    assert abs(patrol.distance_m - 29 * 55.6) < 29 * 1.0
    assert patrol.grid == Grid.objects.get(code=GRID_A)
    assert patrol.clock_offset_ms is not None
    phone.pull()
    assert phone.entities("patrol")[patrol_id]["point_count"] == 30


def test_someone_elses_patrol_id_and_a_non_grid_worker_are_refused(db):
    patrol_id = str(uuid.uuid4())
    start = timezone.now()
    mine = phone_of("demo_grid_worker")
    mine.record("patrol.log", {"id": patrol_id, "started_at": start.isoformat(), "points": track(start, 2)})
    assert mine.push()[0]["status"] == "applied"
    other = phone_of("demo_grid_worker_b")
    other.record(
        "patrol.log", {"id": patrol_id, "started_at": start.isoformat(), "points": track(start, 2, grid=GRID_B)}
    )
    assert other.push()[0]["code"] == "patrol_not_yours"
    resident = phone_of("demo_resident")
    resident.record("patrol.log", {"id": str(uuid.uuid4()), "started_at": start.isoformat()})
    assert resident.push()[0]["code"] == "grid_worker_only"
    bad = phone_of("demo_grid_worker")
    bad.record(
        "patrol.log",
        {
            "id": str(uuid.uuid4()),
            "started_at": start.isoformat(),
            "points": [{"lat": 200, "lng": 0, "at": start.isoformat()}],
        },
    )
    assert bad.push()[0]["code"] == "invalid_arguments"


def test_a_visit_to_a_key_subject_of_the_grid_is_recorded_once(db):
    phone = phone_of("demo_grid_worker")
    phone.pull()
    subject = KeySubject.objects.filter(grid__code=GRID_A).first()
    assert str(subject.pk) in phone.entities("key_subject")
    visit_id = str(uuid.uuid4())
    args = {
        "id": visit_id,
        "subject_id": subject.pk,
        "visited_at": timezone.now().isoformat(),
        "finding": "concern",
        "note": "独居老人家中燃气灶未关，已提醒",
        "photos": ["sha256:" + "b" * 64],
    }
    phone.record("visit.record", args)
    phone.record("visit.record", args)  # the phone queued it twice
    results = phone.push()
    assert [r["status"] for r in results] == ["applied", "applied"]
    assert Visit.objects.filter(pk=visit_id).count() == 1
    assert Visit.objects.get(pk=visit_id).finding == "concern"
    elsewhere = KeySubject.objects.filter(grid__code=GRID_B).first()
    phone.record("visit.record", {**args, "id": str(uuid.uuid4()), "subject_id": elsewhere.pk})
    assert phone.push()[0]["code"] == "key_subject_not_found"
    phone.pull()
    assert phone.entities("visit")[visit_id]["note"].startswith("独居老人")


def test_track_distance_is_zero_for_one_point_and_adds_up_along_the_way():
    assert track_distance_m([[30.0, 120.0, "t"]]) == 0
    assert abs(track_distance_m([[30.0, 120.0, "a"], [30.001, 120.0, "b"], [30.002, 120.0, "c"]]) - 222.4) < 1


def test_it_keeps_the_note_of_every_part_in_part_order_and_a_part_sent_again_changes_nothing(db):
    phone = phone_of("demo_grid_worker")
    start = timezone.now() - timedelta(hours=3)
    points = track(start, 30)
    numbered, unnumbered = str(uuid.uuid4()), str(uuid.uuid4())
    parts = [
        {"points": points[:10], "note": "沿河出发"},
        {"points": points[10:20], "note": "发现井盖缺失"},
        {"points": points[20:], "note": "巡查完毕", "ended_at": (start + timedelta(minutes=5)).isoformat()},
    ]
    # The parts arrive out of order (2, 3, 1), then part 1 once more, as a new mutation.
    for index in (1, 2, 0, 0):
        base = {"started_at": start.isoformat(), **parts[index]}
        phone.record("patrol.log", {**base, "id": numbered, "part": index + 1})
        phone.record("patrol.log", {**base, "id": unnumbered})  # no index: known by its place on the track
    assert {r["status"] for r in phone.push()} == {"applied"}
    for patrol_id in (numbered, unnumbered):
        patrol = PatrolSession.objects.get(pk=patrol_id)
        assert patrol.note == "沿河出发\n发现井盖缺失\n巡查完毕", patrol.part_notes
        assert len(patrol.part_notes) == 3 and patrol.point_count == 30
    assert [e["part"] for e in PatrolSession.objects.get(pk=numbered).part_notes] == [1, 2, 3]
    phone.pull()
    assert phone.entities("patrol")[numbered]["note"] == "沿河出发\n发现井盖缺失\n巡查完毕"


def test_it_lets_a_numbered_part_sent_again_replace_only_its_own_note():
    start = timezone.now()
    notes = merge_part_note([], part=2, at=start, note="第二段")
    notes = merge_part_note(notes, part=1, at=start - timedelta(minutes=5), note="第一段")
    notes = merge_part_note(notes, part=2, at=start, note="第二段（更正）")
    assert [(e["part"], e["note"]) for e in notes] == [(1, "第一段"), (2, "第二段（更正）")]
    unnumbered = merge_part_note(notes, part=None, at=start, note="补记")
    assert merge_part_note(unnumbered, part=None, at=start, note="补记") == unnumbered
    assert [e["note"] for e in unnumbered] == ["第一段", "第二段（更正）", "补记"]


def test_it_bounds_how_many_parts_carry_a_note():
    start = timezone.now()
    notes: list[dict] = []
    for index in range(1, MAX_NOTED_PARTS + 1):
        notes = merge_part_note(notes, part=index, at=start, note=f"第{index}段")
    with pytest.raises(ApiError) as refused:
        merge_part_note(notes, part=MAX_NOTED_PARTS + 1, at=start, note="再多一段")
    assert refused.value.code == "too_many_notes"
    assert len(merge_part_note(notes, part=1, at=start, note="第1段更正")) == MAX_NOTED_PARTS


def test_it_carries_a_note_kept_before_part_notes_into_them(db, persona_user):
    from django.apps import apps

    migration = importlib.import_module("backend.patrols.migrations.0002_patrol_part_notes")
    start = timezone.now() - timedelta(hours=1)
    patrol = PatrolSession.objects.create(
        user=persona_user("demo_grid_worker"), started_at=start, received_at=start, note="升级前的说明"
    )
    migration.keep_existing_notes(apps, None)
    patrol.refresh_from_db()
    assert patrol.part_notes == [{"part": None, "at": start.isoformat(), "note": "升级前的说明"}]
