"""The answer of ``GET /stats/kpis``: a unit's figures over a period, with its time
series and its breakdown by child unit when asked (docs/kpis.md)."""

from __future__ import annotations

from django.db.models import Q

from backend.events.models import Category
from backend.stats.exports import flatten
from backend.stats.periods import Period, steps_of
from backend.stats.selectors import (
    category_q,
    empty_figures,
    figures_by,
    figures_of,
    rollup_q,
    series_of,
    unit_q,
)
from backend.stats.units import Unit, children_of


def kpi_report(
    *,
    unit: Unit,
    period: Period,
    category: Category | None = None,
    series: str = "none",
    breakdown: bool = False,
    breakdown_by: str | None = None,
) -> dict:
    base: Q = unit_q(unit.kind, unit.id, unit) & category_q(category)
    rollup = rollup_q(unit.kind, unit.id, category)
    answer = {
        "unit": unit.as_dict(),
        "category": None if category is None else {"code": category.code, "name": category.name},
        "period": period.as_dict(),
        "figures": figures_of(base, period, rollup),
        "series": [],
        "breakdown": [],
    }
    points = steps_of(period, series)
    answer["series"] = [
        {"start": point.start.isoformat(), "end": point.end.isoformat(), "figures": figures}
        for point, figures in zip(points, series_of(base, period, points, rollup))
    ]
    if breakdown or breakdown_by:
        children = children_of(unit, breakdown_by)
        grouped = figures_by(base, period, f"{children[0].kind}_id", rollup) if children else {}
        answer["breakdown"] = [
            {"unit": child.as_dict(), "figures": grouped.get(child.id) or empty_figures()} for child in children
        ]
    return answer


def kpi_table(answer: dict) -> tuple[list[str], list[list]]:
    """One row for the unit, one per series point, one per child unit."""
    columns = list(flatten(answer["figures"]))
    header = ["单位类型 kind", "单位编码 code", "单位 unit", "开始 start", "结束 end", *columns]
    unit, period = answer["unit"], answer["period"]

    def row(of: dict, start: str, end: str, figures: dict) -> list:
        flat = flatten(figures)
        return [of["kind"], of["code"], of["name"], start, end, *(flat[c] for c in columns)]

    rows = [row(unit, period["start"], period["end"], answer["figures"])]
    rows += [row(unit, p["start"], p["end"], p["figures"]) for p in answer["series"]]
    rows += [row(b["unit"], period["start"], period["end"], b["figures"]) for b in answer["breakdown"]]
    return header, rows
