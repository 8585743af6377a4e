"""The working-day calendar as data: statutory holidays and adjusted working days
(调休) per year, read by ``backend.events.deadlines``.

Each process keeps the whole stored calendar in memory (a few hundred dates) and
reloads it when the *calendar version* in the shared cache changes: every change
(admin, API, import command, seed) bumps it, and again after its transaction commits.
The process making a change uses it at once; the others look at the version at most
once every ``RECHECK_SECONDS`` (a round trip to Redis costs more than the deadline
itself), so they use a change within a second. A cache cleared or restarted simply
means one reload. Under the test settings the version is read at every deadline, so a
test's rolled-back calendar never leaks into the next test.

A year with no stored arrangement is unknown: its days count Monday–Friday, and every
process logs an ERROR the first time it counts one (``UNKNOWN_YEAR_MESSAGE``); the
health check warns from 1 November of the year before (``calendar_warnings``).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

VERSION_KEY = "administration:calendar:version"
WARN_FROM_MONTH = 11  # the State Council publishes next year's arrangement in late autumn
UNKNOWN_YEAR_MESSAGE = (
    "no working-day calendar stored for %s: counting Monday–Friday (import it: docs/administration.md)"
)


@dataclass(frozen=True)
class Snapshot:
    version: str
    years: frozenset[int]
    holidays: frozenset[date]
    workdays: frozenset[date]
    warned: set[int] = field(default_factory=set, compare=False)

    def knows(self, year: int) -> bool:
        return year in self.years

    def is_workday(self, day: date) -> bool:
        if day.year not in self.years:
            if day.year not in self.warned:
                self.warned.add(day.year)
                logger.error(UNKNOWN_YEAR_MESSAGE, day.year)
            return day.weekday() < 5
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


_snapshot: Snapshot | None = None
_checked_at = 0.0
RECHECK_SECONDS = 0.0 if settings.CONFIG.environment == "test" else 1.0


def _load(version: str) -> Snapshot:
    from backend.administration.models import CalendarDay, CalendarYear, DayKind

    years = frozenset(CalendarYear.objects.values_list("year", flat=True))
    holidays, workdays = set(), set()
    for day, kind in CalendarDay.objects.values_list("date", "kind"):
        (holidays if kind == DayKind.HOLIDAY else workdays).add(day)
    return Snapshot(version, years, frozenset(holidays), frozenset(workdays))


def snapshot() -> Snapshot:
    """The stored calendar, from this process's memory unless its version changed
    (at most one cache read per ``RECHECK_SECONDS``: call it once per deadline, not once
    per day)."""
    global _snapshot, _checked_at
    now = time.monotonic()
    if _snapshot is not None and now - _checked_at < RECHECK_SECONDS:
        return _snapshot
    _checked_at = now
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY)
    if _snapshot is None or _snapshot.version != version:
        _snapshot = _load(version)
    return _snapshot


def _new_version() -> None:
    global _snapshot
    _snapshot = None  # this process: at its next deadline
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def bump_version() -> None:
    """Every process reloads: now (this transaction reads its own change) and again
    after the commit (another process may have reloaded in between, before the commit)."""
    _new_version()
    transaction.on_commit(_new_version)


def is_workday(day: date) -> bool:
    return snapshot().is_workday(day)


# --- warnings for the health check and the admin ---------------------------------


def local_today() -> date:
    return timezone.localdate()


def calendar_warnings(today: date | None = None) -> list[str]:
    """Missing years the district must enter: this year always, next year from 1 November."""
    today = today or local_today()
    wanted = [today.year] + ([today.year + 1] if today.month >= WARN_FROM_MONTH else [])
    known = snapshot().years
    return [
        f"calendar_missing: {year} 年的法定节假日与调休安排尚未录入，该年的时限暂按周一至周五计算"
        for year in wanted
        if year not in known
    ]


# --- seeding from the package, importing a file ------------------------------------


def package_years() -> dict[int, list[tuple[date, str, str]]]:
    """The years ``chinesecalendar`` knows, as {year: [(date, kind, name)]}."""
    import chinese_calendar
    from chinese_calendar import constants

    chinese = {h.value: h.chinese for h in chinese_calendar.Holiday}
    years: dict[int, list[tuple[date, str, str]]] = {}
    for kind, table in (("holiday", constants.holidays), ("workday", constants.workdays)):
        for day, name in table.items():
            years.setdefault(day.year, []).append((day, kind, chinese.get(name, name)))
    return years


def seed_from_package() -> list[int]:
    """Stores every year the package knows and the database does not; never overwrites."""
    from backend.administration.models import CalendarSource, CalendarYear

    stored = set(CalendarYear.objects.values_list("year", flat=True))
    added = []
    for year, days in sorted(package_years().items()):
        if year not in stored:
            store_year(year, days, source=CalendarSource.PACKAGE, note="seeded from chinesecalendar")
            added.append(year)
    return added


def seed_after_migrate(**kwargs) -> None:
    """``post_migrate``: runs with ``migrate`` (``make run``, the test database)."""
    from django.db import DEFAULT_DB_ALIAS, connections

    from backend.administration.models import CalendarDay, CalendarYear

    using = kwargs.get("using", DEFAULT_DB_ALIAS)
    tables = set(connections[using].introspection.table_names())
    if using != DEFAULT_DB_ALIAS or not {CalendarYear._meta.db_table, CalendarDay._meta.db_table} <= tables:
        return  # another database, or migrated to a state before the calendar's tables
    seed_from_package()


def store_year(year: int, days, *, source: str, note: str = ""):
    """Replaces the stored arrangement of ``year`` with ``days`` [(date, kind, name)]."""
    from backend.administration.models import CalendarDay, CalendarYear

    wrong = [str(d) for d, _, _ in days if d.year != year]
    if wrong:
        raise ValueError(f"dates outside {year}: {', '.join(wrong[:5])}")
    weekdays = [str(d) for d, kind, _ in days if kind == "workday" and d.weekday() < 5]
    if weekdays:
        raise ValueError(f"an adjusted working day (调休) falls on a Saturday or Sunday: {', '.join(weekdays[:5])}")
    with transaction.atomic():
        entry, _ = CalendarYear.objects.update_or_create(year=year, defaults={"source": source, "note": note})
        CalendarDay.objects.filter(year=entry).delete()
        CalendarDay.objects.bulk_create(
            [CalendarDay(year=entry, date=d, kind=kind, name=name[:64]) for d, kind, name in days]
        )
        bump_version()
    return entry


LINE = re.compile(
    r"^(?P<start>\d{4}-\d{2}-\d{2})(?:\.\.(?P<end>\d{4}-\d{2}-\d{2}))?\s+(?P<kind>holiday|workday|休|班)(?:\s+(?P<name>.+))?$"
)
KINDS = {"holiday": "holiday", "休": "holiday", "workday": "workday", "班": "workday"}
MAX_RANGE_DAYS = 31


def parse_calendar(text: str) -> dict[int, list[tuple[date, str, str]]]:
    """The import format (docs/administration.md): one line per date or range,
    ``2027-01-01 holiday 元旦`` or ``2027-02-05..2027-02-11 休 春节``; ``#`` starts a
    comment; a line ``year 2027`` declares a year with no exceptions at all."""
    years: dict[int, list[tuple[date, str, str]]] = {}
    seen: dict[date, int] = {}
    errors = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if re.fullmatch(r"year\s+\d{4}", line):
            years.setdefault(int(line.split()[1]), [])
            continue
        match = LINE.match(line)
        if not match:
            errors.append(f"line {number}: cannot read {raw.strip()!r}")
            continue
        try:
            start = date.fromisoformat(match["start"])
            end = date.fromisoformat(match["end"]) if match["end"] else start
        except ValueError as error:
            errors.append(f"line {number}: {error}")
            continue
        if end < start or (end - start).days >= MAX_RANGE_DAYS or end.year != start.year:
            errors.append(f"line {number}: a range goes forward, within one year, at most {MAX_RANGE_DAYS} days")
            continue
        kind = KINDS[match["kind"]]
        day = start
        while day <= end:
            if kind == "workday" and day.weekday() < 5:
                errors.append(f"line {number}: {day} is a weekday; an adjusted working day (调休) is a weekend day")
            if day in seen:
                errors.append(f"line {number}: {day} already given on line {seen[day]}")
            seen[day] = number
            years.setdefault(day.year, []).append((day, kind, (match["name"] or "").strip()))
            day += timedelta(days=1)
    if errors:
        raise ValueError("\n".join(errors))
    return years
