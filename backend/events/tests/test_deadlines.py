from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from backend.events.deadlines import add_working_time, compute_deadline, daily_working_time, is_workday
from backend.events.models import DeadlineUnit

SH = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db  # the calendar is stored in the database

PERIODS = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def test_the_calendar_knows_the_2026_spring_festival_and_its_adjusted_saturdays():
    assert is_workday(date(2026, 2, 14))  # Saturday, 调休 working day
    assert not is_workday(date(2026, 2, 17))  # 春节
    assert not is_workday(date(2026, 2, 23))
    assert is_workday(date(2026, 2, 24))
    assert is_workday(date(2026, 2, 28))  # Saturday, 调休 working day
    assert not is_workday(date(2026, 3, 7))  # an ordinary Saturday


def test_a_working_day_is_seven_and_a_half_hours_by_default():
    assert daily_working_time(PERIODS) == timedelta(hours=7, minutes=30)


def test_one_working_day_from_friday_lands_on_the_adjusted_working_saturday():
    assert compute_deadline(at(2026, 2, 13, 10, 0), unit=DeadlineUnit.WORKING_DAYS, amount=1, periods=PERIODS) == at(
        2026, 2, 14, 10, 0
    )


def test_one_working_day_from_the_adjusted_saturday_skips_the_whole_spring_festival():
    assert compute_deadline(at(2026, 2, 14, 10, 0), unit=DeadlineUnit.WORKING_DAYS, amount=1, periods=PERIODS) == at(
        2026, 2, 24, 10, 0
    )


def test_working_days_started_in_the_holiday_begin_on_the_first_working_morning():
    # Reported on New Year's Eve (除夕, a holiday): the clock starts 08:30 on 24 Feb.
    assert compute_deadline(at(2026, 2, 16, 20, 0), unit=DeadlineUnit.WORKING_DAYS, amount=1, periods=PERIODS) == at(
        2026, 2, 24, 17, 30
    )


def test_working_hours_skip_the_lunch_break():
    assert add_working_time(at(2026, 3, 2, 11, 0), timedelta(hours=2), PERIODS) == at(2026, 3, 2, 14, 30)


def test_working_hours_started_after_hours_begin_next_working_morning():
    assert compute_deadline(at(2026, 3, 6, 18, 0), unit=DeadlineUnit.WORKING_HOURS, amount=1, periods=PERIODS) == at(
        2026, 3, 9, 9, 30
    )


def test_a_period_used_up_exactly_ends_at_closing_time():
    assert add_working_time(at(2026, 3, 2, 16, 30), timedelta(hours=1), PERIODS) == at(2026, 3, 2, 17, 30)


def test_fifteen_working_days_cross_weekends():
    # 违法搭建: Monday 2 March 2026 09:00 + 15 working days = Monday 23 March 09:00.
    assert compute_deadline(at(2026, 3, 2, 9, 0), unit=DeadlineUnit.WORKING_DAYS, amount=15, periods=PERIODS) == at(
        2026, 3, 23, 9, 0
    )


def test_urgent_categories_count_natural_hours_even_on_holidays():
    assert compute_deadline(at(2026, 2, 17, 23, 0), unit=DeadlineUnit.NATURAL_HOURS, amount=2, periods=PERIODS) == at(
        2026, 2, 18, 1, 0
    )


def test_a_utc_start_is_counted_in_shanghai_working_hours():
    start = datetime(2026, 3, 2, 1, 0, tzinfo=ZoneInfo("UTC"))  # 09:00 in Shanghai
    assert compute_deadline(start, unit=DeadlineUnit.WORKING_HOURS, amount=1, periods=PERIODS) == at(2026, 3, 2, 10, 0)


def test_an_unknown_unit_is_an_error():
    with pytest.raises(ValueError):
        compute_deadline(at(2026, 3, 2, 9, 0), unit="fortnights", amount=1, periods=PERIODS)
