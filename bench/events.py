"""Group ``events``: generating a year of history at the seed's scale, then the
first page of every role's queue over it.

``seed_events_per_s``: ``seed_demo --events N`` (N = the seed's 175,591 unless
BENCH_EVENTS says otherwise). ``queue_first_page_ms``: the slowest role queue's
median first-page latency (sequential requests to the production HTTP layout over one
kept-alive connection, as a phone sends them; until 2026-12-02 each on a new connection),
compared with ``GET /me`` measured the same way. ``search_p95_ms``: finding events
by text (description, address) and by number over the district-year, as the
district's commander and a street's dispatcher: the 95th percentile of every
request's latency (goal ≤ 50 ms on PostgreSQL).

The writes over the same history (issue 24), each step a REST request to the same
gunicorn, concurrency 1: ``step_<name>_p50_ms`` for accept, dispatch, sign, handle
and approve, ``step_p50_ms`` the median over accept, sign, handle and approve (goal
≤ 3 ms), ``dispatch_p50_ms_http`` (goal ≤ 4 ms); ``steps_per_s_8_clients``: the same
loop run by 8 clients at once, steps (reports left out) per second (goal ≥ 800);
``statements_<name>``: the SQL statements of each step's whole request, counted in a
Django process against the bench's database (savepoints included: in production they
are real; on SQLite its BEGIN and COMMIT show as well), the figures
tests/test_statement_counts.py holds."""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import threading
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
    """Sequential GETs over one kept-alive connection, as a phone's HTTP client sends them
    (the server may close it: then the next request opens another, and its time counts)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    headers = {"Authorization": f"Bearer {token}"}
    timings = []
    try:
        for _ in range(samples + 2):
            started = time.perf_counter()
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{url}: {response.status} {body[:200]!r}")
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
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
    figures.update(step_figures(bench, base))
    return figures


def bench_latest_number(base: str, token: str) -> str:
    import json

    request = urllib.request.Request(f"{base}/api/v1/events?page_size=1", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)["items"][0]["number"]


# --- the writes: the closed loop's steps ---------------------------------------------

LOOP_PERSONAS = ("demo_resident", "demo_dispatcher", "demo_handler", "demo_secretary")
# 家庭纠纷: the street's governance platform handles it, no photos required, so a loop
# runs with REST requests only.
LOOP_CATEGORY = "01.02"
STEP_ROUNDS = 40
CLIENTS = 8
CLIENT_SECONDS = 10.0
TIMED_STEPS = ("accept", "sign", "handle", "approve")


class Api:
    """One keep-alive connection to the server (a client of its own per thread)."""

    def __init__(self, base: str, tokens: dict[str, str]) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.tokens = tokens
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def post(self, persona: str, path: str, body: dict) -> tuple[dict, float]:
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.tokens[persona]}"}
        started = time.perf_counter()
        try:
            self.connection.request("POST", f"/api/v1{path}", payload, headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.connection.close()  # the server closed the kept-alive connection: once more on a new one
            started = time.perf_counter()
            self.connection.request("POST", f"/api/v1{path}", payload, headers)
            response = self.connection.getresponse()
        answer = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status not in (200, 201):
            raise RuntimeError(f"POST {path}: {response.status} {answer[:300]!r}")
        return json.loads(answer), elapsed


def loop(api: Api, location: dict, platform_id: int) -> dict[str, float]:
    """One event from report to closure; each step's latency."""
    body = {"source": "public_tip", "category": LOOP_CATEGORY, "description": "bench 家里吵架", "location": location}
    event, timings = api.post("demo_resident", "/events", body)[0], {}
    path = f"/events/{event['id']}"
    _, timings["accept"] = api.post("demo_dispatcher", f"{path}/accept", {})
    _, timings["dispatch"] = api.post("demo_dispatcher", f"{path}/dispatch", {"platform_id": platform_id})
    _, timings["sign"] = api.post("demo_handler", f"{path}/sign", {})
    _, timings["handle"] = api.post("demo_handler", f"{path}/handle", {"result_note": "已调解"})
    closed, timings["approve"] = api.post("demo_secretary", f"{path}/approve", {})
    if closed["state"] != "closed":
        raise RuntimeError(f"the loop ended in {closed['state']}")
    return timings


STATEMENTS_SCRIPT = """
import json
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from bench.events import LOOP_CATEGORY
clients = {}
for name in %r:
    client = Client(HTTP_HOST="127.0.0.1")
    token = client.post("/api/v1/auth/login", {"username": name, "password": %r, "device_id": "bench-count-" + name}, content_type="application/json").json()["access_token"]
    clients[name] = lambda path, body, token=token, client=client: client.post("/api/v1" + path, body, content_type="application/json", HTTP_AUTHORIZATION="Bearer " + token)
def counted(persona, path, body, counts, name):
    with CaptureQueriesContext(connection) as seen:
        response = clients[persona](path, body)
    assert response.status_code in (200, 201), response.content
    counts[name] = len(seen.captured_queries)
    return response.json()
def walk():
    counts = {}
    body = {"source": "public_tip", "category": LOOP_CATEGORY, "description": "bench", "location": %r}
    event = counted("demo_resident", "/events", body, counts, "report")
    path = "/events/" + event["id"]
    counted("demo_dispatcher", path + "/accept", {}, counts, "accept")
    counted("demo_dispatcher", path + "/dispatch", {"platform_id": %d}, counts, "dispatch")
    counted("demo_handler", path + "/sign", {}, counts, "sign")
    counted("demo_handler", path + "/handle", {"result_note": "ok"}, counts, "handle")
    counted("demo_secretary", path + "/approve", {}, counts, "approve")
    return counts
walk()
print(json.dumps(walk()))
"""


# The handler's platform: the governance platform of the dispatcher's street.
PLATFORM_SCRIPT = """
from backend.accounts.models import Role, RoleAssignment
from backend.territory.models import Platform, PlatformKind
street = RoleAssignment.objects.get(user__username="demo_dispatcher", role=Role.DISPATCHER).street_id
print(Platform.objects.get(street_id=street, kind=PlatformKind.GOVERNANCE).pk)
"""


def step_figures(bench: Bench, base: str) -> dict[str, Figure]:
    from bench.common import PASSWORD

    tokens = {persona: bench.login(base, persona) for persona in LOOP_PERSONAS}
    platform_id = int(bench.manage("shell", "-c", PLATFORM_SCRIPT).strip().splitlines()[-1])
    grid = _get(base, "/territory/grids", tokens["demo_secretary"])["items"][0]
    ring = _get(base, f"/territory/grids/{grid['id']}", tokens["demo_secretary"])["polygon"]["coordinates"][0]
    location = {"lat": (ring[0][1] + ring[2][1]) / 2, "lng": (ring[0][0] + ring[2][0]) / 2, "crs": "wgs84"}

    api = Api(base, tokens)
    loop(api, location, platform_id)  # warm
    by_step: dict[str, list[float]] = {}
    for _ in range(STEP_ROUNDS):
        for name, value in loop(api, location, platform_id).items():
            by_step.setdefault(name, []).append(value)
    figures = {f"step_{name}_p50_ms": Figure(statistics.median(values), "ms") for name, values in by_step.items()}
    figures["step_p50_ms"] = Figure(statistics.median([v for n in TIMED_STEPS for v in by_step[n]]), "ms")
    figures["dispatch_p50_ms_http"] = Figure(statistics.median(by_step["dispatch"]), "ms")

    done = [0] * CLIENTS
    failures: list[BaseException] = []
    deadline = time.perf_counter() + CLIENT_SECONDS

    def client(index: int) -> None:
        own = Api(base, tokens)
        try:
            while time.perf_counter() < deadline:
                done[index] += len(loop(own, location, platform_id))
        except BaseException as error:  # reported after the others finish
            failures.append(error)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    figures["steps_per_s_8_clients"] = Figure(sum(done) / (time.perf_counter() - started), "steps/s")

    script = STATEMENTS_SCRIPT % (LOOP_PERSONAS, PASSWORD, location, platform_id)
    counts = json.loads(bench.manage("shell", "-c", script).strip().splitlines()[-1])
    for name, count in counts.items():
        figures[f"statements_{name}"] = Figure(count, "statements")
    return figures


def _get(base: str, path: str, token: str) -> dict:
    request = urllib.request.Request(f"{base}/api/v1{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)
