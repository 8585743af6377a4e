"""Each meter's running state for the electricity rules (``MeterState``): the hourly
kWh of the hours up to its latest reading, newest first, NaN where no reading came.
A batch reads the states of the households it touched in one statement, folds its
readings in, and writes them back in one; the rules are sums over slices of it. So a
batch no longer re-reads days of readings for every household it touched (the
aggregates that did were most of a batch's database time: docs/intake.md, "Speed").

The state is kept for the hours the active rules of the household's kind look back
over plus a day (``SLACK_HOURS``), so a late reading of an earlier hour is still
judged from it: a rental flat's 4 days (96 values with the default rules), an elder's
8 days and 6 hours (198); a state too short for the rules, or missing (readings
loaded around the intake, like the demo's), is built again from the readings table."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Max

from backend.fastpath import intake as statements
from backend.intake.models import Household, MeterState, PowerReading, PowerRule, RuleKind

HOUR = timedelta(hours=1)
SLACK_HOURS = 24
NO_RULE_SPAN = 24  # a kind no active rule judges: a short state, built again when a rule comes
NAN = math.nan

DEFAULT_PARAMS = {
    RuleKind.NEAR_ZERO: {"hours": 24, "max_kwh": 0.3},
    RuleKind.PATTERN_BREAK: {"hours": 6, "days": 7, "min_days": 3, "max_ratio": 0.2, "min_usual_kwh": 0.6},
    RuleKind.ABOVE_BASELINE: {"days": 3, "factor": 3.0},
}


def params_of(rule: PowerRule) -> dict:
    return {**DEFAULT_PARAMS[rule.kind], **rule.params}


def span_of(rule: PowerRule) -> int:
    """How many hours up to its latest reading a rule looks at."""
    params = params_of(rule)
    if rule.kind == RuleKind.NEAR_ZERO:
        return int(params["hours"])
    if rule.kind == RuleKind.PATTERN_BREAK:
        return int(params["days"]) * 24 + int(params["hours"])
    return int(params["days"]) * 24


def spans_of(rules: Iterable[PowerRule]) -> dict[str, int]:
    """How many hours each household kind's active rules look back over (the longest)."""
    spans: dict[str, int] = {}
    for rule in rules:
        spans[rule.household_kind] = max(spans.get(rule.household_kind, 0), span_of(rule))
    return spans


class Hours:
    """A meter's hourly kWh ending with the hour ``last`` (index 0), NaN: no reading."""

    __slots__ = ("last", "values")

    def __init__(self, last: datetime, values: array):
        self.last = last
        self.values = values

    @classmethod
    def unpack(cls, last: datetime, packed: bytes) -> Hours:
        return cls(last, array("d", packed))

    def pack(self) -> bytes:
        return self.values.tobytes()

    def offset(self, end: datetime) -> int:
        """How many hours before the latest one ``end`` is (its index)."""
        return (self.last - end) // HOUR  # whole hours apart

    def covers(self, end: datetime, hours: int) -> bool:
        offset = (self.last - end) // HOUR
        return 0 <= offset and offset + hours <= len(self.values)

    def window(self, start: int, hours: int) -> tuple[float | None, int]:
        """The sum (None when there is no reading, as SQL's SUM) and count of the
        readings of the ``hours`` hours ending with the one at index ``start``, summed
        oldest first."""
        part = self.values[start : start + hours]
        total = sum(part[::-1])
        if total == total:  # no NaN: every hour has its reading
            return total, len(part)
        present = [v for v in part[::-1] if v == v]
        return (sum(present) if present else None), len(present)

    def fold(self, readings: Iterable[tuple[datetime, float]], length: int) -> None:
        """Readings (hour, kWh) taken in: the state moves on to the latest hour, older
        hours beyond ``length`` are forgotten."""
        readings = list(readings)
        newest = readings[0][0] if len(readings) == 1 else max(hour for hour, _ in readings)
        values = self.values
        if newest > self.last:
            shift = (newest - self.last) // HOUR
            values = (_nans(min(shift, length)) + values)[:length]
            self.last = newest
        elif len(values) > length:  # its rules look back less far than they did
            values = values[:length]
        self.values = values
        last, kept = self.last, len(values)
        for hour, kwh in readings:
            index = (last - hour) // HOUR
            if index < kept:
                values[index] = kwh


_NANS = array("d", [NAN]) * 256


def _nans(count: int) -> array:
    return _NANS[:count] if count <= len(_NANS) else array("d", [NAN]) * count


def from_readings(rows: Iterable[tuple[datetime, float]], last: datetime, length: int) -> Hours:
    hours = Hours(last, array("d", [NAN]) * length)
    for hour, kwh in rows:
        index = int((last - hour) / HOUR)
        if 0 <= index < length:
            hours.values[index] = kwh
    return hours


def rebuilt(lengths: dict[int, int]) -> dict[int, Hours]:
    """States of these households (id → how many hours) built from the readings
    table, each ending with its latest reading."""
    if not lengths:
        return {}
    latest = dict(
        PowerReading.objects.filter(household_id__in=list(lengths))
        .values("household_id")
        .annotate(last=Max("hour"))
        .values_list("household_id", "last")
    )
    if not latest:
        return {}
    rows: dict[int, list] = {pk: [] for pk in latest}
    earliest = min(last - lengths[pk] * HOUR for pk, last in latest.items())
    for pk, hour, kwh in PowerReading.objects.filter(household_id__in=list(latest), hour__gt=earliest).values_list(
        "household_id", "hour", "kwh"
    ):
        rows[pk].append((hour, kwh))
    return {pk: from_readings(rows[pk], latest[pk], lengths[pk]) for pk in latest}


def as_of(anchors: dict[int, datetime], spans: dict[int, int]) -> dict[int, Hours]:
    """The hours (``spans``) up to each household's anchor, read from the readings
    table (an anchor further back than its state reaches: a late reading of an old
    hour)."""
    by_anchor: dict[tuple[datetime, int], list[int]] = {}
    for pk, anchor in anchors.items():
        by_anchor.setdefault((anchor, spans[pk]), []).append(pk)
    found = {}
    for (anchor, hours), ids in by_anchor.items():
        rows: dict[int, list] = {pk: [] for pk in ids}
        for pk, hour, kwh in PowerReading.objects.filter(
            household_id__in=ids, hour__gt=anchor - hours * HOUR, hour__lte=anchor
        ).values_list("household_id", "hour", "kwh"):
            rows[pk].append((hour, kwh))
        found.update({pk: from_readings(rows[pk], anchor, hours) for pk in ids})
    return found


def states_update(
    readings: dict[int, list[tuple[datetime, float]]],
    *,
    anchors: dict[int, datetime],
    spans: dict[int, int],
    rebuild: bool = False,
) -> dict[int, Hours]:
    """Fold a batch's stored readings (per household) into the households' states and
    save them (``rebuild``: build them again from the readings table instead); what
    the rules read for each household: its hours up to its anchor (the latest hour of
    the batch's readings for it), at least its ``spans`` of them (every household of
    ``readings`` and ``anchors`` has one: its kind's rules' span)."""
    ids = sorted(set(readings) | set(anchors))
    states = {pk: Hours.unpack(last, packed) for pk, (last, packed) in statements.states_read(ids).items()}
    stale = {
        pk: spans[pk] + SLACK_HOURS for pk in ids if rebuild or pk not in states or len(states[pk].values) < spans[pk]
    }
    fresh = rebuilt(stale)  # after this batch's readings were stored: they are in it
    for pk in ids:
        if pk in fresh:
            states[pk] = fresh[pk]
        elif pk in states and readings.get(pk):
            states[pk].fold(readings[pk], spans[pk] + SLACK_HOURS)
    statements.states_write([(pk, states[pk].last, states[pk].pack()) for pk in ids if pk in states])
    uncovered = {
        pk: anchor for pk, anchor in anchors.items() if pk not in states or not states[pk].covers(anchor, spans[pk])
    }
    return {**states, **as_of(uncovered, spans)}


def states_rebuild(household_ids: Iterable[int]) -> int:
    """Build these households' states again from the readings table, for readings
    stored around ``readings_take`` (a bulk load); how many were saved."""
    spans = spans_of(PowerRule.objects.filter(active=True))
    saved = 0
    ids = sorted(household_ids)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        kinds = dict(Household.objects.filter(pk__in=chunk).values_list("pk", "kind"))
        states = rebuilt({pk: spans.get(kind, NO_RULE_SPAN) + SLACK_HOURS for pk, kind in kinds.items()})
        MeterState.objects.filter(
            household_id__in=[pk for pk in chunk if pk not in states]
        ).delete()  # no readings left
        statements.states_write([(pk, hours.last, hours.pack()) for pk, hours in sorted(states.items())])
        saved += len(states)
    return saved
