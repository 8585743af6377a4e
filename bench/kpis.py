"""Group ``kpis``: the figures of a district year (``seed_demo --events``, 175,591 events
unless BENCH_EVENTS says otherwise), through the production HTTP layout (gunicorn).

- ``rebuild_stats_s``: ``manage.py rebuild_stats`` over the whole year (facts and colours).
- ``kpi_district_month_ms``: ``GET /stats/kpis`` for the district and the last whole
  month, every figure (median of sequential requests; ``GET /me`` beside it).
- ``kpi_breakdown_260_grids_ms``: the same month with ``breakdown_by=grid``: every figure
  of each grid of the district.
- ``kpi_year_series_ms``: the district's twelve monthly points (the last twelve whole months);
  ``kpi_year_series_first_ms``: the first of those requests, before its p90s are cached.
- ``colour_recompute_ms``: what one workflow step adds to the worker: the colours of the
  event's grid and community recomputed (in-process, median); ``facts_refresh_ms``: its
  facts recomputed.
- ``push_mutations_per_s`` with the facts kept (``STATS_FACTS=true`` and the worker
  draining the queue) and without (``STATS_FACTS=false``, no worker), four phones pushing
  reports in batches of 100, alternated twice in the same run; ``facts_cost_ratio`` is
  the loss of push rate they cost (target ≤ 0.10).
- ``demo_year_*``: the district's own figures over those twelve months.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from bench.common import PASSWORD, PYTHON, ROOT, Bench, Figure
from bench.sync import check_pushed, phone_for, push_batches, push_bodies, report_args

EVENTS = int(os.environ.get("BENCH_EVENTS", "175591"))
PUSH_BATCHES = int(os.environ.get("BENCH_PUSH_BATCHES", "10"))
PUSH_PHONES = 4
SAMPLES = 15

COLOUR_TIMING = """
import json, statistics, time
from django.db.models import Count
from backend.events.models import Event
from backend.stats.colours import recompute_units
from backend.stats.facts import refresh_facts
from backend.stats.models import EventFact
grid_id = EventFact.objects.values("grid_id").annotate(n=Count("pk")).order_by("-n")[0]["grid_id"]
event = Event.objects.filter(grid_id=grid_id).order_by("-reported_at").first()
colours, facts = [], []
for _ in range(30):
    started = time.perf_counter()
    refresh_facts([event.pk])
    facts.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    recompute_units({("grid", event.grid_id), ("community", event.community_id)}, community_of={event.grid_id: event.community_id})
    colours.append((time.perf_counter() - started) * 1000)
print(json.dumps({"colour_recompute_ms": statistics.median(colours[5:]), "facts_refresh_ms": statistics.median(facts[5:])}))
"""

DIRTY_COUNT = "from backend.stats.models import DirtyEvent; print(DirtyEvent.objects.count())"


def dirty_left(bench: Bench) -> int:
    return int(bench.manage("shell", "-c", DIRTY_COUNT).strip().splitlines()[-1])


def median_ms(url: str, token: str) -> float:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    timings = []
    for _ in range(SAMPLES + 2):
        started = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{url}: {response.status} {body[:200]!r}")
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings[2:])


def get_json(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def push_rate(base: str) -> float:
    phones = [phone_for(base, "demo_grid_worker") for _ in range(PUSH_PHONES)]
    lat, lng = 30.245, 120.16  # replaced by the phone's grid centre below
    phones[0].pull(limit=1000)
    from bench.sync import centre

    lat, lng = centre(phones[0])
    for phone in phones:  # warm-up: one batch each
        check_pushed(push_batches(phone, push_bodies(phone, [[report_args(lat, lng) for _ in range(100)]])))
    work = {
        id(phone): push_bodies(phone, [[report_args(lat, lng) for _ in range(100)] for _ in range(PUSH_BATCHES)])
        for phone in phones
    }
    started = time.perf_counter()
    with ThreadPoolExecutor(len(phones)) as pool:
        answers = list(pool.map(lambda phone: push_batches(phone, work[id(phone)]), phones))
    wall = time.perf_counter() - started
    for phone_answers in answers:
        check_pushed(phone_answers)
    return len(phones) * PUSH_BATCHES * 100 / wall


def run(bench: Bench) -> dict[str, Figure]:
    bench.manage("seed_demo", "--password", PASSWORD, "--addresses", "0", "--events", str(EVENTS), "-v0")
    started = time.monotonic()
    bench.manage("rebuild_stats")
    figures = {"events": Figure(EVENTS, "events"), "rebuild_stats_s": Figure(time.monotonic() - started, "s")}
    bench.settle()

    today = date.today()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    month = f"period=month&date={last_month_end.isoformat()}"
    year_start = (last_month_end.replace(day=1) - timedelta(days=335)).replace(day=1)
    year = f"period=range&start={year_start.isoformat()}&end={last_month_end.isoformat()}"

    base = bench.start_http()
    token = bench.login(base, "demo_commander")
    kpis = f"{base}/api/v1/stats/kpis?unit=district"
    figures["me_sequential_ms"] = Figure(median_ms(f"{base}/api/v1/me", token), "ms")
    figures["kpi_district_month_ms"] = Figure(median_ms(f"{kpis}&{month}", token), "ms", baseline="me_sequential_ms")
    grids = get_json(f"{kpis}&{month}&breakdown_by=grid", token)["breakdown"]
    figures["breakdown_grids"] = Figure(len(grids), "grids")
    figures["kpi_breakdown_260_grids_ms"] = Figure(
        median_ms(f"{kpis}&{month}&breakdown_by=grid", token), "ms", baseline="me_sequential_ms"
    )
    # The first asking sorts every point's durations; later ones read the p90s from the
    # cache until a fact of a point's days changes (docs/kpis.md, "Daily rollups").
    started = time.perf_counter()
    get_json(f"{kpis}&{year}&series=month", token)
    figures["kpi_year_series_first_ms"] = Figure((time.perf_counter() - started) * 1000, "ms")
    figures["kpi_year_series_ms"] = Figure(
        median_ms(f"{kpis}&{year}&series=month", token), "ms", baseline="me_sequential_ms"
    )
    demo = get_json(f"{kpis}&{year}", token)["figures"]
    for name in ("new", "closed", "completion_rate", "on_time_rate", "satisfaction_rate", "tip_share"):
        value = demo[name]
        figures[f"demo_year_{name}"] = Figure(
            100 * value if name.endswith(("_rate", "_share")) and value is not None else value or 0,
            "%" if name.endswith(("_rate", "_share")) else "events",
        )
    figures["demo_year_close_hours_p90"] = Figure(demo["close_hours"]["p90"] or 0, "h")
    figures["demo_year_close_working_hours_p90"] = Figure(demo["close_hours"]["working_p90"] or 0, "h")

    timing = bench.manage("shell", "-c", COLOUR_TIMING)
    for name, value in json.loads(timing.strip().splitlines()[-1]).items():
        figures[name] = Figure(value, "ms")
    bench.stop()

    # Push rate without and with the facts kept, alternated so the machine's drift touches both.
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for mode in ("off", "on", "off", "on"):
        bench.env["STATS_FACTS"] = "true" if mode == "on" else "false"
        base = bench.start_http()
        if mode == "on":
            worker = subprocess.Popen(
                [PYTHON, "manage.py", "run_worker"],
                cwd=ROOT,
                env=bench.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            bench.processes.append(worker)
        rates[mode].append(push_rate(base))
        if mode == "on":
            started = time.monotonic()
            while dirty_left(bench) and time.monotonic() - started < 300:
                time.sleep(0.5)
            figures["facts_caught_up_s"] = Figure(time.monotonic() - started, "s")
        bench.stop()
    bench.env.pop("STATS_FACTS")
    without, with_facts = statistics.mean(rates["off"]), statistics.mean(rates["on"])
    figures["push_mutations_per_s_without_facts"] = Figure(without, "mutations/s")
    figures["push_mutations_per_s"] = Figure(with_facts, "mutations/s", baseline="push_mutations_per_s_without_facts")
    figures["facts_cost_ratio"] = Figure(max(0.0, 1 - with_facts / without), "x")
    return figures
