"""The working-day calendar as data: seeded, imported, edited, read by deadlines,
and warned about before a year is missing."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command

from backend.administration import calendar
from backend.administration.models import CalendarDay, CalendarYear
from backend.events.deadlines import compute_deadline
from backend.events.models import DeadlineUnit

SH = ZoneInfo("Asia/Shanghai")
EXAMPLE_2027 = Path(__file__).resolve().parents[1] / "data" / "calendar-2027.example.txt"
pytestmark = pytest.mark.django_db


def two_working_days_from_new_years_eve_eve() -> datetime:
    # 2026-12-30 is a Wednesday; 2027-01-01 a Friday (元旦).
    return compute_deadline(datetime(2026, 12, 30, 10, 0, tzinfo=SH), unit=DeadlineUnit.WORKING_DAYS, amount=2)


def test_the_package_years_are_seeded_on_migrate_and_2027_is_not():
    seeded = set(CalendarYear.objects.values_list("year", flat=True))
    assert {2024, 2025, 2026} <= seeded and 2027 not in seeded
    assert CalendarDay.objects.get(date=date(2026, 2, 14)).kind == "workday"  # a Saturday worked (调休)
    assert CalendarDay.objects.get(date=date(2026, 10, 1)).name == "国庆节"


def test_a_deadline_across_2027_new_year_counts_the_stored_holiday(caplog):
    with caplog.at_level(logging.ERROR, logger="backend.administration.calendar"):
        unknown = two_working_days_from_new_years_eve_eve()
    # No 2027 stored: Monday–Friday, and loudly so.
    assert unknown == datetime(2027, 1, 1, 10, 0, tzinfo=SH)
    assert "no working-day calendar stored for 2027" in caplog.text

    dry = call_command_output("import_calendar", str(EXAMPLE_2027), "--dry-run")
    assert "2027: " in dry and "dry run" in dry and not CalendarYear.objects.filter(year=2027).exists()
    out = call_command_output("import_calendar", str(EXAMPLE_2027), "--user", "demo_admin")
    assert "2027: " in out and "stored" in out
    # 元旦 (Fri 1 January) and the weekend are off: Thursday 31 December, then Monday 4 January.
    assert two_working_days_from_new_years_eve_eve() == datetime(2027, 1, 4, 10, 0, tzinfo=SH)
    entry = CalendarYear.objects.get(year=2027)
    assert entry.source == "import"
    assert LogEntry.objects.filter(object_id=str(entry.pk), user__username="demo_admin").exists()


def call_command_output(*args) -> str:
    import io

    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_import_refuses_a_file_it_cannot_read_whole(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(
        "2027-01-01 holiday 元旦\n2027-13-01 休\n2027-01-02 班\n2027-03-01..2027-05-01 休\n2027-01-04 班\n2027-01-01 休\n"
    )
    with pytest.raises(CommandError) as raised:
        call_command("import_calendar", str(bad))
    message = str(raised.value)
    assert "line 2" in message and "line 4" in message and "line 5: 2027-01-04 is a weekday" in message
    assert "line 3" not in message  # Saturday 2 January worked: fine
    assert "line 6: 2027-01-01 already given on line 1" in message
    assert not CalendarYear.objects.filter(year=2027).exists()  # nothing stored from a bad file


def test_a_dry_run_stores_nothing_and_a_year_line_stores_a_year_without_exceptions(tmp_path):
    plain = tmp_path / "2030.txt"
    plain.write_text("# a year with no holidays at all\nyear 2030\n")
    assert "dry run" in call_command_output("import_calendar", str(plain), "--dry-run")
    assert not CalendarYear.objects.filter(year=2030).exists()
    call_command_output("import_calendar", str(plain))
    assert CalendarYear.objects.get(year=2030).days.count() == 0
    assert calendar.is_workday(date(2030, 1, 1))  # a Tuesday, known and ordinary


def test_the_health_check_warns_from_1_november_when_next_year_is_missing(anonymous, monkeypatch):
    monkeypatch.setattr(calendar, "local_today", lambda: date(2026, 10, 31))
    assert anonymous.get("/health").json()["warnings"] == []
    monkeypatch.setattr(calendar, "local_today", lambda: date(2026, 11, 1))
    body = anonymous.get("/health").json()
    assert body["status"] == "ok"
    assert len(body["warnings"]) == 1 and "2027" in body["warnings"][0]
    call_command("import_calendar", str(EXAMPLE_2027), stdout=open("/dev/null", "w"))
    assert anonymous.get("/health").json()["warnings"] == []
    # The current year missing is warned about all year round.
    monkeypatch.setattr(calendar, "local_today", lambda: date(2031, 3, 1))
    assert [w for w in anonymous.get("/health").json()["warnings"] if "2031" in w]


def test_the_admin_calendar_list_shows_the_warning(client, persona_user, monkeypatch):
    monkeypatch.setattr(calendar, "local_today", lambda: date(2026, 12, 1))
    client.force_login(persona_user("demo_admin"))
    page = client.get("/admin/administration/calendaryear/").content.decode()
    assert "2027 年的法定节假日与调休安排尚未录入" in page


def test_the_api_replaces_a_year_audited_and_deadlines_follow_at_once(as_persona):
    admin = as_persona("demo_admin")
    days = [
        {"date": "2027-01-01", "kind": "holiday", "name": "元旦"},
        {"date": "2027-01-04", "kind": "holiday", "name": "示例：补休"},
    ]
    response = admin.client.put(
        "/api/v1/admin/calendar/2027",
        {"note": "test", "days": days},
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["holidays"] == 2
    assert two_working_days_from_new_years_eve_eve() == datetime(2027, 1, 5, 10, 0, tzinfo=SH)
    entry = LogEntry.objects.filter(object_repr="2027年").latest("pk")
    assert entry.user.username == "demo_admin" and "2027" in entry.change_message
    assert not any("2027" in warning for warning in admin.get("/admin/calendar").json()["warnings"])

    dispatcher = as_persona("demo_dispatcher")
    refused = dispatcher.client.put(
        "/api/v1/admin/calendar/2027",
        {"days": []},
        content_type="application/json",
        headers={"Authorization": f"Bearer {dispatcher.token}"},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "config_forbidden"
    outside = admin.client.put(
        "/api/v1/admin/calendar/2027",
        {"days": [{"date": "2028-01-01", "kind": "holiday"}]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert outside.status_code == 422 and outside.json()["detail"]
    monday = admin.client.put(
        "/api/v1/admin/calendar/2027",
        {"days": [{"date": "2027-01-04", "kind": "workday"}]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert monday.status_code == 422 and "2027-01-04" in monday.json()["detail"]["days"]


def test_the_admin_form_refuses_a_weekday_worked_and_a_date_outside_its_year():
    from django.core.exceptions import ValidationError

    year = CalendarYear.objects.get(year=2026)
    for day, kind in ((date(2026, 12, 7), "workday"), (date(2027, 1, 1), "holiday")):
        with pytest.raises(ValidationError):
            CalendarDay(year=year, date=day, kind=kind).full_clean()
    CalendarDay(year=year, date=date(2026, 12, 5), kind="workday").full_clean()  # a Saturday: fine


def test_other_processes_changes_are_seen_after_the_recheck_interval_own_at_once(monkeypatch):
    from django.core.cache import cache

    monkeypatch.setattr(calendar, "RECHECK_SECONDS", 60.0)
    monkeypatch.setattr(calendar, "_snapshot", None)  # not the previous test's (rolled back) calendar
    first = calendar.snapshot()
    assert calendar.snapshot() is first  # within the interval: no look at the version
    # Another process stores 2027 and bumps the version (simulated: the row, then the key).
    from backend.administration.models import CalendarSource, CalendarYear

    CalendarYear.objects.bulk_create([CalendarYear(year=2027, source=CalendarSource.MANUAL)])  # no signal here
    cache.set(calendar.VERSION_KEY, "another-process", timeout=None)
    assert not calendar.snapshot().knows(2027)
    monkeypatch.setattr(calendar, "_checked_at", calendar._checked_at - 61)
    assert calendar.snapshot().knows(2027)
    # This process's own change is used at once, whatever the interval.
    calendar.store_year(2028, [], source=CalendarSource.MANUAL)
    assert calendar.snapshot().knows(2028)
