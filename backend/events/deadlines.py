"""Deadlines in working time of the Chinese statutory calendar.

Working days come from the district's stored calendar (statutory holidays and the
adjusted working weekends, 调休: ``backend.administration.calendar``, seeded from
``chinesecalendar`` and kept in each process's memory); working hours are configurable (``WORKING_HOURS``, default
08:30–12:00 and 13:30–17:30). N working days are N full working days of working
time, so an event accepted at 10:00 on a working day is due at 10:00 N working days
later. Urgent categories count natural hours.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from backend.administration import calendar
from backend.events.models import DeadlineUnit

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_DAYS_SEARCHED = 3 * 366


def is_workday(day: date) -> bool:
    """From the stored calendar; a year not stored counts Monday–Friday and logs an ERROR."""
    return calendar.is_workday(day)


def daily_working_time(periods=None) -> timedelta:
    periods = periods or settings.WORKING_HOURS
    return sum(
        (datetime.combine(date.min, end) - datetime.combine(date.min, start) for start, end in periods), timedelta()
    )


def add_working_time(start: datetime, duration: timedelta, periods=None) -> datetime:
    """The moment ``duration`` of working time after ``start``."""
    periods = periods or settings.WORKING_HOURS
    cursor = start.astimezone(SHANGHAI)
    day = cursor.date()
    remaining = duration
    days = calendar.snapshot()  # one look at the calendar's version per deadline
    for _ in range(MAX_DAYS_SEARCHED):
        if days.is_workday(day):
            for period_start, period_end in periods:
                opens = datetime.combine(day, period_start, SHANGHAI)
                closes = datetime.combine(day, period_end, SHANGHAI)
                begin = max(cursor, opens)
                if begin >= closes:
                    continue
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
        cursor = datetime.combine(day, time.min, SHANGHAI)
    raise ValueError("deadline beyond the searched calendar")


def compute_deadline(start: datetime, *, unit: str, amount: int, periods=None) -> datetime:
    if unit == DeadlineUnit.NATURAL_HOURS:
        return start + timedelta(hours=amount)
    if unit == DeadlineUnit.WORKING_HOURS:
        return add_working_time(start, timedelta(hours=amount), periods)
    if unit == DeadlineUnit.WORKING_DAYS:
        return add_working_time(start, daily_working_time(periods) * amount, periods)
    raise ValueError(f"unknown deadline unit {unit!r}")
