"""Group ``events``: generating a year of history at the seed's scale, then the
first page of every role's queue over it.

``seed_events_per_s``: ``seed_demo --events N`` (N = the seed's 175,591 unless
BENCH_EVENTS says otherwise). ``queue_first_page_ms``: the slowest role queue's
median first-page latency (sequential requests to the production HTTP layout),
compared with ``GET /me`` measured the same way."""

from __future__ import annotations

import os
import re
import statistics
import time
import urllib.request

from bench.common import Bench, Figure

EVENTS = int(os.environ.get("BENCH_EVENTS", "175591"))
SAMPLES = 15
QUEUES = [
    ("demo_grid_worker", "my_tasks"),
    ("demo_handler", "my_tasks"),
    ("demo_dispatcher", "to_triage"),
    ("demo_dispatcher", "overdue"),
    ("demo_secretary", "to_approve"),
    ("demo_commander", "to_triage"),
    ("demo_commander", "overdue"),
    ("demo_commander", "all"),
    ("demo_resident", "my_reports"),
    ("demo_grid_worker", "all"),
    ("demo_dispatcher", "all"),
]


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
    return statistics.median(timings[2:])  # the first two warm caches


def run(bench: Bench) -> dict[str, Figure]:
    started = time.monotonic()
    output = bench.manage("seed_demo", "--events", str(EVENTS), "-v0")
    wall = time.monotonic() - started
    match = re.search(r"in ([\d.]+) s", output)
    elapsed = float(match.group(1)) if match else wall
    figures = {
        "seed_events": Figure(EVENTS, "events"),
        "seed_events_s": Figure(elapsed, "s"),
        "seed_events_per_s": Figure(EVENTS / elapsed, "events/s"),
    }
    base = bench.start_http()
    tokens = {persona: bench.login(base, persona) for persona, _ in QUEUES}
    figures["me_sequential_ms"] = Figure(median_ms(f"{base}/api/v1/me", tokens["demo_dispatcher"]), "ms")
    slowest = 0.0
    for persona, queue in QUEUES:
        value = median_ms(f"{base}/api/v1/events?queue={queue}&page_size=50", tokens[persona])
        figures[f"queue_{persona.removeprefix('demo_')}_{queue}_ms"] = Figure(value, "ms", baseline="me_sequential_ms")
        slowest = max(slowest, value)
    figures["queue_first_page_ms"] = Figure(slowest, "ms", baseline="me_sequential_ms")
    return figures
