"""Group ``console``: the command room in chromium (Playwright, Debian's chromium) against
one daphne process on the demo year of events.

- ``first_paint_ms``: the browser's first contentful paint of the command room
  (``performance.getEntriesByType('paint')``), median of 5 loads, signed in as the demo dispatcher.
- ``room_ready_ms``: navigation start to every panel filled from the API (queues with
  their counts, the map from the grid polygons, the last hour), median of 5 loads.
- ``live_change_p50_ms`` / ``live_change_max_ms``: just before another user's API request
  (a grid worker's report in the dispatcher's street) to the row in the live feed, 10 rounds.
Goals: the ready room ≤ 1,000 ms and a change visible ≤ 1,000 ms."""

from __future__ import annotations

import json
import statistics
import time
import urllib.request

from bench.common import PASSWORD, Bench, Figure

EVENTS = 175_591
LOADS = 5
ROUNDS = 10
CHROMIUM = "/usr/bin/chromium"


def _post(base: str, path: str, body: dict, token: str) -> dict:
    request = urllib.request.Request(
        base + "/api/v1" + path,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def run(bench: Bench) -> dict[str, Figure]:
    from playwright.sync_api import sync_playwright

    bench.manage("seed_demo", "--events", str(EVENTS), "-v0")
    bench.settle()
    base = bench.start_daphne()
    worker = bench.login(base, "demo_grid_worker")
    grid = json.loads(urllib.request.urlopen(_request(base, "/me", worker)).read())["scope"]["grid_ids"][0]
    polygon = json.loads(urllib.request.urlopen(_request(base, f"/territory/grids/{grid}", worker)).read())["polygon"]
    ring = polygon["coordinates"][0]
    lng = sum(c[0] for c in ring[:4]) / 4
    lat = sum(c[1] for c in ring[:4]) / 4
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{base}/console/login")
        page.fill("input[name=username]", "demo_dispatcher")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        paints, ready = [], []
        for _ in range(LOADS):
            page.reload()
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            paints.append(
                page.evaluate(
                    "performance.getEntriesByType('paint').find(p => p.name === 'first-contentful-paint').startTime"
                )
            )
            ready.append(_ready_ms(page))
        page.wait_for_selector("#live-status.on", timeout=10_000)
        latencies = []
        for n in range(ROUNDS):
            body = {
                "source": "grid_patrol",
                "category": "01.01",
                "description": f"bench {n}",
                "location": {"lat": lat, "lng": lng, "crs": "wgs84"},
            }
            started = time.perf_counter()
            event = _post(base, "/events", body, worker)
            page.wait_for_selector(f"#feed li[data-event-id='{event['id']}']", timeout=10_000)
            latencies.append((time.perf_counter() - started) * 1000)
        browser.close()
    return {
        "first_paint_ms": Figure(statistics.median(paints), "ms"),
        "room_ready_ms": Figure(statistics.median(ready), "ms"),
        "live_change_p50_ms": Figure(statistics.median(latencies), "ms"),
        "live_change_max_ms": Figure(max(latencies), "ms"),
    }


def _request(base: str, path: str, token: str) -> urllib.request.Request:
    return urllib.request.Request(base + "/api/v1" + path, headers={"Authorization": f"Bearer {token}"})


def _ready_ms(page) -> float:
    # console.js marks the moment every panel is filled; measured from navigation start.
    return page.evaluate("performance.getEntriesByName('console-ready')[0].startTime")
