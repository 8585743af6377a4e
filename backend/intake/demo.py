"""Demo intake: the two source systems (with known demo secrets, for the simulator),
alert types and rules, a camera per grid, monitored households on the demo address
library, and a week of readings and alerts made through the real intake paths."""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Role, RoleAssignment, User
from backend.addresses.models import AddressAlias, AliasSource
from backend.events.models import Category
from backend.intake.households import household_register
from backend.intake.models import (
    AlertState,
    AlertType,
    Camera,
    Household,
    HouseholdKind,
    PowerReading,
    PowerRule,
    RuleKind,
    SourceKind,
    SourceSystem,
    VideoAlert,
)
from backend.intake.power import rules_evaluate
from backend.intake.signing import secret_digest
from backend.intake.video import video_alerts_take
from backend.patrols.models import KeySubject, SubjectKind
from backend.territory.models import Grid

# Known secrets for the demo only (seed_demo refuses production): the simulator's defaults.
DEMO_SOURCES = {
    "demo-video": ("演示视频智能分析平台", SourceKind.VIDEO, "demo-video-secret-change-me", "intake_video"),
    "demo-power": ("演示电力公司", SourceKind.POWER, "demo-power-secret-change-me", "intake_power"),
}
ALERT_TYPES = [
    ("garbage", "暴露垃圾", "06.01", 0.6, 30),
    ("outside_business", "出店经营", "06.03", 0.65, 60),
    ("street_vendor", "占道经营（流动摊贩）", "06.02", 0.65, 60),
    ("illegal_parking", "违法停车", "07.01", 0.7, 20),
]
RULES = [
    ("elder_near_zero", "独居老人：24 小时用电接近零", HouseholdKind.ELDER_ALONE, RuleKind.NEAR_ZERO, {}),
    ("elder_pattern_break", "独居老人：用电偏离日常规律", HouseholdKind.ELDER_ALONE, RuleKind.PATTERN_BREAK, {}),
    ("rental_above_baseline", "出租房：连续多日用电远高于基线", HouseholdKind.RENTAL, RuleKind.ABOVE_BASELINE, {}),
]


def _account(username: str, name: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, display_name=name)
        user.set_unusable_password()  # an integration's account: never signs in
        user.save()
    RoleAssignment.objects.get_or_create(user=user, role=Role.ADMIN)
    return user


def seed_intake_config() -> dict[str, SourceSystem]:
    sources = {}
    for key_id, (name, kind, secret, username) in DEMO_SOURCES.items():
        source, _ = SourceSystem.objects.get_or_create(
            key_id=key_id,
            defaults={"name": name, "kind": kind, "secret_hash": secret_digest(secret), "requests_per_minute": 6000},
        )
        if source.account_id is None:
            source.account = _account(username, name)
            source.save(update_fields=["account"])
        sources[kind] = source
    categories = {c.code: c for c in Category.objects.filter(code__in=[t[2] for t in ALERT_TYPES])}
    for code, name, category, threshold, minutes in ALERT_TYPES:
        AlertType.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "category": categories[category],
                "threshold": threshold,
                "suppress_minutes": minutes,
            },
        )
    for code, name, household_kind, kind, params in RULES:
        PowerRule.objects.get_or_create(
            code=code, defaults={"name": name, "household_kind": household_kind, "kind": kind, "params": params}
        )
    return sources


def _inside(rng: random.Random, values: list[float]) -> float:
    low, high = min(values), max(values)
    return rng.uniform(low + 0.2 * (high - low), high - 0.2 * (high - low))


def seed_cameras(source: SourceSystem, *, seed: int = 11) -> int:
    if Camera.objects.filter(source=source).exists():
        return 0
    rng = random.Random(seed)
    cameras = []
    for number, grid in enumerate(Grid.objects.order_by("code").only("pk", "code", "name", "polygon"), start=1):
        ring = grid.polygon["coordinates"][0] if isinstance(grid.polygon, dict) else None
        if not ring:
            continue
        lngs, lats = [p[0] for p in ring], [p[1] for p in ring]
        cameras.append(
            Camera(
                source=source,
                code=f"CH{number:05d}",
                name=f"{grid.name}路口球机",
                lat=_inside(rng, lats),
                lng=_inside(rng, lngs),
                grid=grid,
            )
        )
    Camera.objects.bulk_create(cameras)
    return len(cameras)


def seed_households(source: SourceSystem, *, elders: int = 30, rentals: int = 60, seed: int = 13) -> int:
    if Household.objects.filter(source=source).exists():
        return 0
    rng = random.Random(seed)
    aliases = list(
        AddressAlias.objects.filter(source=AliasSource.POWER)
        .order_by("pk")
        .values_list("text", flat=True)[: (elders + rentals) * 3]
    )
    rng.shuffle(aliases)
    made = 0
    for number, text in enumerate(aliases[: elders + rentals]):
        elder = number < elders
        household = household_register(
            source=source,
            meter_no=f"33{number:010d}",
            kind=HouseholdKind.ELDER_ALONE if elder else HouseholdKind.RENTAL,
            meter_address=text,
            baseline_kwh_day=None if elder else round(rng.uniform(4, 9), 1),
        )
        if elder:
            household.subject = KeySubject.objects.create(
                grid_id=household.grid_id,
                kind=SubjectKind.PERSON,
                name=f"{rng.choice('王李张刘陈杨黄赵吴周')}{rng.choice(['阿婆', '老伯', '奶奶', '爷爷'])}",
                address_text=str(household.unit),
                visit_every_days=7,
                note="独居老人",
            )
            household.save(update_fields=["subject"])
        made += 1
    return made


def elder_hour_kwh(rng: random.Random, hour: int) -> float:
    """An elder's hourly use: a fridge all day, cooking and lights morning and evening."""
    base = 0.06
    if 6 <= hour < 9 or 17 <= hour < 21:
        base += 0.35
    elif 9 <= hour < 17:
        base += 0.12
    return round(base * rng.uniform(0.8, 1.2), 3)


def rental_hour_kwh(rng: random.Random, hour: int, baseline_day: float, crowded: bool) -> float:
    share = (0.7 if 0 <= hour < 7 else 1.2) / 24
    return round(baseline_day * share * (4.5 if crowded else 1.0) * rng.uniform(0.8, 1.2), 3)


def seed_readings(*, days: int = 7, seed: int = 17, with_events: bool = True) -> int:
    """A week of hourly readings; one elder's use stops for the last day and (with
    events) one rental flat runs at four times its baseline for the last three days, so
    each rule has fired once in the demo (through ``rules_evaluate``, as a live batch
    would)."""
    if PowerReading.objects.exists():
        return 0
    rng = random.Random(seed)
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    households = list(Household.objects.order_by("pk"))
    quiet_elder = next((h for h in households if h.kind == HouseholdKind.ELDER_ALONE), None)
    crowded = next((h for h in households if h.kind == HouseholdKind.RENTAL), None) if with_events else None
    rows = []
    for household in households:
        hour = start
        while hour < end:
            hour += timedelta(hours=1)
            local = timezone.localtime(hour).hour
            if household.kind == HouseholdKind.ELDER_ALONE:
                kwh = (
                    0.005
                    if household is quiet_elder and end - hour < timedelta(hours=24)
                    else elder_hour_kwh(rng, local)
                )
            else:
                hot = household is crowded and end - hour < timedelta(days=3)
                kwh = rental_hour_kwh(rng, local, household.baseline_kwh_day or 6.0, hot)
            rows.append(PowerReading(household=household, hour=hour, kwh=kwh))
    PowerReading.objects.bulk_create(rows, batch_size=5000)
    rules_evaluate(latest={h.pk: end for h in households}, now=end)
    return len(rows)


def seed_video_alerts(
    source: SourceSystem, *, days: int = 7, count: int = 300, seed: int = 19, with_events: bool = True
) -> int:
    """A week of camera alerts through the real intake (thresholds, suppression), a
    share of them reviewed by the demo street's dispatcher: dismissed, and (with events)
    confirmed into events."""
    if VideoAlert.objects.filter(source=source).exists():
        return 0
    from backend.accounts.actor import Actor
    from backend.intake.video import video_alert_confirm, video_alert_dismiss

    rng = random.Random(seed)
    cameras = list(Camera.objects.filter(source=source).order_by("pk").values_list("code", flat=True))
    if not cameras:
        return 0
    hot = cameras[:40]  # some cameras see most of it
    types = [t[0] for t in ALERT_TYPES]
    now = timezone.now()
    items = []
    for number in range(count):
        at = now - timedelta(seconds=rng.uniform(0, days * 86400))
        items.append(
            {
                "id": f"demo-{number:06d}",
                "camera": rng.choice(hot),
                "type": rng.choice(types),
                "confidence": round(rng.uniform(0.45, 0.99), 2),
                "at": at.isoformat(),
            }
        )
        if rng.random() < 0.3:  # the same scene seen again a few minutes later
            items.append({**items[-1], "id": f"demo-{number:06d}-r", "at": (at + timedelta(minutes=5)).isoformat()})
    video_alerts_take(source=source, items=items, now=now)
    dispatcher = User.objects.filter(username="demo_dispatcher").first()
    if dispatcher is not None:
        street_ids = set(RoleAssignment.objects.filter(user=dispatcher).values_list("street_id", flat=True))
        open_alerts = list(
            VideoAlert.objects.filter(
                source=source, state=AlertState.OPEN, camera__grid__community__street_id__in=street_ids
            ).select_related("camera", "type__category")[:30]
        )
        for number, alert in enumerate(open_alerts):
            with transaction.atomic():
                if number % 3 == 2 or not with_events:
                    video_alert_dismiss(alert=alert, actor=Actor(user=dispatcher), note="演示：误报")
                else:
                    video_alert_confirm(alert=alert, actor=Actor(user=dispatcher))
    return len(items)


def seed_intake(*, with_events: bool) -> dict[str, int]:
    """``with_events``: the demo has an event history (``seed_demo --events``), so the
    intake's own events join it (confirmed alerts, the 群租 suspicion); without one, the
    event table stays as the other demos and the tests expect it: empty."""
    sources = seed_intake_config()
    return {
        "cameras": seed_cameras(sources[SourceKind.VIDEO]),
        "households": seed_households(sources[SourceKind.POWER]),
        "readings": seed_readings(with_events=with_events),
        "video_items": seed_video_alerts(sources[SourceKind.VIDEO], with_events=with_events),
    }
