"""The electricity rules judged over a batch's meters as plain tuples: the evaluators
of ``backend.intake.power`` (``_near_zero``, ``_pattern_break``, ``_above_baseline``)
with each window summed inline rather than through ``Hours.window`` and a ``Meter``
per household and rule: about a thousand households a batch, most judged by three
or more windows, cost a sixth of a batch's Python that way (docs/intake.md, "Speed").

Each window is summed in the same order as ``Hours.window`` (oldest first), so the
totals, and with them every verdict, are the same floats; a window with a missing
hour (NaN) is summed again by ``Hours.window`` itself. ``tests/test_rules.py`` holds
the verdicts and the households cleared equal to the plain evaluators' over states
with gaps, short states and values at the thresholds.

A meter is ``(household_id, baseline_kwh_day, last, hours)``: its latest hour in the
batch and its ``Hours``. Each function answers what fired, with the figures its
verdict shows, and the households whose rule no longer fires."""

from __future__ import annotations


def near_zero(params: dict, meters: list[tuple]) -> tuple[list[tuple], set[int]]:
    """Fired: ``(meter, total)``."""
    hours = int(params["hours"])
    limit = params["max_kwh"]
    fired, cleared = [], set()
    for meter in meters:
        state = meter[3]
        start = state.offset(meter[2])
        part = state.values[start : start + hours]
        total = sum(part[::-1])
        if total != total or len(part) < hours:  # a missing hour: no verdict
            continue
        if total <= limit:
            fired.append((meter, total))
        else:
            cleared.add(meter[0])
    return fired, cleared


def pattern_break(params: dict, meters: list[tuple]) -> tuple[list[tuple], set[int]]:
    """Fired: ``(meter, now_kwh, mean, usual_days, sums)``, ``sums`` each day's
    ``(total, count)`` from the latest (as ``Hours.window`` gives them)."""
    hours, days = int(params["hours"]), int(params["days"])
    min_days, max_ratio, min_usual = params["min_days"], params["max_ratio"], params["min_usual_kwh"]
    fired, cleared = [], set()
    for meter in meters:
        state = meter[3]
        values = state.values
        start = state.offset(meter[2])
        sums = []
        for at in range(start, start + 24 * days + 1, 24):
            part = values[at : at + hours]
            total = sum(part[::-1])
            sums.append((total, len(part)) if total == total else state.window(at, hours))
        if sums[0][1] < hours:
            continue
        usual = [total or 0.0 for total, count in sums[1:] if count >= hours]
        if len(usual) < min_days:
            continue
        mean = sum(usual) / len(usual)
        now_kwh = sums[0][0] or 0.0
        if mean >= min_usual and now_kwh <= max_ratio * mean:
            fired.append((meter, now_kwh, mean, len(usual), sums))
        else:
            cleared.add(meter[0])
    return fired, cleared


def above_baseline(params: dict, meters: list[tuple]) -> tuple[list[tuple], set[int]]:
    """Fired: ``(meter, daily)``, each complete day's use from the latest."""
    days, factor = int(params["days"]), float(params["factor"])
    span = 24 * days
    fired, cleared = [], set()
    for meter in meters:
        baseline = meter[1]
        if not baseline or baseline <= 0:
            continue
        state = meter[3]
        start = state.offset(meter[2])
        # The days' hours oldest first: day k (0 the latest) is the slice from 24 × (days-1-k).
        hours = state.values[start : start + span][::-1]
        if len(hours) < span:
            continue
        daily = [sum(hours[span - 24 - 24 * k : span - 24 * k]) for k in range(days)]
        if any(total != total for total in daily):  # a missing hour: no verdict
            continue
        limit = factor * baseline
        if all(total > limit for total in daily):
            fired.append((meter, daily))
        else:
            cleared.add(meter[0])
    return fired, cleared
