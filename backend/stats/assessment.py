"""Assessment (条块结合考核): a scheme per period with weights, ratings entered by streets,
communities and departments, and results with each score's parts (docs/kpis.md).

Targets: a department's unit stationed at a street (派驻机构, the pair department ×
street: events its department held in that street), a street's platforms (四平台), and
grid workers. The seed's veto: a stationed unit its street did not rate excellent
cannot be excellent, whatever its own department says."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Count, Q

from backend.accounts.models import Role, RoleAssignment
from backend.core.errors import ApiError, register
from backend.stats.models import Grade, RaterKind, Rating, RatingTarget, Scheme
from backend.stats.periods import MAX_RANGE_DAYS, Period, check_days
from backend.stats.selectors import figures_by
from backend.territory.models import Community, Department, Platform, Street

# Percentages. The seed raises the weight of the street's, the community's and the
# residents' ratings: together they weigh 65 of 100 for a unit.
DEFAULT_WEIGHTS = {
    "timeliness": 20,
    "quality": 15,
    "satisfaction": 25,
    "rating": 40,
    "found": 30,
    "visits": 30,
    "on_time": 40,
    "found_target": 20,
    "visits_target": 20,
}
UNIT_PARTS = ("timeliness", "quality", "satisfaction", "rating")
WORKER_PARTS = ("found", "visits", "on_time")
GRADE_FLOOR = [(90, Grade.EXCELLENT), (80, Grade.GOOD), (60, Grade.PASS), (0, Grade.FAIL)]

register(
    "veto_street_not_excellent",
    422,
    "街道未评为优秀的派驻机构，部门不能评为优秀",
    "The street did not rate this stationed unit excellent: its department cannot",
)
register("invalid_weights", 422, "考核权重无效", "Invalid weights")
register("rating_not_allowed", 403, "无权对该对象评分", "You may not rate this unit")


def grade_of(score: float) -> str:
    return next(grade for floor, grade in GRADE_FLOOR if score >= floor)


def check_weights(weights: dict) -> dict:
    merged = {**DEFAULT_WEIGHTS, **weights}
    bad = [k for k, v in merged.items() if k not in DEFAULT_WEIGHTS or not isinstance(v, int) or not 0 <= v <= 1000]
    if bad or sum(merged[p] for p in UNIT_PARTS) != 100 or sum(merged[p] for p in WORKER_PARTS) != 100:
        raise ApiError(
            "invalid_weights",
            detail={"weights": "unit parts and grid-worker parts must each add up to 100", "bad": bad},
        )
    return merged


def scheme_create(*, user, name: str, start: date, end: date, weights: dict) -> Scheme:
    from backend.core.audit import audit_change

    check_days(start, end)
    if end < start or (end - start).days >= MAX_RANGE_DAYS:
        raise ApiError("invalid_period", detail={"end": f"not before start, at most {MAX_RANGE_DAYS} days after"})
    scheme = Scheme.objects.create(name=name, start=start, end=end, weights=check_weights(weights), created_by=user)
    audit_change(user, scheme, "add", f"新建考核方案 {name}", weights=scheme.weights)
    return scheme


def rating_enter(
    *,
    user,
    scheme: Scheme,
    rater_kind: str,
    rater_id: int,
    target: str,
    street_id: int,
    department_id: int | None,
    platform_id: int | None,
    score: int,
    grade: str,
) -> Rating:
    """A rating, replacing the rater's earlier one of the same target."""
    if target == RatingTarget.STATIONED and rater_kind == RaterKind.DEPARTMENT and grade == Grade.EXCELLENT:
        street = Rating.objects.filter(
            scheme=scheme, target=target, rater_kind=RaterKind.STREET, street_id=street_id, department_id=department_id
        ).first()
        if street is None or street.grade != Grade.EXCELLENT:
            raise ApiError("veto_street_not_excellent")
    rating, _ = Rating.objects.update_or_create(
        scheme=scheme,
        rater_kind=rater_kind,
        rater_id=rater_id,
        target=target,
        street_id=street_id,
        department_id=department_id,
        platform_id=platform_id,
        defaults={"score": score, "grade": grade, "rated_by": user},
    )
    return rating


def _weighted(parts: dict, weights: dict) -> float | None:
    """Parts without a value (no events due, no rating) are left out and the other
    weights scaled up to 100."""
    present = {k: v for k, v in parts.items() if v is not None}
    total_weight = sum(weights[k] for k in present)
    if not total_weight:
        return None
    return round(sum(v * weights[k] for k, v in present.items()) / total_weight, 2)


def _unit_parts(figures: dict, rating: float | None) -> dict:
    rework, returns = figures["rework_rate"], figures["return_rate"]
    quality = None if rework is None else round(100 * (1 - min(1.0, rework + (returns or 0))), 2)
    return {
        "timeliness": None if figures["on_time_rate"] is None else round(100 * figures["on_time_rate"], 2),
        "quality": quality,
        "satisfaction": None if figures["satisfaction_rate"] is None else round(100 * figures["satisfaction_rate"], 2),
        "rating": rating,
    }


def results_stationed(scheme: Scheme) -> list[dict]:
    period = Period("range", scheme.start, scheme.end)
    weights = scheme.weights
    ratings = {
        (r.rater_kind, r.department_id, r.street_id): r
        for r in Rating.objects.filter(scheme=scheme, target=RatingTarget.STATIONED)
    }
    results = []
    departments = {d.pk: d for d in Department.objects.all()}
    streets = {s.pk: s for s in Street.objects.all()}
    for department_id, department in departments.items():
        by_street = figures_by(Q(department_id=department_id), period, "street_id")
        street_ids = set(by_street) | {s for (k, d, s) in ratings if d == department_id}
        for street_id in sorted(street_ids):
            if street_id not in streets:
                continue
            street_rating = ratings.get((RaterKind.STREET, department_id, street_id))
            own = ratings.get((RaterKind.DEPARTMENT, department_id, street_id))
            figures = by_street.get(street_id)
            parts = (
                _unit_parts(figures, street_rating.score if street_rating else None)
                if figures
                else {
                    "timeliness": None,
                    "quality": None,
                    "satisfaction": None,
                    "rating": street_rating.score if street_rating else None,
                }
            )
            score = _weighted(parts, weights)
            grade = own.grade if own else (grade_of(score) if score is not None else None)
            veto = grade == Grade.EXCELLENT and (street_rating is None or street_rating.grade != Grade.EXCELLENT)
            if veto:
                grade = Grade.GOOD
            results.append(
                {
                    "target": {
                        "kind": "stationed",
                        "department": department.code,
                        "department_name": department.name,
                        "street_id": street_id,
                        "street_name": streets[street_id].name,
                    },
                    "parts": parts,
                    "score": score,
                    "grade": grade,
                    "street_grade": street_rating.grade if street_rating else None,
                    "department_grade": own.grade if own else None,
                    "veto": veto,
                }
            )
    return results


def results_platforms(scheme: Scheme) -> list[dict]:
    period = Period("range", scheme.start, scheme.end)
    by_platform = figures_by(Q(platform_id__isnull=False), period, "platform_id")
    community_scores: dict[int, list[int]] = {}
    for rating in Rating.objects.filter(scheme=scheme, target=RatingTarget.PLATFORM, rater_kind=RaterKind.COMMUNITY):
        community_scores.setdefault(rating.platform_id, []).append(rating.score)
    results = []
    for platform in Platform.objects.select_related("street").order_by("street__code", "kind"):
        scores = community_scores.get(platform.pk, [])
        rating = round(sum(scores) / len(scores), 2) if scores else None
        figures = by_platform.get(platform.pk)
        parts = (
            _unit_parts(figures, rating)
            if figures
            else {"timeliness": None, "quality": None, "satisfaction": None, "rating": rating}
        )
        score = _weighted(parts, scheme.weights)
        results.append(
            {
                "target": {
                    "kind": "platform",
                    "platform_id": platform.pk,
                    "name": str(platform),
                    "street_id": platform.street_id,
                },
                "parts": parts,
                "community_ratings": len(scores),
                "score": score,
                "grade": grade_of(score) if score is not None else None,
                "veto": False,
            }
        )
    return results


def results_grid_workers(scheme: Scheme) -> list[dict]:
    from backend.patrols.models import Visit
    from backend.stats.facts import day_start

    period = Period("range", scheme.start, scheme.end)
    weights = scheme.weights
    workers = (
        RoleAssignment.objects.filter(role=Role.GRID_WORKER)
        .select_related("user", "grid")
        .order_by("grid__code", "user_id")
    )
    found = dict(_count_by("reporter_id", period))
    held = figures_by(Q(holder_user_id__isnull=False), period, "holder_user_id")
    begin, end = day_start(scheme.start), day_start(scheme.end + timedelta(days=1))
    visits = dict(
        Visit.objects.filter(visited_at__gte=begin, visited_at__lt=end)
        .values("user_id")
        .annotate(n=Count("pk"))
        .values_list("user_id", "n")
    )
    results = []
    seen = set()
    for assignment in workers:
        user_id = assignment.user_id
        if user_id in seen:
            continue
        seen.add(user_id)
        on_time = held.get(user_id, {}).get("on_time_rate")
        parts = {
            "found": round(min(100.0, 100 * found.get(user_id, 0) / max(1, weights["found_target"])), 2),
            "visits": round(min(100.0, 100 * visits.get(user_id, 0) / max(1, weights["visits_target"])), 2),
            "on_time": None if on_time is None else round(100 * on_time, 2),
        }
        score = _weighted(parts, weights)
        results.append(
            {
                "target": {
                    "kind": "grid_worker",
                    "user_id": user_id,
                    "name": str(assignment.user),
                    "grid": assignment.grid.code if assignment.grid else "",
                },
                "events_found": found.get(user_id, 0),
                "visits_done": visits.get(user_id, 0),
                "parts": parts,
                "score": score,
                "grade": grade_of(score) if score is not None else None,
                "veto": False,
            }
        )
    return results


def _count_by(column: str, period: Period):
    from backend.stats.models import EventFact

    return (
        EventFact.objects.filter(
            reported_day__gte=period.start, reported_day__lte=period.end, **{f"{column}__isnull": False}
        )
        .values(column)
        .annotate(n=Count("pk"))
        .values_list(column, "n")
    )


RESULTS = {"stationed": results_stationed, "platform": results_platforms, "grid_worker": results_grid_workers}


def rater_of(user, rater_kind: str, target: str, street_id: int, department_id, platform_id) -> int:
    """The rater unit the user enters this rating for, or 403: a street's dispatcher
    rates departments stationed at the street; a community's secretary rates its
    street's platforms; a department's handler rates its own stationed units."""
    from backend.accounts.scope import scope_of

    scope = scope_of(user)
    if department_id and not Department.objects.filter(pk=department_id).exists():
        raise ApiError("unit_not_found")
    if rater_kind == RaterKind.STREET and target == RatingTarget.STATIONED and department_id:
        if scope.has(Role.DISPATCHER) and street_id in scope.street_ids:
            return street_id
    if (
        rater_kind == RaterKind.COMMUNITY
        and target == RatingTarget.PLATFORM
        and platform_id
        and scope.has(Role.SECRETARY)
    ):
        platform = Platform.objects.filter(pk=platform_id, street_id=street_id).first()
        if platform:
            community = Community.objects.filter(pk__in=scope.community_ids, street_id=street_id).first()
            if community:
                return community.pk
    if rater_kind == RaterKind.DEPARTMENT and target == RatingTarget.STATIONED and department_id:
        if scope.has(Role.HANDLER) and department_id in scope.department_ids:
            return department_id
    raise ApiError("rating_not_allowed")
