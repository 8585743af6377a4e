"""Electricity: each rule firing and not firing on synthetic readings; the alert names
its rule and shows its readings; the welfare visit and the group-rental event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backend.accounts.models import Role, RoleAssignment, User
from backend.care.models import DueReason, Priority, VisitDue
from backend.core.errors import ApiError
from backend.events.models import Event
from backend.fastpath import intake as statements
from backend.intake.households import household_register
from backend.intake.meters import HOUR, SLACK_HOURS, Hours, spans_of, states_rebuild
from backend.intake.models import Household, HouseholdKind, PowerAlert, PowerReading, PowerRule, SourceSystem
from backend.intake.power import readings_take
from backend.intake.tests.helpers import signed_post
from push.models import PUSHED_KINDS, Notification, NotificationKind

NOW = timezone.now().replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def power(db):
    source = SourceSystem.objects.get(key_id="demo-power")
    elder = Household.objects.filter(source=source, kind=HouseholdKind.ELDER_ALONE, alerts__isnull=True).first()
    rental = Household.objects.filter(source=source, kind=HouseholdKind.RENTAL, alerts__isnull=True).first()
    PowerReading.objects.filter(household__in=[elder, rental]).delete()
    states_rebuild([elder.pk, rental.pk])  # readings removed around the intake: its running state follows
    return source, elder, rental


def feed(source, household, hourly, *, end=NOW, prefix="r"):
    """``hourly(hours_before_end) -> kWh`` for the 8 days up to ``end``, in batches of 1,000."""
    items = [
        {
            "id": f"{prefix}-{household.pk}-{h}",
            "meter": household.meter_no,
            "hour": (end - timedelta(hours=h)).isoformat(),
            "kwh": hourly(h),
        }
        for h in range(8 * 24 - 1, -1, -1)
    ]
    for start in range(0, len(items), 1000):
        readings_take(source=source, items=items[start : start + 1000], now=end)


def usual(h: int) -> float:
    """A steady elder: about 7 kWh a day, a little more in the daytime."""
    hour = (NOW - timedelta(hours=h)).hour
    return 0.35 if 6 <= hour < 21 else 0.2


def alerts_of(household) -> dict[str, PowerAlert]:
    return {a.rule.code: a for a in PowerAlert.objects.filter(household=household, open=True).select_related("rule")}


def test_an_elder_with_the_usual_pattern_raises_nothing(power):
    source, elder, _ = power
    feed(source, elder, usual)
    assert alerts_of(elder) == {}


def test_near_zero_for_a_day_raises_a_high_priority_welfare_visit_pushed_to_the_grid_worker(power):
    source, elder, _ = power
    worker = User.objects.get(username="demo_grid_worker_b")
    RoleAssignment.objects.get_or_create(user=worker, role=Role.GRID_WORKER, grid_id=elder.grid_id)
    feed(source, elder, lambda h: 0.005 if h < 24 else usual(h))
    alerts = alerts_of(elder)
    assert set(alerts) == {"elder_near_zero", "elder_pattern_break"}
    near = alerts["elder_near_zero"]
    assert "24 小时" in near.summary and near.rule.name in near.summary
    assert len(near.readings["hours"]) == 24 and all(kwh == 0.005 for _, kwh in near.readings["hours"])
    due = near.due
    assert due.reason == DueReason.WELFARE and due.priority == Priority.HIGH and due.subject == elder.subject
    assert alerts["elder_pattern_break"].due == due  # one welfare visit, not two
    told = Notification.objects.filter(kind=NotificationKind.WELFARE_CHECK, data__due_id=due.pk)
    assert told.exists()
    assert set(told.values_list("user__username", flat=True)) == {"demo_grid_worker_b"}
    # Pushed kinds wake the phone through FCM (the outbox holds a send per registered token).
    assert NotificationKind.WELFARE_CHECK in PUSHED_KINDS
    # Fed again (the same readings): the alert stays open, nothing new is raised.
    feed(source, elder, lambda h: 0.005 if h < 24 else usual(h), prefix="again")
    assert PowerAlert.objects.filter(household=elder).count() == 2
    assert VisitDue.objects.filter(subject=elder.subject, reason=DueReason.WELFARE).count() == 1


def test_a_break_from_the_usual_pattern_fires_alone_and_a_gap_is_no_verdict(power):
    source, elder, _ = power
    feed(source, elder, lambda h: 0.01 if h < 6 else usual(h))  # the last 6 hours are quiet
    alerts = alerts_of(elder)
    assert set(alerts) == {"elder_pattern_break"}
    assert len(alerts["elder_pattern_break"].readings["hours"]) == 6
    assert len(alerts["elder_pattern_break"].readings["days"]) == 8
    # Use resumes: the alert closes.
    readings_take(
        source=source,
        items=[{"id": "back", "meter": elder.meter_no, "hour": (NOW + timedelta(hours=1)).isoformat(), "kwh": 2.0}],
        now=NOW + timedelta(hours=1),
    )
    assert alerts_of(elder) == {}


def test_missing_hours_are_not_zero_use(power):
    source, elder, _ = power
    items = [
        {"id": f"g-{h}", "meter": elder.meter_no, "hour": (NOW - timedelta(hours=h)).isoformat(), "kwh": 0.0}
        for h in range(0, 30, 2)  # every other hour only
    ]
    readings_take(source=source, items=items, now=NOW)
    assert alerts_of(elder) == {}


def test_a_rental_flat_far_above_baseline_for_days_raises_a_suspected_group_rental_event(power):
    source, _, rental = power
    baseline = rental.baseline_kwh_day
    feed(source, rental, lambda h: baseline / 24 * (4 if h < 48 else 1))  # two days high: not yet
    assert alerts_of(rental) == {}
    feed(source, rental, lambda h: baseline / 24 * (4 if h < 72 else 1), prefix="b")  # three days
    alert = alerts_of(rental)["rental_above_baseline"]
    assert len(alert.readings["days"]) == 3 and len(alert.readings["hours"]) == 72
    event = Event.objects.get(pk=alert.event_id)
    assert event.source == "power_alert" and event.category.code == "03.02" and event.grid_id == rental.grid_id
    assert event.state == "reported" and "群租" in event.description


def test_readings_are_answered_item_by_item_over_the_signed_route(power):
    source, elder, _ = power
    from backend.intake.signing import secret_digest

    SourceSystem.objects.filter(pk=source.pk).update(secret_hash=secret_digest("test-secret-0123456789"))
    source.refresh_from_db()
    body = {
        "items": [
            {"id": "1", "meter": elder.meter_no, "hour": NOW.isoformat(), "kwh": 0.4},
            {"id": "2", "meter": elder.meter_no, "hour": NOW.isoformat(), "kwh": 0.5},  # replaces 1
            {"id": "3", "meter": "no-such-meter", "hour": NOW.isoformat(), "kwh": 0.4},
            {"id": "4", "meter": elder.meter_no, "hour": NOW.replace(minute=30).isoformat(), "kwh": 0.4},
            {"id": "5", "meter": elder.meter_no, "hour": (NOW + timedelta(days=1)).isoformat(), "kwh": 0.4},
            {"id": "6", "meter": elder.meter_no, "hour": NOW.isoformat(), "kwh": -1},
        ]
    }
    answer = signed_post(source, "/intake/power-readings", body)
    assert answer.status_code == 200, answer.content
    assert [row["status"] for row in answer.json()["items"]] == ["stored", "stored"] + ["rejected"] * 4
    assert PowerReading.objects.get(household=elder, hour=NOW).kwh == 0.5


def test_a_meter_is_linked_through_its_power_alias_or_refused(power):
    source, elder, _ = power
    again = household_register(
        source=source, meter_no=elder.meter_no, kind=elder.kind, meter_address=elder.meter_address
    )
    assert again.pk == elder.pk and again.unit_id == elder.unit_id and again.grid_id == elder.unit.building.grid_id
    with pytest.raises(ApiError) as refused:
        household_register(source=source, meter_no="x", kind=HouseholdKind.OTHER, meter_address="火星路1号")
    assert refused.value.code == "meter_address_unknown"


def test_each_households_state_is_as_long_as_its_kinds_rules_look_back(power):
    source, elder, rental = power
    feed(source, elder, usual)
    feed(source, rental, lambda h: 0.25)
    spans = spans_of(PowerRule.objects.filter(active=True))
    assert spans[HouseholdKind.ELDER_ALONE] > spans[HouseholdKind.RENTAL]  # 8 days and 6 hours; 3 days
    lengths = {pk: len(packed) // 8 for pk, (_, packed) in statements.states_read([elder.pk, rental.pk]).items()}
    assert lengths == {elder.pk: spans["elder_alone"] + SLACK_HOURS, rental.pk: spans["rental"] + SLACK_HOURS}
    # A rental flat registered again as an elder's home: its state too short, built again.
    Household.objects.filter(pk=rental.pk).update(kind=HouseholdKind.ELDER_ALONE)
    readings_take(
        source=source,
        items=[{"id": "again", "meter": rental.meter_no, "hour": (NOW + HOUR).isoformat(), "kwh": 0.3}],
        now=NOW + HOUR,
    )
    _, packed = statements.states_read([rental.pk])[rental.pk]
    hours = Hours.unpack(NOW + HOUR, packed)
    assert len(hours.values) == spans["elder_alone"] + SLACK_HOURS
    assert hours.values[0] == 0.3 and hours.values[1] == 0.25 and hours.window(0, 8 * 24)[1] == 8 * 24
