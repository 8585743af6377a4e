"""Visit plans: due visits from the frequency, fulfilled by a visit pushed from a
phone, overdue to the worker then to the secretary (frozen clocks), coverage; the
key-subject routes' visibility and their personal-data access log."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from backend.accounts.models import Role, RoleAssignment
from backend.care.models import DueReason, VisitDue
from backend.care.selectors import coverage
from backend.care.services import ESCALATE_AFTER_DAYS, care_tick
from backend.patrols.models import KeySubject, SubjectKind
from backend.privacy.models import PersonalDataRead
from conftest import PERSONAS
from push.models import Notification, NotificationKind
from sync.tests.phones import phone_of
from tests import matrix_registry
from tests.events_helpers import GRID_A, GRID_B
from tests.test_permission_matrix import ids

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.get_fixed_timezone(480))


@pytest.fixture
def subjects(db):
    """Grid A's key person and place, the only active subjects (the plan runs district-wide)."""
    person = KeySubject.objects.filter(grid__code=GRID_A, kind=SubjectKind.PERSON).first()
    place = KeySubject.objects.filter(grid__code=GRID_A, kind=SubjectKind.PLACE).first()
    KeySubject.objects.exclude(pk__in=[person.pk, place.pk]).update(active=False)
    KeySubject.objects.filter(pk__in=[person.pk, place.pk]).update(visit_every_days=7)
    person.refresh_from_db()
    place.refresh_from_db()
    return person, place


def visit(subject: KeySubject, at: datetime, username: str = "demo_grid_worker") -> dict:
    phone = phone_of(username)
    phone.record(
        "visit.record",
        {"id": str(uuid.uuid4()), "subject_id": subject.pk, "visited_at": at.isoformat(), "finding": "normal"},
    )
    return phone.push()[0]


def kinds_of(username: str) -> list[str]:
    return list(Notification.objects.filter(user__username=username).order_by("seq").values_list("kind", flat=True))


def test_it_plans_a_due_visit_from_the_frequency_and_a_visit_pushed_from_a_phone_fulfils_it(subjects):
    person, place = subjects
    assert care_tick(now=T0).opened == 2
    due = VisitDue.objects.get(subject=person, fulfilled_at=None)
    assert due.due_at == T0 + timedelta(days=7) and due.reason == DueReason.PLAN
    assert care_tick(now=T0 + timedelta(hours=1)).opened == 0  # one open due per subject

    assert visit(person, T0 + timedelta(days=2))["status"] == "applied"
    due.refresh_from_db()
    assert due.fulfilled_at == T0 + timedelta(days=2) and due.fulfilled_by is not None
    following = VisitDue.objects.get(subject=person, fulfilled_at=None)
    assert following.due_at == T0 + timedelta(days=9)
    # A visit made offline before the current period began does not fulfil the next one.
    assert visit(person, T0 + timedelta(days=1))["status"] == "applied"
    assert VisitDue.objects.get(subject=person, fulfilled_at=None).pk == following.pk


def test_an_overdue_visit_reaches_the_worker_then_the_secretarys_queue(subjects, as_persona):
    person, _ = subjects
    care_tick(now=T0)
    due = VisitDue.objects.get(subject=person, fulfilled_at=None)
    assert care_tick(now=due.due_at - timedelta(minutes=1)).notified == 0
    late = care_tick(now=due.due_at + timedelta(hours=1))
    assert late.notified == 2 and late.escalated == 0  # the person and the place
    assert kinds_of("demo_grid_worker").count(NotificationKind.VISIT_OVERDUE) == 2
    assert NotificationKind.VISIT_OVERDUE not in kinds_of("demo_grid_worker_b")
    assert care_tick(now=due.due_at + timedelta(hours=2)).notified == 0  # told once
    assert not kinds_of("demo_secretary")

    later = care_tick(now=due.due_at + timedelta(days=ESCALATE_AFTER_DAYS, hours=1))
    assert later.escalated == 2
    assert kinds_of("demo_secretary").count(NotificationKind.VISIT_ESCALATED) == 2
    queue = as_persona("demo_secretary").get("/care/dues/escalated").json()["items"]
    assert {row["subject_id"] for row in queue} == {person.pk, subjects[1].pk}
    mine = as_persona("demo_grid_worker").get("/care/dues").json()["items"]
    assert all(row["overdue"] for row in mine) and {row["subject_id"] for row in mine} == {person.pk, subjects[1].pk}
    assert as_persona("demo_grid_worker_b").get("/care/dues").json()["items"] == []
    assert as_persona("demo_grid_worker").get("/care/dues/escalated").json()["items"] == []

    visit(person, due.due_at + timedelta(days=4))
    queue = as_persona("demo_secretary").get("/care/dues/escalated").json()["items"]
    assert [row["subject_id"] for row in queue] == [subjects[1].pk]


def test_the_worker_process_runs_the_plan_with_a_frozen_clock(subjects):
    person, _ = subjects
    with mock.patch("backend.care.services.timezone.now", return_value=T0):
        call_command("run_worker", once=True, stdout=open("/dev/null", "w"))
    due = VisitDue.objects.get(subject=person, fulfilled_at=None)
    assert due.due_at == T0 + timedelta(days=7)
    frozen = T0 + timedelta(days=7, hours=1)
    with mock.patch("backend.care.services.timezone.now", return_value=frozen):
        call_command("run_worker", once=True, stdout=open("/dev/null", "w"))
    due.refresh_from_db()
    assert due.notified_at == frozen
    assert NotificationKind.VISIT_OVERDUE in kinds_of("demo_grid_worker")


def test_coverage_counts_on_time_late_and_missing_per_grid_worker_and_kind(subjects):
    person, place = subjects
    care_tick(now=T0)
    visit(person, T0 + timedelta(days=6))  # on time (due T0 + 7 d); next due T0 + 13 d
    visit(place, T0 + timedelta(days=8))  # late; next due T0 + 15 d
    now = T0 + timedelta(days=16)
    report = coverage(start=T0, end=T0 + timedelta(days=30), now=now)
    # Due in the period: person at 7 d (on time) and 13 d (missing), place at 7 d (late) and 15 d (missing).
    assert (report.total.due, report.total.on_time, report.total.late, report.total.missing) == (4, 1, 1, 2)
    assert report.total.rate == 0.25
    grid_id = person.grid_id
    assert report.by_grid[grid_id].due == 4
    assert report.by_kind[SubjectKind.PERSON].on_time == 1 and report.by_kind[SubjectKind.PLACE].late == 1
    worker_id = RoleAssignment.objects.get(user__username="demo_grid_worker", role=Role.GRID_WORKER).user_id
    assert report.by_worker[worker_id].due == 4


def test_key_subjects_are_seen_by_the_grids_worker_the_secretary_and_above_and_every_read_is_logged(
    subjects, as_persona
):
    person, place = subjects
    KeySubject.objects.filter(grid__code=GRID_B).update(active=True)
    other = KeySubject.objects.filter(grid__code=GRID_B, kind=SubjectKind.PERSON).first()
    worker = as_persona("demo_grid_worker")
    listed = worker.get("/care/subjects", {"page_size": 200}).json()["items"]
    assert {row["id"] for row in listed} == {person.pk, place.pk}
    assert set(listed[0]) >= {"name", "address_text", "visit_every_days", "next_due_at"}
    assert "phone" not in listed[0] and "id_number" not in listed[0]
    assert worker.get(f"/care/subjects/{other.pk}").status_code == 404
    assert as_persona("demo_grid_worker_b").get(f"/care/subjects/{person.pk}").status_code == 404
    secretary = as_persona("demo_secretary")
    assert secretary.get(f"/care/subjects/{person.pk}").status_code == 200
    assert secretary.get(f"/care/subjects/{other.pk}").status_code == 200  # both grids are in the community
    assert as_persona("demo_commander").get(f"/care/subjects/{person.pk}").status_code == 200
    for username in ("demo_handler", "demo_resident"):
        answer = as_persona(username).get("/care/subjects")
        assert answer.status_code == 403 and answer.json()["code"] == "key_subjects_forbidden"

    visit(person, timezone.now() - timedelta(hours=1))
    history = worker.get(f"/care/subjects/{person.pk}/visits").json()["items"]
    assert len(history) == 1 and history[0]["finding"] == "normal"

    reads = PersonalDataRead.objects.filter(subject_kind="key_person", subject_id=str(person.pk))
    assert set(reads.values_list("reader__username", "endpoint")) >= {
        ("demo_grid_worker", "GET /api/v1/care/subjects"),
        ("demo_secretary", "GET /api/v1/care/subjects/{id}"),
        ("demo_commander", "GET /api/v1/care/subjects/{id}"),
        ("demo_grid_worker", "GET /api/v1/care/subjects/{id}/visits"),
    }
    # A place is not a person: no personal data, no row; refused reads leave none either.
    assert not PersonalDataRead.objects.filter(subject_id=str(place.pk), subject_kind="key_person").exists()
    assert not reads.filter(reader__username__in=["demo_grid_worker_b", "demo_handler"]).exists()


def test_coverage_route_answers_in_scope_and_refuses_a_bad_range(subjects, as_persona):
    care_tick(now=T0)
    secretary = as_persona("demo_secretary")
    start, end = T0.isoformat(), (T0 + timedelta(days=30)).isoformat()
    answer = secretary.get("/care/coverage", {"start": start, "end": end})
    assert answer.status_code == 200 and answer.json()["total"]["due"] == 2
    assert answer.json()["total"]["missing"] == 2  # due at T0 + 7 d, not visited by now
    bad = secretary.get("/care/coverage", {"start": end, "end": start})
    assert bad.status_code == 422 and bad.json()["detail"]
    assert as_persona("demo_resident").get("/care/coverage", {"start": start, "end": end}).status_code == 403


matrix_registry.cover(
    "/api/v1/care/subjects",
    "/api/v1/care/subjects/{subject_id}",
    "/api/v1/care/subjects/{subject_id}/visits",
    "/api/v1/care/dues",
    "/api/v1/care/dues/escalated",
    "/api/v1/care/coverage",
)

# persona -> which grids' key subjects they see (403: none at all)
KEY_SUBJECT_VISIBILITY = {
    "demo_grid_worker": {"grid_a": True, "grid_b": False, "other_community_grid": False, "other_street_grid": False},
    "demo_grid_worker_b": {"grid_a": False, "grid_b": True, "other_community_grid": False, "other_street_grid": False},
    "demo_secretary": {"grid_a": True, "grid_b": True, "other_community_grid": False, "other_street_grid": False},
    "demo_dispatcher": {"grid_a": True, "grid_b": True, "other_community_grid": True, "other_street_grid": False},
    "demo_handler": 403,
    "demo_commander": {"grid_a": True, "grid_b": True, "other_community_grid": True, "other_street_grid": True},
    "demo_resident": 403,
    "demo_admin": {"grid_a": True, "grid_b": True, "other_community_grid": True, "other_street_grid": True},
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_sees_exactly_the_key_subjects_of_their_scope(as_persona, persona):
    grids = ids()
    client = as_persona(persona)
    expected = KEY_SUBJECT_VISIBILITY[persona]
    for key, grid_id in grids.items():
        subject = KeySubject.objects.filter(grid_id=grid_id, kind=SubjectKind.PERSON, active=True).first()
        for path in (f"/care/subjects/{subject.pk}", f"/care/subjects/{subject.pk}/visits"):
            status = client.get(path).status_code
            assert status == (403 if expected == 403 else 200 if expected[key] else 404), (persona, key, path)
        logged = PersonalDataRead.objects.filter(reader__username=persona, subject_id=str(subject.pk)).exists()
        assert logged == (expected != 403 and expected[key])


@pytest.mark.parametrize("persona", (*PERSONAS, "demo_unit_handler", "demo_department_handler"))
def test_every_care_route_refuses_alike_whoever_may_not_see_key_subjects(as_persona, persona):
    """Subjects, dues, escalated dues and coverage read one rule: a handler (platform,
    department, stationed unit) or a resident gets 403 on each, anyone else 200."""
    client = as_persona(persona)
    week = {"start": T0.isoformat(), "end": (T0 + timedelta(days=7)).isoformat()}
    answers = {
        path: client.get(path, week if path == "/care/coverage" else None)
        for path in ("/care/subjects", "/care/dues", "/care/dues/escalated", "/care/coverage")
    }
    refused = persona in ("demo_handler", "demo_unit_handler", "demo_department_handler", "demo_resident")
    for path, answer in answers.items():
        assert answer.status_code == (403 if refused else 200), (persona, path)
        if refused:
            assert answer.json()["code"] == "key_subjects_forbidden", (persona, path)
