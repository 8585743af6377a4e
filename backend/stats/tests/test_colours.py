"""Five-colour warnings: rules, reasons with their events, configurable thresholds,
history kept, and the street's dispatchers told of a change."""

from __future__ import annotations

from django.contrib.admin.models import LogEntry

from backend.accounts.models import Role, RoleAssignment
from backend.stats.colours import colour_for, verdict_of
from backend.stats.models import ColourChange, UnitColour
from backend.stats.services import stats_tick
from backend.territory.models import Community, Grid
from conftest import PERSONAS
from push.models import Notification
from tests import matrix_registry
from tests.events_helpers import GRID_A, report

# test_it_shows_colours_only_within_scope; the rules' writes: the colour test below.
matrix_registry.cover(
    "/api/v1/stats/colours", "/api/v1/stats/colours/{unit}/{unit_id}/history", "/api/v1/stats/colour-rules"
)


def test_it_takes_the_worst_colour_a_rule_reaches():
    steps = {"yellow": 1, "orange": 3, "red": 5}
    assert [colour_for(n, steps) for n in (0, 1, 3, 4, 5, 9)] == [None, "yellow", "orange", "orange", "red", "red"]


def test_it_colours_a_grid_tells_the_dispatchers_and_keeps_the_history(as_persona, persona_user):
    worker, dispatcher = as_persona("demo_grid_worker"), as_persona("demo_dispatcher")
    grid = Grid.objects.get(code=GRID_A)
    stats_tick()  # whatever the session's data left, settled first
    before = UnitColour.objects.filter(unit_kind="grid", unit_id=grid.pk).values_list("colour", flat=True).first()

    # Two welfare checks (独居老人关怀, severity 严重) left open: severe 2 and welfare 2 → orange.
    ids = [report(worker, category="02.01", source="grid_patrol").json()["id"] for _ in range(2)]
    stats_tick()
    colour = UnitColour.objects.get(unit_kind="grid", unit_id=grid.pk)
    assert colour.colour == "orange"
    reasons = {r["rule"]: r for r in colour.reasons}
    assert reasons["severe"]["count"] == 2 and reasons["welfare"]["colour"] == "orange"
    assert sorted(e["id"] for e in reasons["welfare"]["events"]) == sorted(ids)
    assert all(e["number"].startswith("SC") for e in reasons["welfare"]["events"])
    community = UnitColour.objects.get(unit_kind="community", unit_id=grid.community_id)
    assert community.colour in ("orange", "red")

    change = ColourChange.objects.filter(unit_kind="grid", unit_id=grid.pk).latest("changed_at")
    assert change.colour == "orange" and change.previous == (before or "green")
    told = Notification.objects.filter(user=persona_user("demo_dispatcher"), kind="colour_change")
    assert told.filter(data__unit__id=grid.pk, data__colour="orange").exists()
    assert not Notification.objects.filter(user=persona_user("demo_grid_worker"), kind="colour_change").exists()

    listed = dispatcher.get("/stats/colours", {"unit": "grid", "community_id": grid.community_id}).json()
    mine = next(row for row in listed if row["unit"]["id"] == grid.pk)
    assert mine["colour"] == "orange" and mine["colour_label"] == "橙" and mine["reasons"]
    history = dispatcher.get(f"/stats/colours/grid/{grid.pk}/history").json()
    assert history[0]["colour"] == "orange"

    # The district lowers the red threshold of the severe rule: red now, recorded and audited.
    commander = as_persona("demo_commander")
    assert (
        dispatcher.post("/stats/colour-rules", {"rule": "severe", "colour": "red", "threshold": 2}).status_code == 403
    )
    changed = commander.post("/stats/colour-rules", {"rule": "severe", "colour": "red", "threshold": 2})
    assert changed.status_code == 200, changed.content
    assert commander.get("/stats/colour-rules").json()["severe"]["thresholds"]["red"] == 2
    assert LogEntry.objects.filter(change_message__contains="五色预警规则").exists()
    assert verdict_of("grid", grid.pk).colour == "red"


def test_it_counts_repeated_tips_at_one_address_within_30_days(as_persona):
    resident = as_persona("demo_resident")
    grid = Grid.objects.get(code=GRID_A)
    for _ in range(2):
        report(resident, address_text="清波街12号")
    stats_tick()
    reasons = {r["rule"]: r for r in verdict_of("grid", grid.pk).reasons}
    assert reasons["repeated_tips"]["count"] >= 1 and len(reasons["repeated_tips"]["events"]) >= 2


def test_it_shows_colours_only_within_scope(as_persona):
    grid = Grid.objects.get(code=GRID_A)
    other = Grid.objects.exclude(community__street_id=grid.community.street_id).first()
    secretary = as_persona("demo_secretary")
    listed = {row["unit"]["id"] for row in secretary.get("/stats/colours", {"unit": "grid"}).json()}
    assert grid.pk in listed and other.pk not in listed
    assert secretary.get(f"/stats/colours/grid/{other.pk}/history").status_code == 403
    assert as_persona("demo_resident").get("/stats/colours").status_code == 403
    assert as_persona("demo_resident").get("/stats/colour-rules").status_code == 403


def test_the_colour_list_the_history_and_the_kpis_agree_on_who_sees_a_unit(as_persona, persona_user):
    """One rule (``q_viewable``): a unit is listed exactly when its history and its figures
    may be read, for every persona (a handler sees their platform, not its street's grids)."""
    street_id = Grid.objects.get(code=GRID_A).community.street_id
    candidates = {
        "grid": [
            *Grid.objects.filter(community__street_id=street_id).values_list("pk", flat=True),
            *Grid.objects.exclude(community__street_id=street_id).values_list("pk", flat=True)[:3],
        ],
        "community": [
            *Community.objects.filter(street_id=street_id).values_list("pk", flat=True),
            *Community.objects.exclude(street_id=street_id).values_list("pk", flat=True)[:3],
        ],
    }
    worker = persona_user("demo_grid_worker")
    worker_grids = set(RoleAssignment.objects.filter(user=worker, role=Role.GRID_WORKER).values_list("grid", flat=True))
    seen = {}
    for persona in (*PERSONAS, "demo_unit_handler", "demo_department_handler"):
        client = as_persona(persona)
        for unit, ids in candidates.items():
            answer = client.get("/stats/colours", {"unit": unit})
            listed = {row["unit"]["id"] for row in answer.json()} if answer.status_code == 200 else set()
            assert answer.status_code == (403 if persona == "demo_resident" else 200), persona
            seen[persona, unit] = listed
            for unit_id in ids:
                expected = 200 if unit_id in listed else 403
                history = client.get(f"/stats/colours/{unit}/{unit_id}/history")
                assert history.status_code == expected, (persona, unit, unit_id)
                figures = client.get("/stats/kpis", {"unit": unit, "unit_id": unit_id, "period": "day"})
                assert figures.status_code == expected, (persona, unit, unit_id)
        sees_worker = bool(worker_grids & seen[persona, "grid"]) or persona == "demo_grid_worker"
        figures = client.get("/stats/kpis", {"unit": "grid_worker", "unit_id": worker.pk, "period": "day"})
        assert figures.status_code == (200 if sees_worker else 403), persona
    # As docs/kpis.md's table says: a handler sees no grid or community, a grid worker their grid only.
    for persona in ("demo_handler", "demo_unit_handler", "demo_department_handler"):
        assert not seen[persona, "grid"] and not seen[persona, "community"], persona
    assert seen["demo_grid_worker", "grid"] == worker_grids and not seen["demo_grid_worker", "community"]
    assert len(seen["demo_dispatcher", "grid"]) == len(candidates["grid"]) - 3


def test_a_grid_and_its_community_are_recomputed_from_one_read_of_the_facts(as_persona):
    """What a step adds to the worker (``colour_recompute_ms``): the stored colours and one
    read of the community's facts serve both units (the rules are kept in the process, the
    grid's community comes with the facts); nothing is written when nothing changed, and the
    colours equal each unit's own verdict. Without the community, or with the rules just
    changed, a statement more each."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from backend.stats.colours import recompute_units

    worker = as_persona("demo_grid_worker")
    grid = Grid.objects.get(code=GRID_A)
    report(worker, category="02.01", source="grid_patrol")
    stats_tick()
    units = {("grid", grid.pk), ("community", grid.community_id)}
    with CaptureQueriesContext(connection) as queries:
        recompute_units(units, community_of={grid.pk: grid.community_id})
    facts = [q for q in queries.captured_queries if "stats_eventfact" in q["sql"]]
    assert len(facts) == 1 and len(queries) == 2, [q["sql"][:80] for q in queries.captured_queries]
    commander = as_persona("demo_commander")
    assert commander.post("/stats/colour-rules", {"rule": "severe", "colour": "red", "threshold": 4}).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        recompute_units(units)
    assert len(queries) == 4 and "stats_colourrule" in queries.captured_queries[0]["sql"]
    for kind, unit_id in units:
        stored = UnitColour.objects.get(unit_kind=kind, unit_id=unit_id)
        verdict = verdict_of(kind, unit_id)
        assert (stored.colour, stored.reasons) == (verdict.colour, verdict.reasons)


def test_the_colours_read_only_open_events_a_rule_counts_and_judge_as_over_every_row(as_persona):
    """``community_rows`` leaves out open events no rule counts (most of a busy community's):
    the verdicts over its rows equal the verdicts over every fact of the community."""
    from django.utils import timezone

    from backend.stats.colours import ROW_COLUMNS, _category_ids, _unit_rows, _verdict, community_rows, thresholds
    from backend.stats.models import EventFact

    worker = as_persona("demo_grid_worker")
    grid = Grid.objects.get(code=GRID_A)
    plain = report(worker, category="04.01", source="grid_patrol", severity="normal").json()["id"]
    severe = report(worker, category="04.01", source="grid_patrol", severity="high").json()["id"]
    stats_tick()
    now, categories, rules = timezone.now(), _category_ids(), thresholds()
    read = community_rows(grid.community_id, now)
    every = list(EventFact.objects.filter(community_id=grid.community_id).values_list(*ROW_COLUMNS))
    ids = {str(row[0]) for row in read}
    assert severe in ids and plain not in ids and plain in {str(row[0]) for row in every}
    for kind, unit_id in (("grid", grid.pk), ("community", grid.community_id)):
        narrowed = _verdict(_unit_rows(kind, unit_id, read), now, rules, categories, {})
        whole = _verdict(_unit_rows(kind, unit_id, every), now, rules, categories, {})
        assert narrowed == whole and narrowed.reasons
