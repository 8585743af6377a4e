"""``backend.fastpath.rules``: the tuned evaluators a batch judges by give the plain
evaluators' verdicts (the same summaries, windows and daily figures) and clear the
same households, over states with gaps, short states, anchors behind the latest
hour and totals at each threshold."""

from __future__ import annotations

import math
import random
from array import array
from datetime import UTC, datetime

import pytest

from backend.intake.meters import HOUR, Hours, params_of, span_of
from backend.intake.models import HouseholdKind, PowerRule, RuleKind
from backend.intake.power import EVALUATORS, Meter, judge

LAST = datetime(2026, 12, 1, 16, tzinfo=UTC)
PARAMS = {
    RuleKind.NEAR_ZERO: [{}, {"hours": 6, "max_kwh": 0.06}],
    RuleKind.PATTERN_BREAK: [{}, {"hours": 3, "days": 4, "min_days": 2}],
    RuleKind.ABOVE_BASELINE: [{}, {"days": 1, "factor": 2.5}],
}
# Hourly values that land on the default thresholds: 24 × 0.0125 = 0.3 (near zero),
# 24 × 0.75 = 18 = 3 × a baseline of 6 (above baseline), 0.2 × a mean of 0.6.
LEVELS = [0.0, 0.0125, 0.02, 0.1, 0.2, 0.25, 0.35, 0.6, 0.75, 0.76, 1.5, 3.0]


def state(rng: random.Random, span: int) -> Hours:
    length = rng.choice([span - 30, span - 1, span, span + 24, span + 40])
    level = rng.choice(LEVELS)
    values = array("d")
    for _ in range(max(length, 1)):
        if rng.random() < 0.03:
            values.append(math.nan)  # a missing hour
        elif rng.random() < 0.15:
            values.append(rng.choice(LEVELS))
        else:
            values.append(level)
    if rng.random() < 0.2:  # a quiet spell lately
        for index in range(min(rng.randrange(1, 30), len(values))):
            values[index] = rng.choice([0.0, 0.0125, 0.02])
    return Hours(LAST, values)


@pytest.mark.parametrize("kind", list(RuleKind))
def test_the_tuned_evaluators_give_the_plain_evaluators_verdicts(kind):
    rng = random.Random(f"rules-{kind}")
    household_kind = HouseholdKind.RENTAL if kind == RuleKind.ABOVE_BASELINE else HouseholdKind.ELDER_ALONE
    fired = cleared = 0
    for params in PARAMS[kind]:
        rule = PowerRule(code="r", name="规则", household_kind=household_kind, kind=kind, params=params)
        span = span_of(rule)
        meters = []
        for pk in range(1, 1500):
            baseline = rng.choice([None, 0.0, 6.0, 6.0, 2.0])
            anchor = LAST - rng.choice([0, 0, 0, 1, 5]) * HOUR  # a late reading judges an earlier hour
            meters.append((pk, baseline, anchor, state(rng, span)))
        plain = EVALUATORS[kind](rule, [Meter(pk, household_kind, b, anchor, hours) for pk, b, anchor, hours in meters])
        tuned = judge(rule, meters)
        assert tuned == plain, params_of(rule)
        fired += len(plain[0])
        cleared += len(plain[1])
    assert fired > 50 and cleared > 50  # both ways were judged, not only skipped
