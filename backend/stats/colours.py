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
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
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
SEVERE = (Severity.HIGH, Severity.CRITICAL)


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


_RULES_CACHE: dict = {}
RULES_CACHE_SECONDS = 60


def _rules_in_force() -> dict[str, dict[str, int]]:
    """``thresholds()`` for the worker's recomputes, kept a minute in the process: a change
    made in this process (the API, the admin) clears it at once, one made elsewhere reaches
    the worker within the minute (units recompute at the next step or the hourly sweep)."""
    cached = _RULES_CACHE.get("rules")
    if cached and cached[0] > time.monotonic():
        return cached[1]
    rules = thresholds()
    _RULES_CACHE["rules"] = (time.monotonic() + RULES_CACHE_SECONDS, rules)
    return rules


@receiver([post_save, post_delete], sender=ColourRule)
def _rule_changed(**_) -> None:
    _RULES_CACHE.clear()


def forget_cached() -> None:
    """The rules and category ids kept in this process (a rule saved; tests between them)."""
    _RULES_CACHE.clear()
    _CATEGORY_CACHE.clear()


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


ROW_COLUMNS = (
    "event_id",
    "grid_id",
    "state",
    "overdue_now",
    "severity",
    "category_id",
    "parent_category_id",
    "source",
    "reported_day",
    "tip_address",
    "closed_day",
    "satisfaction",
)


def _windows(now: datetime) -> tuple:
    """(first day of the tips' window, first day of the recent and of the earlier
    satisfaction window, today), in local dates."""
    today = local_day(now)
    recent_from = today - timedelta(days=SATISFACTION_WINDOW.days - 1)
    return local_day(now - REPEAT_WINDOW), recent_from, recent_from - timedelta(days=SATISFACTION_WINDOW.days), today


def open_rules(state: str, overdue: bool, severity: str, category_id, parent_id, categories=None) -> list[str]:
    """The rules that count an event (overdue, severe, disputes, welfare checks); none once
    it is done. ``_counts`` counts by it, and each fact keeps whether any does
    (``EventFact.colour_counted``, ``backend.stats.facts.fact_of``)."""
    if state in OPEN_EXCLUDED:
        return []
    disputes, welfare = categories or _category_ids()
    rules = []
    if overdue:
        rules.append("overdue")
    if severity in SEVERE:
        rules.append("severe")
    if category_id in disputes or parent_id in disputes:
        rules.append("disputes")
    if category_id in welfare:
        rules.append("welfare")
    return rules


def community_rows(community_id: int, now: datetime) -> list[tuple]:
    """Every fact any rule reads of a community and its grids, in one statement: its
    open events that a rule counts (most of a busy community's open events count for
    nothing), its residents' tips of the last 30 days and its ratings of the last 60
    (three partial indexes: counted, tips by reported day, closures)."""
    tips_from, _, rated_from, today = _windows(now)
    wanted = (
        Q(colour_counted=True)
        | Q(reported_day__gte=tips_from, source=Source.PUBLIC_TIP) & ~Q(tip_address="")
        | Q(closed_day__gte=rated_from, closed_day__lte=today) & ~Q(satisfaction="")
    )
    return list(EventFact.objects.filter(wanted, community_id=community_id).values_list(*ROW_COLUMNS))


def _counts(rows: list[tuple], now: datetime, categories=None) -> dict[str, tuple[int, list]]:
    """``{rule: (count, event ids behind it)}`` over a unit's rows (``community_rows``)."""
    categories = categories or _category_ids()
    tips_from, recent_from, rated_from, today = _windows(now)
    found: dict[str, list] = defaultdict(list)
    by_address: dict[str, list] = defaultdict(list)
    windows = {"recent": [0, 0], "earlier": [0, 0]}
    unsatisfied = []
    for (
        event_id,
        _,
        state,
        overdue,
        severity,
        category_id,
        parent_id,
        source,
        reported,
        address,
        closed,
        rating,
    ) in rows:
        for rule in open_rules(state, overdue, severity, category_id, parent_id, categories):
            found[rule].append(event_id)
        if source == Source.PUBLIC_TIP and address and reported >= tips_from:
            by_address[address].append(event_id)
        if rating and closed is not None and rated_from <= closed <= today:
            window = windows["recent" if closed >= recent_from else "earlier"]
            window[0] += 1
            window[1] += rating in (Satisfaction.SATISFIED, Satisfaction.BASIC)
            if closed >= recent_from and rating == Satisfaction.UNSATISFIED:
                unsatisfied.append(event_id)
    counts = {rule: (len(ids), sorted(ids, key=str)) for rule, ids in found.items()}
    repeated = [ids for ids in by_address.values() if len(ids) >= 2]
    counts["repeated_tips"] = (len(repeated), sorted((i for ids in repeated for i in ids), key=str))
    (recent, recent_ok), (earlier, earlier_ok) = windows["recent"], windows["earlier"]
    drop = 0
    if recent >= SATISFACTION_MIN_RATED and earlier >= SATISFACTION_MIN_RATED:
        drop = max(0, round(100 * earlier_ok / earlier - 100 * recent_ok / recent))
    counts["satisfaction_drop"] = (drop, sorted(unsatisfied, key=str) if drop else [])
    return counts


def _unit_rows(kind: str, unit_id: int, rows: list[tuple]) -> list[tuple]:
    return rows if kind == UnitKind.COMMUNITY else [row for row in rows if row[1] == unit_id]


def _community_of(kind: str, unit_id: int) -> int | None:
    if kind == UnitKind.COMMUNITY:
        return unit_id
    return Grid.objects.filter(pk=unit_id).values_list("community_id", flat=True).first()


def verdict_of(kind: str, unit_id: int, now: datetime | None = None, rules=None, categories=None) -> Verdict:
    now = now or timezone.now()
    community_id = _community_of(kind, unit_id)
    rows = [] if community_id is None else community_rows(community_id, now)
    verdict = _verdict(_unit_rows(kind, unit_id, rows), now, rules, categories, {})
    _number(verdict)
    return verdict


def _verdict(rows: list[tuple], now: datetime, rules, categories, known: dict) -> Verdict:
    """The colour and reasons of a unit's rows; an event's number is filled from
    ``known`` (the reasons already stored), else left for ``_number``."""
    rules = rules if rules is not None else thresholds()
    counts = _counts(rows, now, categories)
    triggered = []
    for rule, steps in rules.items():
        count, ids = counts.get(rule, (0, []))
        colour = colour_for(count, steps)
        if colour:
            triggered.append((rule, colour, count, ids))
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
                "events": [{"id": str(i), "number": known.get(str(i), "")} for i in ids[:EVENTS_LISTED]],
            }
        )
    colour = reasons[0]["colour"] if reasons else Colour.GREEN
    return Verdict(colour, reasons)


def _number(*verdicts: Verdict) -> None:
    """Fill the events' numbers the reasons lack, in one statement."""
    missing = {e["id"] for v in verdicts for r in v.reasons for e in r["events"] if not e["number"]}
    if not missing:
        return
    numbers = {str(pk): number for pk, number in Event.objects.filter(pk__in=missing).values_list("pk", "number")}
    for verdict in verdicts:
        for reason in verdict.reasons:
            for listed in reason["events"]:
                listed["number"] = listed["number"] or numbers.get(listed["id"], "")


def _street_of(kind: str, unit_id: int) -> int | None:
    if kind == UnitKind.GRID:
        return Grid.objects.filter(pk=unit_id).values_list("community__street_id", flat=True).first()
    return Community.objects.filter(pk=unit_id).values_list("street_id", flat=True).first()


def recompute_colour(
    kind: str, unit_id: int, now: datetime | None = None, rules=None, categories=None
) -> UnitColour | None:
    """The unit's colour now; a change is recorded and told to the street's dispatchers."""
    now = now or timezone.now()
    _recompute({(kind, unit_id)}, now, rules, categories)
    return UnitColour.objects.filter(unit_kind=kind, unit_id=unit_id).first()


def _store(kind: str, unit_id: int, verdict: Verdict, current: UnitColour | None, now: datetime) -> None:
    if current is None:
        street_id = _street_of(kind, unit_id)
        if street_id is None:
            return
        current = UnitColour(unit_kind=kind, unit_id=unit_id, street_id=street_id, since=now)
        previous = ""
    else:
        previous = current.colour
    changed = verdict.colour != (previous or Colour.GREEN)
    if not changed and (current.reasons == verdict.reasons or current.pk is None and not verdict.reasons):
        return  # nothing to write (a green unit needs no row)
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


def recompute_units(units: set[tuple[str, int]], now: datetime | None = None, community_of=None) -> int:
    """``community_of``: the grids' communities where the caller knows them (the worker
    reads them in the facts), so they are not read again."""
    return _recompute(units, now or timezone.now(), _rules_in_force(), _category_ids(), community_of)


def _recompute(units: set[tuple[str, int]], now: datetime, rules, categories, community_of=None) -> int:
    """The colours of these grids and communities: one read of the facts per community
    (it and its grids from the same rows), one of their stored colours, and writes only
    where a colour or its reasons changed."""
    rules = rules if rules is not None else thresholds()
    categories = categories or _category_ids()
    community_of = dict(community_of or {})
    grids = [unit_id for kind, unit_id in units if kind == UnitKind.GRID and unit_id not in community_of]
    if grids:
        community_of.update(Grid.objects.filter(pk__in=grids).values_list("pk", "community_id"))
    by_community: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for kind, unit_id in sorted(units):
        community_id = unit_id if kind == UnitKind.COMMUNITY else community_of.get(unit_id)
        if community_id is not None:
            by_community[community_id].append((kind, unit_id))
    stored = {(c.unit_kind, c.unit_id): c for c in _stored(units)}
    verdicts = {}
    for community_id, members in by_community.items():
        rows = community_rows(community_id, now)
        for kind, unit_id in members:
            current = stored.get((kind, unit_id))
            known = {e["id"]: e["number"] for r in (current.reasons if current else []) for e in r["events"]}
            verdicts[kind, unit_id] = _verdict(_unit_rows(kind, unit_id, rows), now, rules, categories, known)
    _number(*verdicts.values())
    for (kind, unit_id), verdict in verdicts.items():
        _store(kind, unit_id, verdict, stored.get((kind, unit_id)), now)
    return len(units)


def _stored(units: set[tuple[str, int]]) -> list[UnitColour]:
    q = Q(pk__in=[])
    for kind in (UnitKind.GRID, UnitKind.COMMUNITY):
        ids = [unit_id for k, unit_id in units if k == kind]
        if ids:
            q |= Q(unit_kind=kind, unit_id__in=ids)
    return list(UnitColour.objects.filter(q))


def recompute_all(now: datetime | None = None) -> int:
    units = {(UnitKind.GRID, pk) for pk in Grid.objects.values_list("pk", flat=True)}
    units |= {(UnitKind.COMMUNITY, pk) for pk in Community.objects.values_list("pk", flat=True)}
    return recompute_units(units, now)
