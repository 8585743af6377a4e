"""电力数据: hourly meter readings in batches, and the rules per household type
evaluated over the batch (aggregates in SQL, one query per rule and batch hour,
never per row): an elder living alone whose use stays near zero or breaks from their
usual pattern gets a welfare-check visit (独居老人关怀) pushed to the grid worker; a
rental flat far above its baseline for days becomes a suspected 群租 event."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from pydantic import ValidationError

from backend.accounts.actor import Actor
from backend.care.services import welfare_due_open
from backend.core.errors import ApiError
from backend.core.times import wire_time
from backend.events.models import Source
from backend.events.services import event_report
from backend.intake.models import (
    Household,
    HouseholdKind,
    PowerAlert,
    PowerReading,
    PowerRule,
    RuleKind,
    SourceSystem,
)
from backend.intake.schemas import PowerReadingItem
from backend.intake.video import Outcome, _errors
from backend.patrols.models import KeySubject, SubjectKind

GROUP_RENTAL_CATEGORY = "03.02"  # 群租房 in the catalogue
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

DEFAULT_PARAMS = {
    RuleKind.NEAR_ZERO: {"hours": 24, "max_kwh": 0.3},
    RuleKind.PATTERN_BREAK: {"hours": 6, "days": 7, "min_days": 3, "max_ratio": 0.2, "min_usual_kwh": 0.6},
    RuleKind.ABOVE_BASELINE: {"days": 3, "factor": 3.0},
}


@dataclass
class Verdict:
    household_id: int
    rule: PowerRule
    summary: str
    windows: list[tuple[datetime, datetime]]  # the readings behind it: these hours (start, end]
    days: list[list] | None = None  # daily figures shown with it


def readings_take(*, source: SourceSystem, items: list[dict], now: datetime | None = None) -> list[Outcome]:
    """Each reading checked on its own (``rejected`` with the reason, or ``stored``; a
    reading of the same meter and hour sent again replaces the first), saved in one
    statement, then the rules evaluated for the households the batch touched."""
    now = now or timezone.now()
    outcomes: list[Outcome] = [None] * len(items)  # type: ignore[list-item]
    parsed: list[tuple[int, PowerReadingItem]] = []
    for index, raw in enumerate(items):
        try:
            item = PowerReadingItem.model_validate(raw)
        except ValidationError as error:
            item_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
            outcomes[index] = Outcome(item_id, "rejected", error=_errors(error))
            continue
        if item.hour.minute or item.hour.second or item.hour.microsecond:
            outcomes[index] = Outcome(item.id, "rejected", error={"hour": "the start of an hour"})
        elif item.hour > now + HOUR:
            outcomes[index] = Outcome(item.id, "rejected", error={"hour": "in the future"})
        else:
            parsed.append((index, item))
    households = dict(
        Household.objects.filter(
            source=source, active=True, meter_no__in={item.meter for _, item in parsed}
        ).values_list("meter_no", "pk")
    )
    rows: dict[tuple[int, datetime], PowerReading] = {}
    for index, item in parsed:
        household_id = households.get(item.meter)
        if household_id is None:
            outcomes[index] = Outcome(item.id, "rejected", error={"meter": f"unknown meter {item.meter!r}"})
            continue
        rows[(household_id, item.hour)] = PowerReading(household_id=household_id, hour=item.hour, kwh=item.kwh)
        outcomes[index] = Outcome(item.id, "stored")
    with transaction.atomic():
        PowerReading.objects.bulk_create(
            list(rows.values()), update_conflicts=True, unique_fields=["household", "hour"], update_fields=["kwh"]
        )
        latest: dict[int, datetime] = {}
        for household_id, hour in rows:
            latest[household_id] = max(latest.get(household_id, hour), hour)
        rules_evaluate(latest=latest, now=now)
    return outcomes


def _by_latest(latest: dict[int, datetime], ids) -> dict[datetime, list[int]]:
    groups: dict[datetime, list[int]] = defaultdict(list)
    for household_id in ids:
        groups[latest[household_id]].append(household_id)
    return groups


def _window_sums(ids: list[int], windows: dict[str, tuple[datetime, datetime]]) -> dict[int, dict]:
    """Per household, the sum and count of readings in each named window (start, end],
    in one aggregate statement (written out: the ORM took longer to compile its
    filtered aggregates than the database took to answer them)."""
    adapt = connection.ops.adapt_datetimefield_value
    columns, params = [], []
    for name, (start, end) in windows.items():
        columns.append(f"SUM(CASE WHEN hour > %s AND hour <= %s THEN kwh END) AS {name}_kwh")
        columns.append(f"COUNT(CASE WHEN hour > %s AND hour <= %s THEN 1 END) AS {name}_n")
        params += [adapt(start), adapt(end), adapt(start), adapt(end)]
    earliest = min(start for start, _ in windows.values())
    latest = max(end for _, end in windows.values())
    sql = (
        f"SELECT household_id, {', '.join(columns)} FROM {PowerReading._meta.db_table} "
        f"WHERE household_id IN ({', '.join(['%s'] * len(ids))}) AND hour > %s AND hour <= %s "
        "GROUP BY household_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *ids, adapt(earliest), adapt(latest)])
        names = [column[0] for column in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def _near_zero(rule: PowerRule, groups: dict[datetime, list[int]]) -> tuple[list[Verdict], set[int]]:
    params = {**DEFAULT_PARAMS[RuleKind.NEAR_ZERO], **rule.params}
    hours = int(params["hours"])
    fired, cleared = [], set()
    for last, ids in groups.items():
        window = (last - hours * HOUR, last)  # the hours ending with the latest reading's hour
        sums = _window_sums(ids, {"w": window})
        for household_id in ids:
            row = sums.get(household_id, {})
            if row.get("w_n", 0) < hours:  # missing readings are not zero use: no verdict
                continue
            total = row["w_kwh"] or 0.0
            if total <= params["max_kwh"]:
                fired.append(
                    Verdict(
                        household_id,
                        rule,
                        f"{rule.name}：近 {hours} 小时用电 {total:.2f} 千瓦时（阈值 {params['max_kwh']}）",
                        [window],
                    )
                )
            else:
                cleared.add(household_id)
    return fired, cleared


def _pattern_break(rule: PowerRule, groups: dict[datetime, list[int]]) -> tuple[list[Verdict], set[int]]:
    params = {**DEFAULT_PARAMS[RuleKind.PATTERN_BREAK], **rule.params}
    hours, days = int(params["hours"]), int(params["days"])
    fired, cleared = [], set()
    for last, ids in groups.items():
        windows = {f"d{k}": (last - k * DAY - hours * HOUR, last - k * DAY) for k in range(days + 1)}
        sums = _window_sums(ids, windows)
        for household_id in ids:
            row = sums.get(household_id, {})
            if row.get("d0_n", 0) < hours:
                continue
            usual = [row[f"d{k}_kwh"] or 0.0 for k in range(1, days + 1) if row.get(f"d{k}_n", 0) >= hours]
            if len(usual) < params["min_days"]:
                continue
            mean = sum(usual) / len(usual)
            now_kwh = row["d0_kwh"] or 0.0
            if mean >= params["min_usual_kwh"] and now_kwh <= params["max_ratio"] * mean:
                fired.append(
                    Verdict(
                        household_id,
                        rule,
                        f"{rule.name}：近 {hours} 小时用电 {now_kwh:.2f} 千瓦时，"
                        f"前 {len(usual)} 天同时段平均 {mean:.2f} 千瓦时",
                        [windows["d0"]],
                        days=[
                            [wire_time(windows[f"d{k}"][1]), round(row[f"d{k}_kwh"] or 0.0, 3)] for k in range(days + 1)
                        ],
                    )
                )
            else:
                cleared.add(household_id)
    return fired, cleared


def _above_baseline(rule: PowerRule, groups: dict[datetime, list[int]]) -> tuple[list[Verdict], set[int]]:
    params = {**DEFAULT_PARAMS[RuleKind.ABOVE_BASELINE], **rule.params}
    days, factor = int(params["days"]), float(params["factor"])
    baselines = dict(
        Household.objects.filter(
            pk__in=[i for ids in groups.values() for i in ids], baseline_kwh_day__gt=0
        ).values_list("pk", "baseline_kwh_day")
    )
    fired, cleared = [], set()
    for last, ids in groups.items():
        ids = [i for i in ids if i in baselines]
        if not ids:
            continue
        windows = {f"d{k}": (last - (k + 1) * DAY, last - k * DAY) for k in range(days)}
        sums = _window_sums(ids, windows)
        for household_id in ids:
            row = sums.get(household_id, {})
            if any(row.get(f"d{k}_n", 0) < 24 for k in range(days)):
                continue
            daily = [row[f"d{k}_kwh"] or 0.0 for k in range(days)]
            baseline = baselines[household_id]
            if all(value > factor * baseline for value in daily):
                fired.append(
                    Verdict(
                        household_id,
                        rule,
                        f"{rule.name}：连续 {days} 天日用电 {min(daily):.1f}–{max(daily):.1f} 千瓦时，"
                        f"基线 {baseline:.1f} 千瓦时的 {factor:g} 倍以上",
                        [(last - days * DAY, last)],
                        days=[[wire_time(windows[f"d{k}"][1]), round(daily[k], 3)] for k in range(days)],
                    )
                )
            else:
                cleared.add(household_id)
    return fired, cleared


EVALUATORS = {
    RuleKind.NEAR_ZERO: _near_zero,
    RuleKind.PATTERN_BREAK: _pattern_break,
    RuleKind.ABOVE_BASELINE: _above_baseline,
}


def rules_evaluate(*, latest: dict[int, datetime], now: datetime) -> list[PowerAlert]:
    """The active rules over the households whose latest new reading is ``latest``;
    a rule that fires opens one alert per household and rule (kept open, not doubled,
    while it keeps firing; closed when it stops), with the readings behind it."""
    if not latest:
        return []
    rules = list(PowerRule.objects.filter(active=True))
    kinds = {
        household_id: kind
        for household_id, kind in Household.objects.filter(
            pk__in=latest, kind__in={rule.household_kind for rule in rules}
        ).values_list("pk", "kind")
    }
    verdicts: list[Verdict] = []
    for rule in rules:
        ids = [i for i, kind in kinds.items() if kind == rule.household_kind]
        if not ids:
            continue
        fired, cleared = EVALUATORS[rule.kind](rule, _by_latest(latest, ids))
        verdicts += fired
        if cleared:
            PowerAlert.objects.filter(rule=rule, household_id__in=cleared, open=True).update(open=False)
    return alerts_raise(verdicts, now=now) if verdicts else []


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
