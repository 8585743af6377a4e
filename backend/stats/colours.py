"""Five-colour warnings (五色预警) of grids and communities.

Each rule counts something in a unit (overdue events, severe events…); its thresholds
(``ColourRule`` rows, or ``DEFAULT_RULES`` where the table has none for that rule) say
from which count the unit is at least which colour. A unit takes the worst colour any
rule gives it, green when none does. A change of colour is kept (``ColourChange``) and
told to the street's dispatchers (a notification row and the websocket, ``push``)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backend.accounts.models import Role, RoleAssignment
from backend.events.models import Category, Event, Satisfaction, Severity, Source
from backend.stats.facts import local_day
from backend.stats.models import (
    COLOUR_ORDER,
    DONE_STATES,
    Colour,
    ColourChange,
    ColourRule,
    EventFact,
    UnitColour,
    UnitKind,
)
from backend.territory.models import Community, Grid

# rule: (中文, English, {colour: threshold})
DEFAULT_RULES: dict[str, tuple[str, str, dict[str, int]]] = {
    "overdue": ("超期事件", "Overdue events", {Colour.YELLOW: 1, Colour.ORANGE: 3, Colour.RED: 5}),
    "severe": ("严重及以上未结事件", "Open severe events", {Colour.YELLOW: 1, Colour.ORANGE: 2, Colour.RED: 3}),
    "repeated_tips": (
        "同一地址30天内重复爆料",
        "Repeated tips at one address within 30 days",
        {Colour.BLUE: 1, Colour.YELLOW: 2, Colour.ORANGE: 3},
    ),
    "disputes": ("未化解矛盾纠纷", "Open disputes", {Colour.BLUE: 1, Colour.YELLOW: 3, Colour.ORANGE: 5}),
    "welfare": ("未办结关怀走访", "Unresolved welfare checks", {Colour.YELLOW: 1, Colour.ORANGE: 2, Colour.RED: 3}),
    "satisfaction_drop": (
        "满意率下降（百分点）",
        "Drop in satisfaction (percentage points)",
        {Colour.BLUE: 5, Colour.YELLOW: 10, Colour.ORANGE: 20},
    ),
}
DISPUTE_GROUP = "01"  # 矛盾纠纷
WELFARE_CATEGORIES = ("02.01", "02.02")  # 独居老人关怀, 重点人员走访
REPEAT_WINDOW = timedelta(days=30)
SATISFACTION_WINDOW = timedelta(days=30)
SATISFACTION_MIN_RATED = 3  # ratings in each window before a drop means anything
OPEN_EXCLUDED = DONE_STATES  # "open": every other state (the partial indexes of EventFact)
EVENTS_LISTED = 20


def thresholds() -> dict[str, dict[str, int]]:
    """The rules in force: the table's enabled rows, the defaults for rules it lacks."""
    configured: dict[str, dict[str, int]] = defaultdict(dict)
    seen = set()
    for rule in ColourRule.objects.all():
        seen.add(rule.rule)
        if rule.enabled:
            configured[rule.rule][rule.colour] = rule.threshold
    for name, (_, _, default) in DEFAULT_RULES.items():
        if name not in seen:
            configured[name] = dict(default)
    return configured


def colour_for(count: int, steps: dict[str, int]) -> str | None:
    for colour in COLOUR_ORDER:
        if colour in steps and count >= steps[colour]:
            return colour
    return None


@dataclass
class Verdict:
    colour: str
    reasons: list[dict]


_CATEGORY_CACHE: dict = {}
CATEGORY_CACHE_SECONDS = 300  # the catalogue changes rarely, an admin's act; colours recompute every step


def _category_ids() -> tuple[set[int], set[int]]:
    cached = _CATEGORY_CACHE.get("ids")
    if cached and cached[0] > time.monotonic():
        return cached[1]
    ids = _load_category_ids()
    _CATEGORY_CACHE["ids"] = (time.monotonic() + CATEGORY_CACHE_SECONDS, ids)
    return ids


def _load_category_ids() -> tuple[set[int], set[int]]:
    disputes = set(
        Category.objects.filter(Q(code=DISPUTE_GROUP) | Q(parent__code=DISPUTE_GROUP)).values_list("pk", flat=True)
    )
    welfare = set(Category.objects.filter(code__in=WELFARE_CATEGORIES).values_list("pk", flat=True))
    return disputes, welfare


def _counts(kind: str, unit_id: int, now: datetime, categories=None) -> dict[str, tuple[int, list]]:
    """``{rule: (count, event ids behind it)}``."""
    column = f"{kind}_id"
    disputes, welfare = categories or _category_ids()
    open_facts = (
        EventFact.objects.filter(**{column: unit_id})
        .exclude(state__in=OPEN_EXCLUDED)
        .values_list("event_id", "overdue_now", "severity", "category_id", "parent_category_id")
    )
    found: dict[str, list] = defaultdict(list)
    for event_id, overdue, severity, category_id, parent_id in open_facts:
        if overdue:
            found["overdue"].append(event_id)
        if severity in (Severity.HIGH, Severity.CRITICAL):
            found["severe"].append(event_id)
        if category_id in disputes or parent_id in disputes:
            found["disputes"].append(event_id)
        if category_id in welfare:
            found["welfare"].append(event_id)
    counts = {rule: (len(ids), ids) for rule, ids in found.items()}

    # From the facts: their (unit, reported day) index holds the last 30 days of the unit.
    tips = EventFact.objects.filter(
        **{column: unit_id}, reported_day__gte=local_day(now - REPEAT_WINDOW), source=Source.PUBLIC_TIP
    ).exclude(tip_address="")
    by_address: dict[str, list] = defaultdict(list)
    for event_id, address in tips.values_list("event_id", "tip_address"):
        by_address[address].append(event_id)
    repeated = [ids for ids in by_address.values() if len(ids) >= 2]
    counts["repeated_tips"] = (len(repeated), [i for ids in repeated for i in ids])

    today = local_day(now)
    recent_from = today - timedelta(days=SATISFACTION_WINDOW.days - 1)
    earlier_from = recent_from - timedelta(days=SATISFACTION_WINDOW.days)
    rated = (
        EventFact.objects.filter(**{column: unit_id}, closed_day__gte=earlier_from, closed_day__lte=today)
        .exclude(satisfaction="")
        .values_list("event_id", "closed_day", "satisfaction")
    )
    windows = {"recent": [0, 0], "earlier": [0, 0]}
    unsatisfied = []
    for event_id, day, satisfaction in rated:
        window = windows["recent" if day >= recent_from else "earlier"]
        window[0] += 1
        window[1] += satisfaction in (Satisfaction.SATISFIED, Satisfaction.BASIC)
        if day >= recent_from and satisfaction == Satisfaction.UNSATISFIED:
            unsatisfied.append(event_id)
    (recent, recent_ok), (earlier, earlier_ok) = windows["recent"], windows["earlier"]
    drop = 0
    if recent >= SATISFACTION_MIN_RATED and earlier >= SATISFACTION_MIN_RATED:
        drop = max(0, round(100 * earlier_ok / earlier - 100 * recent_ok / recent))
    counts["satisfaction_drop"] = (drop, unsatisfied if drop else [])
    return counts


def verdict_of(kind: str, unit_id: int, now: datetime | None = None, rules=None, categories=None) -> Verdict:
    now = now or timezone.now()
    rules = rules if rules is not None else thresholds()
    counts = _counts(kind, unit_id, now, categories)
    triggered = []
    for rule, steps in rules.items():
        count, ids = counts.get(rule, (0, []))
        colour = colour_for(count, steps)
        if colour:
            triggered.append((rule, colour, count, ids))
    listed = [i for _, _, _, ids in triggered for i in ids[:EVENTS_LISTED]]
    numbers = dict(Event.objects.filter(pk__in=listed).values_list("pk", "number")) if listed else {}
    reasons = []
    for rule, colour, count, ids in sorted(triggered, key=lambda t: (COLOUR_ORDER.index(t[1]), t[0])):
        label, label_en, _ = DEFAULT_RULES.get(rule, (rule, rule, {}))
        reasons.append(
            {
                "rule": rule,
                "label": label,
                "label_en": label_en,
                "count": count,
                "colour": colour,
                "events": [{"id": str(i), "number": numbers.get(i, "")} for i in ids[:EVENTS_LISTED]],
            }
        )
    colour = reasons[0]["colour"] if reasons else Colour.GREEN
    return Verdict(colour, reasons)


def _street_of(kind: str, unit_id: int) -> int | None:
    if kind == UnitKind.GRID:
        return Grid.objects.filter(pk=unit_id).values_list("community__street_id", flat=True).first()
    return Community.objects.filter(pk=unit_id).values_list("street_id", flat=True).first()


def recompute_colour(
    kind: str, unit_id: int, now: datetime | None = None, rules=None, categories=None
) -> UnitColour | None:
    """The unit's colour now; a change is recorded and told to the street's dispatchers."""
    now = now or timezone.now()
    verdict = verdict_of(kind, unit_id, now, rules, categories)
    current = UnitColour.objects.filter(unit_kind=kind, unit_id=unit_id).first()
    if current is None:
        street_id = _street_of(kind, unit_id)
        if street_id is None:
            return None
        current = UnitColour(unit_kind=kind, unit_id=unit_id, street_id=street_id, since=now)
        previous = ""
    else:
        previous = current.colour
    changed = verdict.colour != (previous or Colour.GREEN)
    if not changed and (current.reasons == verdict.reasons or current.pk is None and not verdict.reasons):
        return current if current.pk else None  # nothing to write (a green unit needs no row)
    with transaction.atomic():
        current.reasons = verdict.reasons
        current.computed_at = now
        if changed:
            current.colour = verdict.colour
            current.since = now
        current.save()
        if changed:
            ColourChange.objects.create(
                unit_kind=kind,
                unit_id=unit_id,
                colour=verdict.colour,
                previous=previous or Colour.GREEN,
                reasons=verdict.reasons,
                changed_at=now,
            )
            _tell_dispatchers(current, previous or Colour.GREEN)
    return current


def _tell_dispatchers(colour: UnitColour, previous: str) -> None:
    from push.models import NotificationKind
    from push.services import notify

    model = Grid if colour.unit_kind == UnitKind.GRID else Community
    name = model.objects.filter(pk=colour.unit_id).values_list("name", flat=True).first() or ""
    label = Colour(colour.colour).label
    users = RoleAssignment.objects.filter(role=Role.DISPATCHER, street_id=colour.street_id).values_list(
        "user_id", flat=True
    )
    reasons = "；".join(f"{r['label']} {r['count']}" for r in colour.reasons)
    notify(
        users=list(users),
        kind=NotificationKind.COLOUR_CHANGE,
        title=f"五色预警 {name} {Colour(previous).label}→{label}",
        body=reasons or "无预警事项",
        data={
            "unit": {"kind": colour.unit_kind, "id": colour.unit_id, "name": name},
            "colour": colour.colour,
            "previous": previous,
        },
    )


def recompute_units(units: set[tuple[str, int]], now: datetime | None = None) -> int:
    rules, categories = thresholds(), _category_ids()
    for kind, unit_id in sorted(units):
        recompute_colour(kind, unit_id, now, rules, categories)
    return len(units)


def recompute_all(now: datetime | None = None) -> int:
    units = {(UnitKind.GRID, pk) for pk in Grid.objects.values_list("pk", flat=True)}
    units |= {(UnitKind.COMMUNITY, pk) for pk in Community.objects.values_list("pk", flat=True)}
    return recompute_units(units, now)
