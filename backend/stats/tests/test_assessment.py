"""Assessment: a scheme with weights, ratings by streets, communities and departments
through the API, the street's veto, and results with each score's parts."""

from __future__ import annotations

import csv
import io

from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.utils import timezone

from backend.events.deadlines import SHANGHAI
from backend.stats.assessment import DEFAULT_WEIGHTS, _weighted, grade_of
from backend.stats.models import EventFact
from backend.territory.models import Community, Department, Grid, Platform, PlatformKind
from tests import matrix_registry
from tests.events_helpers import GRID_A, report

matrix_registry.cover(
    "/api/v1/stats/schemes", "/api/v1/stats/schemes/{scheme_id}/ratings", "/api/v1/stats/schemes/{scheme_id}/results"
)


def _scheme(commander):
    today = timezone.now().astimezone(SHANGHAI).date()
    made = commander.post(
        "/stats/schemes",
        {"name": "本月考核", "start": today.replace(day=1).isoformat(), "end": today.isoformat(), "weights": {}},
    )
    assert made.status_code == 201, made.content
    return made.json()


def test_it_scores_from_weighted_parts_leaving_out_parts_without_a_value():
    weights = DEFAULT_WEIGHTS
    parts = {"timeliness": 100.0, "quality": 80.0, "satisfaction": None, "rating": 90.0}
    assert _weighted(parts, weights) == round((100 * 20 + 80 * 15 + 90 * 40) / 75, 2)
    assert [grade_of(s) for s in (95, 85, 60, 59.9)] == ["excellent", "good", "pass", "fail"]


def test_it_refuses_weights_that_do_not_add_up(as_persona):
    commander = as_persona("demo_commander")
    bad = commander.post(
        "/stats/schemes", {"name": "x", "start": "2026-11-01", "end": "2026-11-30", "weights": {"rating": 90}}
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_weights"
    assert (
        as_persona("demo_dispatcher")
        .post("/stats/schemes", {"name": "x", "start": "2026-11-01", "end": "2026-11-30"})
        .status_code
        == 403
    )


def test_it_applies_the_streets_veto_to_a_stationed_unit(as_persona, persona_user):
    commander, dispatcher = as_persona("demo_commander"), as_persona("demo_dispatcher")
    scheme = _scheme(commander)
    grid = Grid.objects.get(code=GRID_A)
    street_id = grid.community.street_id
    department = Department.objects.get(code="police")
    rate = f"/stats/schemes/{scheme['id']}/ratings"
    street_rating = {
        "rater_kind": "street",
        "target": "stationed",
        "street_id": street_id,
        "department_id": department.pk,
        "score": 85,
        "grade": "good",
    }
    assert dispatcher.post(rate, street_rating).status_code == 200
    # A secretary may not rate a stationed unit as the street.
    assert as_persona("demo_secretary").post(rate, street_rating).status_code == 403
    # The department may not rate it excellent: its street did not.
    from backend.accounts.models import Role, RoleAssignment

    handler = persona_user("demo_handler")
    RoleAssignment.objects.create(user=handler, role=Role.HANDLER, department=department)
    from backend.accounts.scope import invalidate_scope_of

    invalidate_scope_of(handler.pk)
    own = {**street_rating, "rater_kind": "department", "score": 95, "grade": "excellent"}
    vetoed = as_persona("demo_handler").post(rate, own)
    assert vetoed.status_code == 422 and vetoed.json()["code"] == "veto_street_not_excellent"
    assert LogEntry.objects.filter(change_message__startswith="考核评分").exists()

    results = commander.get(f"/stats/schemes/{scheme['id']}/results", {"target": "stationed"}).json()
    mine = next(r for r in results if r["target"]["department"] == "police" and r["target"]["street_id"] == street_id)
    assert mine["parts"]["rating"] == 85 and mine["street_grade"] == "good"
    assert mine["grade"] != "excellent"

    # Once the street rates it excellent, the department may.
    assert dispatcher.post(rate, {**street_rating, "score": 96, "grade": "excellent"}).status_code == 200
    assert as_persona("demo_handler").post(rate, own).status_code == 200
    results = commander.get(f"/stats/schemes/{scheme['id']}/results", {"target": "stationed"}).json()
    mine = next(r for r in results if r["target"]["department"] == "police" and r["target"]["street_id"] == street_id)
    assert mine["grade"] == "excellent" and not mine["veto"]


def test_it_rates_platforms_by_their_communities_and_assesses_grid_workers(as_persona, persona_user):
    commander, secretary = as_persona("demo_commander"), as_persona("demo_secretary")
    scheme = _scheme(commander)
    community = Community.objects.get(code=GRID_A[:12])
    platform = Platform.objects.get(street_id=community.street_id, kind=PlatformKind.GOVERNANCE)
    rated = secretary.post(
        f"/stats/schemes/{scheme['id']}/ratings",
        {
            "rater_kind": "community",
            "target": "platform",
            "street_id": community.street_id,
            "platform_id": platform.pk,
            "score": 70,
            "grade": "pass",
        },
    )
    assert rated.status_code == 200, rated.content
    rows = commander.get(f"/stats/schemes/{scheme['id']}/results", {"target": "platform"}).json()
    mine = next(r for r in rows if r["target"]["platform_id"] == platform.pk)
    assert mine["parts"]["rating"] == 70 and mine["community_ratings"] == 1

    worker = persona_user("demo_grid_worker")
    for _ in range(2):
        report(as_persona("demo_grid_worker"), source="grid_patrol")
    call_command("rebuild_stats", stdout=io.StringIO())
    assert EventFact.objects.filter(reporter_id=worker.pk).count() >= 2
    rows = commander.get(f"/stats/schemes/{scheme['id']}/results", {"target": "grid_worker"}).json()
    mine = next(r for r in rows if r["target"]["user_id"] == worker.pk)
    assert mine["events_found"] >= 2
    assert mine["parts"]["found"] == min(100.0, round(100 * mine["events_found"] / DEFAULT_WEIGHTS["found_target"], 2))

    exported = commander.get(f"/stats/schemes/{scheme['id']}/results", {"target": "grid_worker", "format": "csv"})
    table = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(table) == len(rows) and "part_found" in table[0]
    assert as_persona("demo_dispatcher").get(f"/stats/schemes/{scheme['id']}/results").status_code == 403
    assert as_persona("demo_resident").get("/stats/schemes").status_code == 403
    assert [s["id"] for s in as_persona("demo_dispatcher").get("/stats/schemes").json()].count(scheme["id"]) == 1
