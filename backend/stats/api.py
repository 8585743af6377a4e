"""/api/v1/stats: KPIs, five-colour warnings, assessment schemes, ratings and results."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status

from backend.accounts.models import Role
from backend.accounts.scope import scope_of
from backend.core.audit import audit_change
from backend.core.db_router import reads_may_lag
from backend.core.errors import ApiError
from backend.core.limits import BIGINT_MAX, RowId
from backend.core.schemas import ErrorOut
from backend.events.models import Category
from backend.stats import assessment
from backend.stats.exports import flatten, table_response
from backend.stats.kpis import kpi_report, kpi_table
from backend.stats.models import Colour, ColourChange, ColourRule, Grade, RaterKind, RatingTarget, Scheme, UnitColour
from backend.stats.periods import period_of
from backend.stats.units import access_unit, q_viewable

router = Router(tags=["stats"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
Format = Literal["json", "csv", "xlsx"]


class KpiParams(Schema):
    unit: str = "district"
    unit_id: int | None = Field(None, ge=1, le=BIGINT_MAX)
    category: str | None = Field(None, max_length=16)
    period: str = "month"
    date: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    series: str = "none"
    breakdown: bool = False
    breakdown_by: Literal["street", "community", "grid"] | None = None
    format: Format = "json"


@router.get("/kpis", response={200: dict[str, Any], **ERRORS}, summary="统计指标 KPIs of a unit over a period")
@reads_may_lag
def kpis(request: HttpRequest, params: Query[KpiParams]):
    unit = access_unit(request.auth, params.unit, params.unit_id)
    category = None
    if params.category:
        category = Category.objects.filter(code=params.category).first()
        if category is None:
            raise ApiError("unknown_category")
    period = period_of(params.period, params.date, params.start, params.end)
    answer = kpi_report(
        unit=unit,
        period=period,
        category=category,
        series=params.series,
        breakdown=params.breakdown,
        breakdown_by=params.breakdown_by,
    )
    if params.format != "json":
        header, rows = kpi_table(answer)
        return table_response(header, rows, params.format, f"kpis-{unit.kind}-{period.start}-{period.end}")
    return answer


class ColourParams(Schema):
    unit: Literal["grid", "community"] = "grid"
    street_id: int | None = Field(None, ge=1, le=BIGINT_MAX)
    community_id: int | None = Field(None, ge=1, le=BIGINT_MAX)


def _colour_rows(user, params: ColourParams):
    from backend.territory.models import Community, Grid

    scope = scope_of(user)
    if not scope.is_staff_role:
        raise ApiError("stats_forbidden")
    if params.unit == "grid":
        units = Grid.objects.filter(q_viewable(scope, "grid"))
        if params.street_id:
            units = units.filter(community__street_id=params.street_id)
        if params.community_id:
            units = units.filter(community_id=params.community_id)
    else:
        units = Community.objects.filter(q_viewable(scope, "community"))
        if params.street_id:
            units = units.filter(street_id=params.street_id)
        if params.community_id:
            units = units.filter(pk=params.community_id)
    return {row.pk: row for row in units.order_by("code")}


@router.get(
    "/colours", response={200: list[dict[str, Any]], **ERRORS}, summary="五色预警 Colours of grids or communities"
)
@reads_may_lag
def colours(request: HttpRequest, params: Query[ColourParams]):
    units = _colour_rows(request.auth, params)
    current = {c.unit_id: c for c in UnitColour.objects.filter(unit_kind=params.unit, unit_id__in=list(units))}
    answer = []
    for unit_id, unit in units.items():
        colour = current.get(unit_id)
        value = colour.colour if colour else Colour.GREEN
        answer.append(
            {
                "unit": {"kind": params.unit, "id": unit_id, "code": unit.code, "name": unit.name},
                "colour": value,
                "colour_label": Colour(value).label,
                "since": colour.since if colour else None,
                "reasons": colour.reasons if colour else [],
            }
        )
    return answer


@router.get(
    "/colours/{unit}/{unit_id}/history",
    response={200: list[dict[str, Any]], **ERRORS},
    summary="五色预警历史 A unit's colour history",
)
def colour_history(request: HttpRequest, unit: Literal["grid", "community"], unit_id: Path[RowId]):
    access_unit(request.auth, unit, unit_id)
    rows = ColourChange.objects.filter(unit_kind=unit, unit_id=unit_id).order_by("-changed_at", "-pk")[:200]
    return [
        {"colour": r.colour, "previous": r.previous, "changed_at": r.changed_at, "reasons": r.reasons} for r in rows
    ]


class RuleIn(Schema):
    rule: str = Field(max_length=24)
    colour: Literal["red", "orange", "yellow", "blue", "green"]
    threshold: int = Field(ge=1, le=100_000)
    enabled: bool = True


def _require_district(user) -> None:
    scope = scope_of(user)
    if not (scope.district_wide and scope.has(Role.COMMANDER, Role.ADMIN)) and not user.is_superuser:
        raise ApiError("forbidden")


@router.get("/colour-rules", response={200: dict[str, Any], **ERRORS}, summary="五色预警规则 Rules in force")
def colour_rules(request: HttpRequest):
    from backend.stats.colours import DEFAULT_RULES, thresholds

    if not scope_of(request.auth).is_staff_role:
        raise ApiError("stats_forbidden")
    return {
        rule: {"label": DEFAULT_RULES.get(rule, (rule,))[0], "thresholds": steps}
        for rule, steps in thresholds().items()
    }


@router.post("/colour-rules", response={200: dict[str, Any], **ERRORS}, summary="设置预警规则 Set one threshold")
def colour_rule_set(request: HttpRequest, body: RuleIn):
    from backend.stats.colours import DEFAULT_RULES

    _require_district(request.auth)
    if body.rule not in DEFAULT_RULES:
        raise ApiError("validation_error", detail={"rule": f"one of {', '.join(DEFAULT_RULES)}"})
    if not ColourRule.objects.filter(rule=body.rule).exists():  # start from the defaults
        ColourRule.objects.bulk_create(
            ColourRule(rule=body.rule, colour=c, threshold=t) for c, t in DEFAULT_RULES[body.rule][2].items()
        )
    rule, _ = ColourRule.objects.update_or_create(
        rule=body.rule, colour=body.colour, defaults={"threshold": body.threshold, "enabled": body.enabled}
    )
    audit_change(request.auth, rule, "change", f"五色预警规则 {rule}", threshold=rule.threshold, enabled=rule.enabled)
    return {"rule": rule.rule, "colour": rule.colour, "threshold": rule.threshold, "enabled": rule.enabled}


class SchemeIn(Schema):
    name: str = Field(min_length=1, max_length=64)
    start: dt.date
    end: dt.date
    weights: dict[str, Annotated[int, Field(ge=0, le=1000)]] = Field(default_factory=dict)


def _scheme_out(scheme: Scheme) -> dict:
    return {
        "id": scheme.pk,
        "name": scheme.name,
        "start": scheme.start.isoformat(),
        "end": scheme.end.isoformat(),
        "weights": scheme.weights,
    }


@router.post("/schemes", response={201: dict[str, Any], **ERRORS}, summary="新建考核方案 New assessment scheme")
def scheme_new(request: HttpRequest, body: SchemeIn):
    _require_district(request.auth)
    scheme = assessment.scheme_create(
        user=request.auth, name=body.name, start=body.start, end=body.end, weights=body.weights
    )
    return Status(201, _scheme_out(scheme))


@router.get("/schemes", response={200: list[dict[str, Any]], **ERRORS}, summary="考核方案 Assessment schemes")
def scheme_list(request: HttpRequest):
    if not scope_of(request.auth).is_staff_role:
        raise ApiError("stats_forbidden")
    return [_scheme_out(s) for s in Scheme.objects.all()[:200]]


def _scheme(scheme_id: int) -> Scheme:
    scheme = Scheme.objects.filter(pk=scheme_id).first()
    if scheme is None:
        raise ApiError("not_found")
    return scheme


class RatingIn(Schema):
    rater_kind: Literal["street", "community", "department"]
    target: Literal["stationed", "platform"]
    street_id: int = Field(ge=1, le=BIGINT_MAX)
    department_id: int | None = Field(None, ge=1, le=BIGINT_MAX)
    platform_id: int | None = Field(None, ge=1, le=BIGINT_MAX)
    score: int = Field(ge=0, le=100)
    grade: Literal["excellent", "good", "pass", "fail"]


@router.post(
    "/schemes/{scheme_id}/ratings", response={200: dict[str, Any], **ERRORS}, summary="考核评分 Enter a rating"
)
def rating_new(request: HttpRequest, scheme_id: Path[RowId], body: RatingIn):
    scheme = _scheme(scheme_id)
    rater_id = assessment.rater_of(
        request.auth, body.rater_kind, body.target, body.street_id, body.department_id, body.platform_id
    )
    rating = assessment.rating_enter(
        user=request.auth,
        scheme=scheme,
        rater_kind=body.rater_kind,
        rater_id=rater_id,
        target=body.target,
        street_id=body.street_id,
        department_id=body.department_id if body.target == RatingTarget.STATIONED else None,
        platform_id=body.platform_id if body.target == RatingTarget.PLATFORM else None,
        score=body.score,
        grade=body.grade,
    )
    audit_change(request.auth, scheme, "change", "考核评分", rating=rating.pk, score=rating.score, grade=rating.grade)
    return {
        "id": rating.pk,
        "rater_kind": RaterKind(rating.rater_kind).value,
        "rater_id": rating.rater_id,
        "score": rating.score,
        "grade": Grade(rating.grade).value,
    }


class ResultParams(Schema):
    target: Literal["stationed", "platform", "grid_worker"] = "stationed"
    format: Format = "json"


@router.get("/schemes/{scheme_id}/results", response={200: list[dict[str, Any]], **ERRORS}, summary="考核结果 Results")
def results(request: HttpRequest, scheme_id: Path[RowId], params: Query[ResultParams]):
    scope = scope_of(request.auth)
    if not scope.district_wide:
        raise ApiError("stats_forbidden")
    scheme = _scheme(scheme_id)
    rows = assessment.RESULTS[params.target](scheme)
    if params.format == "json":
        return rows
    flat = [
        {
            **flatten(r["target"] | {}),
            **{f"part_{k}": v for k, v in r["parts"].items()},
            **{k: v for k, v in r.items() if k not in ("target", "parts")},
        }
        for r in rows
    ]
    header = list(flat[0]) if flat else ["target"]
    return table_response(
        header, [[row.get(h) for h in header] for row in flat], params.format, f"assessment-{scheme.pk}-{params.target}"
    )
