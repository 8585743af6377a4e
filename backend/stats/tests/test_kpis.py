"""KPIs computed by hand on a small fixed history (reopened, merged, parked, reworked
events), facts kept equal to a recomputation after a randomized history, periods,
scope (403) and the CSV/XLSX exports."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, timedelta

import pytest
from django.db.models import Q
from django.utils import timezone
from openpyxl import load_workbook

from backend.core.errors import ApiError
from backend.events.deadlines import SHANGHAI
from backend.events.models import Event
from backend.stats.facts import compute_facts, judged_deadline, working_seconds
from backend.stats.models import EventFact
from backend.stats.periods import period_of, steps_of
from backend.stats.services import stats_tick
from backend.territory.models import Grid
from tests import matrix_registry
from tests.events_helpers import GRID_A, evidence, governance_platform_id, report, step

matrix_registry.cover("/api/v1/stats/kpis")  # test_it_refuses_units_outside_the_users_scope


def _close(dispatcher, handler, secretary, event_id, *, rework=False):
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    step(handler, event_id, "sign")
    evidence(handler, event_id, before=1, after=1)
    assert step(handler, event_id, "handle", {"result_note": "已处置"}).status_code == 200
    if rework:
        assert step(secretary, event_id, "rework", {"reason": "未清理干净"}).status_code == 200
        step(handler, event_id, "handle", {"result_note": "已清理干净"})
    assert step(secretary, event_id, "approve").json()["state"] == "closed"


def test_it_computes_each_figure_as_written_in_the_docs(as_persona):
    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    handler, secretary = as_persona("demo_handler"), as_persona("demo_secretary")
    worker, commander = as_persona("demo_grid_worker"), as_persona("demo_commander")
    street_id = Grid.objects.get(code=GRID_A).community.street_id

    # 1: a tip closed, rated unsatisfied and reopened: not closed any more.
    reopened = report(resident).json()["id"]
    step(dispatcher, reopened, "accept")
    _close(dispatcher, handler, secretary, reopened)
    assert step(resident, reopened, "evaluate", {"satisfaction": "unsatisfied"}).status_code == 200
    assert step(dispatcher, reopened, "reopen").json()["state"] == "accepted"
    # 2: a patrol report merged into 1.
    merged = report(worker, source="grid_patrol").json()["id"]
    assert step(dispatcher, merged, "merge", {"into": reopened}).json()["state"] == "merged"
    # 3: a tip parked (挂账).
    parked = report(resident).json()["id"]
    step(dispatcher, parked, "accept")
    step(dispatcher, parked, "park", {"reason": "需区级统筹"})
    assert step(commander, parked, "park/approve").json()["state"] == "parked"
    # 4: a patrol report closed after one rework, rated satisfied by nobody (no reporter rating).
    reworked = report(worker, source="grid_patrol").json()["id"]
    step(dispatcher, reworked, "accept")
    _close(dispatcher, handler, secretary, reworked, rework=True)
    # 5: a tip rejected.
    rejected = report(resident).json()["id"]
    step(dispatcher, rejected, "reject", {"reason": "非本辖区事项"})

    stats_tick()
    today = timezone.now().astimezone(SHANGHAI).date()
    answer = dispatcher.get("/stats/kpis", {"unit": "street", "unit_id": street_id, "period": "day"})
    assert answer.status_code == 200, answer.content
    figures = answer.json()["figures"]
    assert answer.json()["period"] == {"kind": "day", "start": today.isoformat(), "end": today.isoformat()}
    assert figures["new"] == 5
    assert figures["new_by_source"]["public_tip"] == 3 and figures["new_by_source"]["grid_patrol"] == 2
    assert figures["tip_share"] == 0.6
    assert (figures["merged"], figures["rejected"], figures["valid"]) == (1, 1, 3)
    assert figures["closed"] == 1 and figures["closed_of_new"] == 1  # 4 only: 1 was reopened
    assert figures["completion_rate"] == round(1 / 3, 4)
    assert figures["parked"] == 1
    assert figures["dispatched"] == 2 and figures["reworked"] == 1 and figures["rework_rate"] == 0.5
    assert figures["returned"] == 0 and figures["return_rate"] == 0.0
    assert figures["evaluated"] == 0 and figures["satisfaction_rate"] is None
    # Due today: the deadlines falling today. 06.01 has one working day: dispatched before the
    # working day begins (early on a Shanghai morning) it is due that evening, else a later day.
    due_today = EventFact.objects.filter(event_id__in=[reopened, reworked], due_day=today)
    on_time = due_today.filter(on_time=True).count()
    assert figures["due"] == due_today.count()
    assert figures["on_time_rate"] == (round(on_time / due_today.count(), 4) if due_today else None)
    fact = EventFact.objects.get(event_id=reworked)
    event = Event.objects.get(pk=reworked)
    assert figures["close_hours"]["mean"] == figures["close_hours"]["p90"] == round(fact.close_s / 3600, 2)
    assert figures["close_hours"]["working_p90"] == round(fact.close_ws / 3600, 2)
    assert fact.close_s == int((event.closed_at - event.reported_at).total_seconds())
    assert fact.close_ws == working_seconds(event.reported_at, event.closed_at)

    # Over the month ahead the deadlines fall in: 4 was due and closed on time; 1 was
    # due too (its deadline stays) but is open again.
    ahead = dispatcher.get(
        "/stats/kpis",
        {
            "unit": "street",
            "unit_id": street_id,
            "period": "range",
            "start": today.isoformat(),
            "end": (today + timedelta(days=40)).isoformat(),
            "breakdown": "true",
        },
    ).json()
    assert ahead["figures"]["due"] == 2 and ahead["figures"]["due_closed"] == 1
    assert ahead["figures"]["due_on_time"] == 1 and ahead["figures"]["on_time_rate"] == 0.5
    community = next(b for b in ahead["breakdown"] if b["figures"]["new"])
    assert community["unit"]["kind"] == "community" and community["figures"]["new"] == 5

    # A category filter takes the 大类's 小类 (the demo reports are 06.01).
    by_group = dispatcher.get(
        "/stats/kpis", {"unit": "street", "unit_id": street_id, "period": "day", "category": "06"}
    )
    assert by_group.json()["figures"]["new"] == 5
    other = dispatcher.get("/stats/kpis", {"unit": "street", "unit_id": street_id, "period": "day", "category": "01"})
    assert other.json()["figures"]["new"] == 0


def test_it_judges_by_the_deadline_in_force_not_a_late_extension():
    at = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
    due = at + timedelta(days=2)
    history = [
        ("dispatch", at, {"deadline_at": due.isoformat()}),
        ("extension/approve", at + timedelta(days=1), {"until": (due + timedelta(days=3)).isoformat()}),
    ]
    assert judged_deadline(history) == due + timedelta(days=3)  # approved in time: moves it
    late = [
        history[0],
        ("extension/approve", due + timedelta(hours=1), {"until": (due + timedelta(days=5)).isoformat()}),
    ]
    assert judged_deadline(late) == due  # approved after the deadline: judged by the old one
    # A re-dispatch sets a new deadline.
    assert judged_deadline([*late, ("dispatch", due + timedelta(days=1), {"deadline_at": at.isoformat()})]) == at


def test_it_counts_working_time_in_the_working_calendar(db):  # the calendar is stored (backend.administration)
    monday = datetime(2026, 11, 2, 8, 0, tzinfo=SHANGHAI)
    # 08:00 → 18:00 on a working day: 08:30–12:00 and 13:30–17:30 = 7.5 h.
    assert working_seconds(monday, monday + timedelta(hours=10)) == 7.5 * 3600
    saturday = datetime(2026, 11, 7, 8, 0, tzinfo=SHANGHAI)
    assert working_seconds(saturday, saturday + timedelta(hours=10)) == 0


def test_it_takes_the_nearest_rank_90th_percentile():
    from backend.stats.selectors import p90

    assert p90([]) is None and p90([5]) == 5
    assert p90(list(range(1, 11))) == 9 and p90(list(range(1, 12))) == 10  # ceil(0.9 n)-th value


def test_it_cuts_periods_in_local_dates():
    day = date(2026, 11, 18)
    assert (period_of("week", day).start, period_of("week", day).end) == (date(2026, 11, 16), date(2026, 11, 22))
    assert (period_of("month", day).start, period_of("month", day).end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert (period_of("quarter", day).start, period_of("quarter", day).end) == (date(2026, 10, 1), date(2026, 12, 31))
    assert (period_of("year", day).start, period_of("year", day).end) == (date(2026, 1, 1), date(2026, 12, 31))


def test_a_range_and_a_series_stop_where_docs_kpis_md_says():
    start = date(2026, 1, 1)
    longest = period_of("range", start=start, end=start + timedelta(days=1097))  # 1,098 days, both counted
    assert (longest.end - longest.start).days + 1 == 1098
    with pytest.raises(ApiError):
        period_of("range", start=start, end=start + timedelta(days=1098))
    assert len(steps_of(period_of("range", start=start, end=start + timedelta(days=399)), "day")) == 400
    with pytest.raises(ApiError):
        steps_of(period_of("range", start=start, end=start + timedelta(days=400)), "day")
    with pytest.raises(ApiError):
        period_of("day", date(1999, 12, 31))


def test_it_keeps_the_facts_equal_to_a_recomputation_after_a_random_history(as_persona):
    rng = random.Random(20)
    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    handler, secretary = as_persona("demo_handler"), as_persona("demo_secretary")
    actors = {"dispatcher": dispatcher, "handler": handler, "secretary": secretary, "resident": resident}
    ids = [report(resident).json()["id"] for _ in range(6)]
    for _ in range(40):
        event_id = rng.choice(ids)
        name = rng.choice(list(actors))
        allowed = actors[name].get(f"/events/{event_id}").json().get("allowed_steps", [])
        simple = [
            s
            for s in allowed
            if s
            in ("accept", "sign", "urge", "approve", "reopen", "reject", "dispatch", "return", "evaluate", "rework")
        ]
        if not simple:
            continue
        chosen = rng.choice(simple)
        body = {
            "dispatch": {"platform_id": governance_platform_id()},
            "reject": {"reason": "重复"},
            "return": {"reason": "非本平台"},
            "rework": {"reason": "再处理"},
            "evaluate": {"satisfaction": rng.choice(["satisfied", "unsatisfied"])},
        }.get(chosen)
        step(actors[name], event_id, chosen, body)
        if rng.random() < 0.3:
            stats_tick()  # the worker runs now and then, as it would
    stats_tick()
    kept = {f.event_id: f for f in EventFact.objects.filter(event_id__in=ids)}
    fresh = {f.event_id: f for f in compute_facts(ids)}
    assert len(kept) == len(ids)
    fields = [f.attname for f in EventFact._meta.fields]
    for event_id, fact in fresh.items():
        assert [getattr(kept[event_id], n) for n in fields] == [getattr(fact, n) for n in fields]

    # The daily rollups the worker kept equal a recomputation from the facts, and a
    # district's or street's figures read from them equal those read from the facts.
    from backend.stats.models import ROLLUP_COLUMNS, DayRollup
    from backend.stats.rollups import _sums
    from backend.stats.selectors import figures_by, series_of

    kept_rollups = {(r.street_id, r.day): {c: getattr(r, c) for c in ROLLUP_COLUMNS} for r in DayRollup.objects.all()}
    assert kept_rollups and kept_rollups == dict(_sums(None, None))
    today = timezone.now().astimezone(SHANGHAI).date()
    period = period_of("range", None, today - timedelta(days=3), today + timedelta(days=40))
    points = steps_of(period, "week")
    assert series_of(Q(), period, points, rollup=Q()) == series_of(Q(), period, points)
    assert figures_by(Q(), period, "street_id", rollup=Q()) == figures_by(Q(), period, "street_id")

    # The percentiles (in the database on PostgreSQL) are the nearest-rank ones of the facts.
    from backend.stats.selectors import p90

    street_id = Grid.objects.get(code=GRID_A).community.street_id
    today = timezone.now().astimezone(SHANGHAI).date()
    closed = EventFact.objects.filter(street_id=street_id, closed_day=today)
    hours = dispatcher.get("/stats/kpis", {"unit": "street", "unit_id": street_id, "period": "day"}).json()
    for name in ("sign", "handle", "close"):
        values = [v for v in closed.values_list(f"{name}_s", flat=True) if v is not None]
        expected = None if not values else round(p90(values) / 3600, 2)
        assert hours["figures"][f"{name}_hours"]["p90"] == expected


def test_it_refuses_units_outside_the_users_scope(as_persona):
    secretary = as_persona("demo_secretary")
    grid = Grid.objects.get(code=GRID_A)
    other_street = Grid.objects.exclude(community__street_id=grid.community.street_id).first()
    assert secretary.get("/stats/kpis", {"unit": "grid", "unit_id": grid.pk}).status_code == 200
    refused = secretary.get("/stats/kpis", {"unit": "grid", "unit_id": other_street.pk})
    assert refused.status_code == 403 and refused.json()["code"] == "stats_forbidden"
    assert secretary.get("/stats/kpis", {"unit": "district"}).status_code == 403
    assert as_persona("demo_resident").get("/stats/kpis", {"unit": "grid", "unit_id": grid.pk}).status_code == 403
    assert as_persona("demo_commander").get("/stats/kpis", {"unit": "district"}).status_code == 200
    bad = as_persona("demo_commander").get("/stats/kpis", {"unit": "district", "period": "fortnight"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_period"
    for params in (
        {"period": "year", "date": "9999-12-31"},
        {"period": "range", "start": "2026-11-02", "end": "2026-11-01"},
        {"period": "range", "start": "2020-01-01", "end": "2026-01-01"},
        {"period": "year", "series": "fortnight"},
    ):
        refused = as_persona("demo_commander").get("/stats/kpis", {"unit": "district", **params})
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_period", params
    unknown = as_persona("demo_commander").get("/stats/kpis", {"unit": "grid", "unit_id": 2**62})
    assert unknown.status_code == 404 and unknown.json()["code"] == "unit_not_found"


def test_it_exports_the_figures_as_csv_and_xlsx(as_persona):
    commander = as_persona("demo_commander")
    report(as_persona("demo_resident"))
    stats_tick()
    params = {"unit": "district", "period": "day", "breakdown": "true"}
    as_json = commander.get("/stats/kpis", params).json()
    exported = commander.get("/stats/kpis", {**params, "format": "csv"})
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    header = rows[0]
    assert len(rows) == 1 + 1 + len(as_json["breakdown"])
    assert int(rows[1][header.index("new")]) == as_json["figures"]["new"] >= 1
    assert "sign_hours_p90" in header and "new_by_source_public_tip" in header
    grids = commander.get("/stats/kpis", {"unit": "district", "period": "day", "breakdown_by": "grid"}).json()
    assert len(grids["breakdown"]) == Grid.objects.count()
    assert sum(row["figures"]["new"] for row in grids["breakdown"]) == as_json["figures"]["new"]
    up = commander.get(
        "/stats/kpis", {"unit": "community", "unit_id": Grid.objects.first().community_id, "breakdown_by": "street"}
    )
    assert up.status_code == 422
    book = load_workbook(io.BytesIO(commander.get("/stats/kpis", {**params, "format": "xlsx"}).content))
    sheet = book.active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == header and values[1][header.index("new")] == as_json["figures"]["new"]


def test_a_breakdown_level_not_below_the_unit_answers_422_for_every_unit(as_persona):
    commander = as_persona("demo_commander")
    grid = Grid.objects.get(code=GRID_A)
    units = {
        "street": grid.community.street_id,
        "community": grid.community_id,
        "grid": grid.pk,
        "platform": governance_platform_id(),
    }
    below = {"street": ("community", "grid"), "community": ("grid",)}
    for unit, unit_id in units.items():
        for level in {"street", "community", "grid"} - set(below.get(unit, ())):
            refused = commander.get("/stats/kpis", {"unit": unit, "unit_id": unit_id, "breakdown_by": level})
            assert refused.status_code == 422 and refused.json()["code"] == "invalid_unit", (unit, level)
        # Without a level, a unit with no children has none.
        alone = commander.get("/stats/kpis", {"unit": unit, "unit_id": unit_id, "breakdown": "true"})
        assert alone.status_code == 200
        assert bool(alone.json()["breakdown"]) == (unit in ("street", "community")), unit


def test_the_worker_keeps_the_facts_and_stats_facts_off_skips_the_queue(as_persona, settings):
    from django.core.management import call_command

    from backend.stats.models import DirtyEvent

    event_id = report(as_persona("demo_resident")).json()["id"]
    assert DirtyEvent.objects.filter(event_id=event_id).exists()
    call_command("run_worker", once=True, stdout=io.StringIO())
    assert not DirtyEvent.objects.exists()
    assert EventFact.objects.get(event_id=event_id).state == "reported"

    settings.STATS_FACTS = False
    other = report(as_persona("demo_resident")).json()["id"]
    assert not DirtyEvent.objects.filter(event_id=other).exists()


def test_it_gives_a_time_series_whose_points_add_up(as_persona):
    commander = as_persona("demo_commander")
    report(as_persona("demo_resident"))
    stats_tick()
    answer = commander.get("/stats/kpis", {"unit": "district", "period": "month", "series": "day"}).json()
    start, end = date.fromisoformat(answer["period"]["start"]), date.fromisoformat(answer["period"]["end"])
    points = answer["series"]
    assert len(points) == (end - start).days + 1 and points[0]["start"] == start.isoformat()
    assert sum(p["figures"]["new"] for p in points) == answer["figures"]["new"] >= 1
    weeks = commander.get("/stats/kpis", {"unit": "district", "period": "month", "series": "week"}).json()["series"]
    assert weeks[0]["start"] == start.isoformat() and weeks[-1]["end"] == end.isoformat()
    assert sum(p["figures"]["closed"] for p in weeks) == answer["figures"]["closed"]


def test_an_extension_approved_after_the_deadline_does_not_save_it(as_persona):
    from unittest import mock

    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    handler, secretary = as_persona("demo_handler"), as_persona("demo_secretary")
    event_id = report(resident).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    step(handler, event_id, "sign")
    deadline = Event.objects.get(pk=event_id).deadline_at
    until = (deadline + timedelta(days=10)).isoformat()
    assert step(handler, event_id, "extension", {"until": until, "reason": "需协调"}).status_code == 200
    evidence(handler, event_id, before=1, after=1)
    with mock.patch("django.utils.timezone.now", return_value=deadline + timedelta(hours=1)):
        assert step(dispatcher, event_id, "extension/approve").status_code == 200
    with mock.patch("django.utils.timezone.now", return_value=deadline + timedelta(hours=2)):
        step(handler, event_id, "handle", {"result_note": "已处置"})
        assert step(secretary, event_id, "approve").json()["state"] == "closed"
    event = Event.objects.get(pk=event_id)
    assert event.deadline_at > event.closed_at  # the working deadline moved…
    stats_tick()
    fact = EventFact.objects.get(event_id=event_id)
    assert fact.due_day == deadline.astimezone(SHANGHAI).date() and not fact.on_time  # …the judged one did not
    day = fact.due_day.isoformat()
    figures = dispatcher.get(
        "/stats/kpis", {"unit": "grid", "unit_id": event.grid_id, "period": "range", "start": day, "end": day}
    ).json()["figures"]
    assert figures["due"] == figures["due_closed"] >= 1 and figures["due_on_time"] == figures["due"] - 1


def test_an_event_moved_to_another_grid_counts_only_there(as_persona):
    from sync.changes import changed

    commander = as_persona("demo_commander")
    event_id = report(as_persona("demo_resident")).json()["id"]
    stats_tick()
    event = Event.objects.get(pk=event_id)
    old_grid = event.grid_id
    target = Grid.objects.exclude(pk=old_grid).filter(community_id=event.community_id).first()

    def new_in(grid_id):
        answer = commander.get("/stats/kpis", {"unit": "grid", "unit_id": grid_id, "period": "day"})
        return answer.json()["figures"]["new"]

    before_old, before_new = new_in(old_grid), new_in(target.pk)
    # A correction of the event's grid (an admin's act: no step moves an event), written
    # the way every event write is, through the sync log.
    Event.objects.filter(pk=event_id).update(grid=target)
    changed([Event.objects.get(pk=event_id)])
    stats_tick()
    assert (new_in(old_grid), new_in(target.pk)) == (before_old - 1, before_new + 1)


def test_a_stationed_unit_is_its_department_at_its_street(as_persona):
    """An event held by a stationed unit (下沉单位) counts for the pair (department, street):
    the unit's KPIs, its department's, and the assessment's stationed target agree."""
    from backend.territory.models import Department, StationedUnit, Street

    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    unit_handler, commander = as_persona("demo_unit_handler"), as_persona("demo_commander")
    unit = StationedUnit.objects.get(street__code=GRID_A[:9], department__code="enforcement")
    through_unit = report(resident).json()["id"]
    step(dispatcher, through_unit, "accept")
    assert step(dispatcher, through_unit, "dispatch", {"unit_id": unit.pk}).status_code == 200
    direct = report(resident).json()["id"]
    step(dispatcher, direct, "accept")
    assert step(dispatcher, direct, "dispatch", {"department_id": unit.department_id}).status_code == 200
    stats_tick()
    assert EventFact.objects.get(event_id=through_unit).department_id == unit.department_id

    def figures(client, kind, unit_id):
        answer = client.get("/stats/kpis", {"unit": kind, "unit_id": unit_id, "period": "day"})
        assert answer.status_code == 200, answer.content
        return answer.json()

    answer = figures(unit_handler, "stationed", unit.pk)
    assert answer["unit"]["kind"] == "stationed" and answer["unit"]["code"] == f"enforcement@{GRID_A[:9]}"
    # Both: the one its people hold and the one held by the department itself in that street.
    assert answer["figures"]["new"] == answer["figures"]["dispatched"] == 2
    assert figures(commander, "department", unit.department_id)["figures"]["new"] == 2
    assert figures(dispatcher, "stationed", unit.pk)["figures"]["new"] == 2  # the street's dispatcher sees it
    department_handler = as_persona("demo_department_handler")  # and the department's own handlers
    assert figures(department_handler, "stationed", unit.pk)["figures"]["new"] == 2
    # The same department at another street is another stationed unit, without these events.
    other_street = Street.objects.exclude(code=GRID_A[:9]).first()
    elsewhere = StationedUnit.objects.create(
        department=Department.objects.get(code="enforcement"),
        street=other_street,
        platform=other_street.platforms.first(),
        name="别处的中队",
    )
    assert figures(commander, "stationed", elsewhere.pk)["figures"]["new"] == 0
    assert unit_handler.get("/stats/kpis", {"unit": "stationed", "unit_id": elsewhere.pk}).status_code == 403
    assert dispatcher.get("/stats/kpis", {"unit": "stationed", "unit_id": elsewhere.pk}).status_code == 403


def test_the_cached_p90s_are_read_again_once_a_fact_of_their_days_changes(as_persona):
    """The p90s of a district's points are cached under their rollups' stamps: asked
    again with nothing changed, no duration is read; once an event of those days closes,
    they equal a computation without any cache."""
    from unittest import mock

    from django.core.cache.backends.dummy import DummyCache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from backend.stats.kpis import kpi_report
    from backend.stats.units import unit_of

    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    handler, secretary = as_persona("demo_handler"), as_persona("demo_secretary")
    first, second = (report(resident).json()["id"] for _ in range(2))
    for event_id in (first, second):
        step(dispatcher, event_id, "accept")
    _close(dispatcher, handler, secretary, first)
    stats_tick()
    today = timezone.now().astimezone(SHANGHAI).date()
    period = period_of("range", None, today - timedelta(days=13), today)

    def answer():
        return kpi_report(unit=unit_of("district", None), period=period, series="week")

    def uncached():
        with mock.patch("backend.stats.selectors.cache", DummyCache("none", {})):
            return answer()

    assert answer() == uncached()
    with CaptureQueriesContext(connection) as queries:
        again = answer()
    assert again == uncached()
    assert not [q for q in queries.captured_queries if "sign_s" in q["sql"] and "stats_eventfact" in q["sql"]]

    EventFact.objects.filter(event_id=first).update(close_s=1)  # no stamp moves: the cache still answers
    assert answer() == again
    _close(dispatcher, handler, secretary, second)
    stats_tick()  # the second's fact recomputed, its days' rollups restamped: sorted again
    changed = answer()
    assert changed == uncached()
    assert changed["series"][-1]["figures"]["closed"] == again["series"][-1]["figures"]["closed"] + 1


def test_the_hand_written_dirty_mark_stores_what_bulk_create_stores(db):
    """``mark_dirty``'s one statement (``INSERT … SELECT unnest`` on PostgreSQL) holds the
    ids as the ORM's own ``bulk_create`` would."""
    import uuid

    from backend.stats.facts import mark_dirty
    from backend.stats.models import DirtyEvent

    ids = [uuid.uuid4() for _ in range(3)]
    DirtyEvent.objects.all().delete()
    mark_dirty([str(i) for i in ids])
    by_hand = sorted(DirtyEvent.objects.values_list("event_id", flat=True))
    DirtyEvent.objects.all().delete()
    DirtyEvent.objects.bulk_create([DirtyEvent(event_id=i) for i in ids])
    assert by_hand == sorted(DirtyEvent.objects.values_list("event_id", flat=True)) == sorted(ids)
