"""Periods in Asia/Shanghai local dates: day, week (Monday–Sunday), month, quarter,
year, or an inclusive date range; and their steps for a time series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone

from backend.core.errors import ApiError, register
from backend.events.deadlines import SHANGHAI

PERIOD_KINDS = ("day", "week", "month", "quarter", "year", "range")
SERIES_STEPS = ("none", "day", "week", "month")
MAX_RANGE_DAYS = 3 * 366
MAX_POINTS = 400
# The days a period may cover: the district's records, with room on either side.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2099, 12, 31)

register("invalid_period", 422, "统计周期无效", "Invalid period")


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date

    def as_dict(self) -> dict:
        return {"kind": self.kind, "start": self.start.isoformat(), "end": self.end.isoformat()}


def today() -> date:
    return timezone.now().astimezone(SHANGHAI).date()


def _month_end(day: date) -> date:
    following = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def check_days(*days: date | None) -> None:
    if any(day is not None and not EARLIEST_DAY <= day <= LATEST_DAY for day in days):
        raise ApiError("invalid_period", detail={"date": f"between {EARLIEST_DAY} and {LATEST_DAY}"})


def period_of(kind: str, day: date | None = None, start: date | None = None, end: date | None = None) -> Period:
    check_days(day, start, end)
    if kind not in PERIOD_KINDS:
        raise ApiError("invalid_period", detail={"period": f"one of {', '.join(PERIOD_KINDS)}"})
    if kind == "range":
        if start is None or end is None or end < start:
            raise ApiError("invalid_period", detail={"range": "start and end (inclusive) are required, start ≤ end"})
        if (end - start).days >= MAX_RANGE_DAYS:
            raise ApiError("invalid_period", detail={"range": f"at most {MAX_RANGE_DAYS} days"})
        return Period(kind, start, end)
    day = day or today()
    if kind == "day":
        return Period(kind, day, day)
    if kind == "week":
        monday = day - timedelta(days=day.weekday())
        return Period(kind, monday, monday + timedelta(days=6))
    if kind == "month":
        return Period(kind, day.replace(day=1), _month_end(day))
    if kind == "quarter":
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        return Period(kind, first, _month_end(date(first.year, first.month + 2, 1)))
    return Period(kind, date(day.year, 1, 1), date(day.year, 12, 31))


def steps_of(period: Period, step: str) -> list[Period]:
    """The points of a time series over ``period`` (the last may be cut by its end)."""
    if step not in SERIES_STEPS:
        raise ApiError("invalid_period", detail={"series": f"one of {', '.join(SERIES_STEPS)}"})
    if step == "none":
        return []
    points = []
    cursor = period.start
    while cursor <= period.end:
        whole = period_of(step, cursor)
        points.append(Period(step, max(whole.start, period.start), min(whole.end, period.end)))
        cursor = whole.end + timedelta(days=1)
    if len(points) > MAX_POINTS:
        raise ApiError("invalid_period", detail={"series": f"at most {MAX_POINTS} points"})
    return points
