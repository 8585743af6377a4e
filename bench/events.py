"""Group ``events``: generating a year of history at the seed's scale, then the
first page of every role's queue over it.

``seed_events_per_s``: ``seed_demo --events N`` (N = the seed's 175,591 unless
BENCH_EVENTS says otherwise). ``queue_first_page_ms``: the slowest role queue's
median first-page latency (sequential requests to the production HTTP layout),
compared with ``GET /me`` measured the same way. ``search_p95_ms``: finding events
by text (description, address) and by number over the district-year, as the
district's commander and a street's dispatcher: the 95th percentile of every
request's latency (goal ≤ 50 ms on PostgreSQL)."""

from __future__ import annotations

import os
import re
import statistics
import time
import urllib.parse
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
    ("demo_commander", "all"),  # its token serves the searches too
]


# Searches a dispatcher types: words of the descriptions, addresses, a grid's name.
SEARCHES = [
    "暴露垃圾",
    "占道经营",
    "清波门社区",
    "柳翠井巷社区1",
    "第3网格附近",
    "吴山第2网格",
    "河坊街社区77号",
    "不存在的文字",
]
SEARCH_SAMPLES = 6


def timings_ms(url: str, token: str, samples: int = SAMPLES) -> list[float]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    timings = []
    for _ in range(samples + 2):
        started = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{url}: {response.status} {body[:200]!r}")
        timings.append((time.perf_counter() - started) * 1000)
    return timings[2:]  # the first two warm caches


def median_ms(url: str, token: str) -> float:
    return statistics.median(timings_ms(url, token))


def search_p95_ms(base: str, tokens: dict[str, str], number: str) -> float:
    timings = []
    for persona in ("demo_commander", "demo_dispatcher"):
        for text in [*SEARCHES, number]:
            query = urllib.parse.urlencode({"q": text, "page_size": 50})
            timings += timings_ms(f"{base}/api/v1/events?{query}", tokens[persona], SEARCH_SAMPLES)
    return statistics.quantiles(timings, n=20)[-1]


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
    number = bench_latest_number(base, tokens["demo_commander"])
    figures["search_p95_ms"] = Figure(search_p95_ms(base, tokens, number), "ms", baseline="me_sequential_ms")
    return figures


def bench_latest_number(base: str, token: str) -> str:
    import json

    request = urllib.request.Request(f"{base}/api/v1/events?page_size=1", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)["items"][0]["number"]
