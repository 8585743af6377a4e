"""电力数据: hourly meter readings in batches, and the rules per household type
evaluated over the batch (aggregates in SQL, one query per rule and batch hour,
never per row): an elder living alone whose use stays near zero or breaks from their
usual pattern gets a welfare-check visit (独居老人关怀) pushed to the grid worker; a
rental flat far above its baseline for days becomes a suspected 群租 event."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from backend.accounts.actor import Actor
from backend.care.services import welfare_due_open
from backend.core.errors import ApiError
from backend.core.times import wire_time
from backend.events.models import Source
from backend.events.services import event_report
from backend.fastpath import intake as statements
from backend.fastpath import rules as rules_fast
from backend.intake.meters import NO_RULE_SPAN, Hours, params_of, spans_of, states_update
from backend.intake.models import (
    Household,
    HouseholdKind,
    PowerAlert,
    PowerReading,
    PowerRule,
    RuleKind,
    SourceSystem,
)
from backend.intake.schemas import validate_items
from backend.intake.video import Outcome
from backend.patrols.models import KeySubject, SubjectKind

GROUP_RENTAL_CATEGORY = "03.02"  # 群租房 in the catalogue
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass
class Verdict:
    household_id: int
    rule: PowerRule
    summary: str
    windows: list[tuple[datetime, datetime]]  # the readings behind it: these hours (start, end]
    days: list[list] | None = None  # daily figures shown with it


@dataclass
class Meter:
    """What the rules judge a household by: its hours up to ``last``, the latest hour
    of the batch's readings for it."""

    household_id: int
    kind: str
    baseline_kwh_day: float | None
    last: datetime
    hours: Hours


def readings_take(*, source: SourceSystem, items: list[dict], now: datetime | None = None) -> list[Outcome]:
    """Each reading checked on its own (``rejected`` with the reason, or ``stored``; a
    reading of the same meter and hour sent again replaces the first), saved in one
    statement with the households' running state, then the rules evaluated for the
    households the batch touched."""
    now = now or timezone.now()
    outcomes: list[Outcome] = [None] * len(items)  # type: ignore[list-item]
    checked, errors = validate_items("power", items)
    for index, error in errors.items():
        raw = items[index]
        item_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        outcomes[index] = Outcome(item_id, "rejected", error=error)
    latest_allowed = now + HOUR
    parsed: list[tuple[int, dict]] = []
    for index, item in checked:
        hour = item["hour"]
        if hour.minute or hour.second or hour.microsecond:
            outcomes[index] = Outcome(item["id"], "rejected", error={"hour": "the start of an hour"})
        elif hour > latest_allowed:
            outcomes[index] = Outcome(item["id"], "rejected", error={"hour": "in the future"})
        else:
            parsed.append((index, item))
    with transaction.atomic(savepoint=False):
        households = {
            meter: (pk, kind, baseline)
            for meter, pk, kind, baseline in statements.households_locked(
                source_id=source.pk, meters={item["meter"] for _, item in parsed}
            )
        }
        rows: dict[tuple[int, datetime], float] = {}
        for index, item in parsed:
            household = households.get(item["meter"])
            if household is None:
                outcomes[index] = Outcome(item["id"], "rejected", error={"meter": f"unknown meter {item['meter']!r}"})
                continue
            rows[(household[0], item["hour"])] = item["kwh"]
            outcomes[index] = Outcome(item["id"], "stored")
        statements.readings_upsert([(pk, hour, kwh) for (pk, hour), kwh in rows.items()])
        readings: dict[int, list[tuple[datetime, float]]] = defaultdict(list)
        for (pk, hour), kwh in rows.items():
            readings[pk].append((hour, kwh))
        about = {pk: (kind, baseline) for pk, kind, baseline in households.values()}
        _evaluate(readings, about, now=now)
    return outcomes


def rules_evaluate(*, latest: dict[int, datetime], now: datetime) -> list[PowerAlert]:
    """The active rules over the households whose latest new reading is ``latest``
    (readings stored around ``readings_take``, as the demo does): their running state
    is built from the readings table."""
    about = {
        pk: (kind, baseline)
        for pk, kind, baseline in Household.objects.filter(pk__in=latest).values_list("pk", "kind", "baseline_kwh_day")
    }
    readings = {pk: [(hour, None)] for pk, hour in latest.items() if pk in about}
    return _evaluate(readings, about, now=now, rebuild=True)


def _evaluate(
    readings: dict[int, list[tuple[datetime, float]]],
    about: dict[int, tuple[str, float | None]],
    *,
    now: datetime,
    rebuild: bool = False,
) -> list[PowerAlert]:
    """Fold the readings into the households' states, then judge each active rule of
    their type; a rule that fires opens one alert per household and rule (kept open,
    not doubled, while it keeps firing; closed when it stops), with the readings
    behind it."""
    if not readings:
        return []
    rules = list(PowerRule.objects.filter(active=True))
    by_kind = spans_of(rules)  # each household's state as long as its kind's rules look back
    judged = {pk for pk in readings if about[pk][0] in by_kind}
    spans = {pk: by_kind.get(about[pk][0], NO_RULE_SPAN) for pk in readings}
    anchors = {pk: max(readings[pk])[0] if len(readings[pk]) > 1 else readings[pk][0][0] for pk in judged}
    states = states_update(readings, anchors=anchors, spans=spans, rebuild=rebuild)
    verdicts: list[Verdict] = []
    cleared: list[tuple[int, int]] = []
    by_rule_kind: dict[str, list[tuple]] = {}  # household kind → its meters, in id order
    for pk in sorted(judged):
        if pk in states:
            kind, baseline = about[pk]
            by_rule_kind.setdefault(kind, []).append((pk, baseline, anchors[pk], states[pk]))
    for rule in rules:
        meters = by_rule_kind.get(rule.household_kind)
        if not meters:
            continue
        fired, quiet = judge(rule, meters)
        verdicts += fired
        rule_id = rule.pk
        cleared += [(pk, rule_id) for pk in quiet]
    statements.alerts_close(cleared)
    return alerts_raise(verdicts, now=now) if verdicts else []


def judge(rule: PowerRule, meters: list[tuple]) -> tuple[list[Verdict], set[int]]:
    """The rule over these meters ``(household_id, baseline, last, hours)`` by the
    tuned evaluators (``backend.fastpath.rules``, held equal to the plain ones below):
    its verdicts and the households it no longer fires for."""
    params = params_of(rule)
    if rule.kind == RuleKind.NEAR_ZERO:
        fired, cleared = rules_fast.near_zero(params, meters)
        return [_near_zero_verdict(rule, params, m[0], m[2], total) for m, total in fired], cleared
    if rule.kind == RuleKind.PATTERN_BREAK:
        fired, cleared = rules_fast.pattern_break(params, meters)
        return [_pattern_break_verdict(rule, params, m[0], m[2], *figures) for m, *figures in fired], cleared
    fired, cleared = rules_fast.above_baseline(params, meters)
    return [_above_baseline_verdict(rule, params, m[0], m[1], m[2], daily) for m, daily in fired], cleared


def _near_zero_verdict(rule: PowerRule, params: dict, household_id: int, last: datetime, total: float) -> Verdict:
    hours = int(params["hours"])
    return Verdict(
        household_id,
        rule,
        f"{rule.name}：近 {hours} 小时用电 {total:.2f} 千瓦时（阈值 {params['max_kwh']}）",
        [(last - hours * HOUR, last)],  # the hours ending with the latest reading's hour
    )


def _pattern_break_verdict(
    rule: PowerRule, params: dict, household_id: int, last: datetime, now_kwh: float, mean: float, usual: int, sums
) -> Verdict:
    hours, days = int(params["hours"]), int(params["days"])
    return Verdict(
        household_id,
        rule,
        f"{rule.name}：近 {hours} 小时用电 {now_kwh:.2f} 千瓦时，前 {usual} 天同时段平均 {mean:.2f} 千瓦时",
        [(last - hours * HOUR, last)],
        days=[[wire_time(last - k * DAY), round(sums[k][0] or 0.0, 3)] for k in range(days + 1)],
    )


def _above_baseline_verdict(
    rule: PowerRule, params: dict, household_id: int, baseline: float, last: datetime, daily: list[float]
) -> Verdict:
    days, factor = int(params["days"]), float(params["factor"])
    return Verdict(
        household_id,
        rule,
        f"{rule.name}：连续 {days} 天日用电 {min(daily):.1f}–{max(daily):.1f} 千瓦时，"
        f"基线 {baseline:.1f} 千瓦时的 {factor:g} 倍以上",
        [(last - days * DAY, last)],
        days=[[wire_time(last - k * DAY), round(daily[k], 3)] for k in range(days)],
    )


# The plain evaluators: what each rule means, over one ``Meter`` at a time. A batch
# judges through ``judge`` (the same verdicts: ``backend/fastpath/tests/test_rules.py``).


def _near_zero(rule: PowerRule, meters: list[Meter]) -> tuple[list[Verdict], set[int]]:
    params = params_of(rule)
    hours = int(params["hours"])
    fired, cleared = [], set()
    for meter in meters:
        total, count = meter.hours.window(meter.hours.offset(meter.last), hours)
        if count < hours:  # missing readings are not zero use: no verdict
            continue
        total = total or 0.0
        if total <= params["max_kwh"]:
            fired.append(_near_zero_verdict(rule, params, meter.household_id, meter.last, total))
        else:
            cleared.add(meter.household_id)
    return fired, cleared


def _pattern_break(rule: PowerRule, meters: list[Meter]) -> tuple[list[Verdict], set[int]]:
    params = params_of(rule)
    hours, days = int(params["hours"]), int(params["days"])
    fired, cleared = [], set()
    for meter in meters:
        # The same hours of each of the previous days.
        start = meter.hours.offset(meter.last)
        sums = [meter.hours.window(start + 24 * k, hours) for k in range(days + 1)]
        if sums[0][1] < hours:
            continue
        usual = [total or 0.0 for total, count in sums[1:] if count >= hours]
        if len(usual) < params["min_days"]:
            continue
        mean = sum(usual) / len(usual)
        now_kwh = sums[0][0] or 0.0
        if mean >= params["min_usual_kwh"] and now_kwh <= params["max_ratio"] * mean:
            fired.append(
                _pattern_break_verdict(rule, params, meter.household_id, meter.last, now_kwh, mean, len(usual), sums)
            )
        else:
            cleared.add(meter.household_id)
    return fired, cleared


def _above_baseline(rule: PowerRule, meters: list[Meter]) -> tuple[list[Verdict], set[int]]:
    params = params_of(rule)
    days, factor = int(params["days"]), float(params["factor"])
    fired, cleared = [], set()
    for meter in meters:
        baseline = meter.baseline_kwh_day
        if not baseline or baseline <= 0:
            continue
        start = meter.hours.offset(meter.last)
        sums = [meter.hours.window(start + 24 * k, 24) for k in range(days)]
        if any(count < 24 for _, count in sums):
            continue
        daily = [total or 0.0 for total, _ in sums]
        if all(value > factor * baseline for value in daily):
            fired.append(_above_baseline_verdict(rule, params, meter.household_id, baseline, meter.last, daily))
        else:
            cleared.add(meter.household_id)
    return fired, cleared


EVALUATORS = {
    RuleKind.NEAR_ZERO: _near_zero,
    RuleKind.PATTERN_BREAK: _pattern_break,
    RuleKind.ABOVE_BASELINE: _above_baseline,
}


def alerts_raise(verdicts: list[Verdict], *, now: datetime) -> list[PowerAlert]:
    already = set(
        PowerAlert.objects.filter(open=True, household_id__in={v.household_id for v in verdicts}).values_list(
            "household_id", "rule_id"
        )
    )
    fresh = [v for v in verdicts if (v.household_id, v.rule.pk) not in already]
    if not fresh:
        return []
    households = Household.objects.select_related("source__account", "unit__building", "subject").in_bulk(
        {v.household_id for v in fresh}
    )
    raised = []
    for verdict in fresh:
        household = households[verdict.household_id]
        readings = [
            [wire_time(hour), kwh]
            for start, end in verdict.windows
            for hour, kwh in PowerReading.objects.filter(household=household, hour__gt=start, hour__lte=end)
            .order_by("hour")
            .values_list("hour", "kwh")
        ]
        alert = PowerAlert.objects.create(
            household=household,
            rule=verdict.rule,
            raised_at=now,
            summary=verdict.summary[:300],
            readings={"hours": readings, "days": verdict.days or []},
        )
        if household.kind == HouseholdKind.ELDER_ALONE:
            alert.due, _ = welfare_due_open(subject=_elder(household), note=verdict.summary, now=now)
        elif household.kind == HouseholdKind.RENTAL:
            alert.event = _group_rental_event(household, verdict)
        alert.save(update_fields=["due", "event"])
        raised.append(alert)
    return raised


def _elder(household: Household) -> KeySubject:
    """The elder's key-person record, made on the first alert if the register lacked it."""
    if household.subject is None:
        household.subject = KeySubject.objects.create(
            grid_id=household.grid_id,
            kind=SubjectKind.PERSON,
            name=f"独居老人（电表 {household.meter_no}）",
            address_text=str(household.unit) if household.unit else household.meter_address,
            visit_every_days=30,
            note="独居老人",
        )
        household.save(update_fields=["subject"])
    return household.subject


def _group_rental_event(household: Household, verdict: Verdict):
    account = household.source.account
    if account is None:
        return None
    building = household.unit.building if household.unit else None
    try:
        event, _ = event_report(
            actor=Actor(user=account),
            source=Source.POWER_ALERT,
            category_code=GROUP_RENTAL_CATEGORY,
            description=f"疑似群租（电力数据）：{verdict.summary}",
            grid_id=household.grid_id,
            lat=building.lat if building else None,
            lng=building.lng if building else None,
            address_text=str(household.unit) if household.unit else household.meter_address,
        )
    except ApiError:  # the account lost its role: the alert stays listed for review
        return None
    return event
