"""Group ``residents``: residents' tips at the district-year scale.

``nearby_p95_ms``: ``GET /tips/nearby`` (open events within 250 m of a point) at the
places of events of the seeded year, sequential requests to the production HTTP
layout, 95th percentile; beside it ``GET /health`` measured the same way.
``tip_submit_rps``: signed-in residents submitting tips with no photo (``POST /tips``),
several client processes over keep-alive connections, successful tips per second; beside
it ``tip_submit_cpu_ms``, the gunicorn workers' CPU time (user and system, from /proc) per
tip, which a busy machine inflates far less than it does the rate.
The history is ``seed_demo --events N`` (N = the seed's 175,591 unless BENCH_EVENTS
says otherwise), with its me-toos and followers. ``open311_requests_p95_ms``: a page of
50 ``GET /open311/v2/requests.json`` (the last 90 days), sequential, 95th percentile."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import statistics
import time
import urllib.parse
import urllib.request

from bench.common import PASSWORD, Bench, Figure

EVENTS = int(os.environ.get("BENCH_EVENTS", "175591"))
NEARBY_SAMPLES = int(os.environ.get("BENCH_NEARBY_SAMPLES", "300"))
SUBMIT_SECONDS = int(os.environ.get("BENCH_SUBMIT_SECONDS", "10"))
CLIENTS = int(os.environ.get("BENCH_SUBMIT_CLIENTS", "8"))

SETUP = """
import json
from backend.accounts.models import Role, RoleAssignment, User
from backend.events.models import Event
for i in range({clients}):
    user, made = User.objects.get_or_create(username=f"bench_resident_{{i}}")
    user.set_password({password!r}); user.save()
    RoleAssignment.objects.get_or_create(user=user, role=Role.RESIDENT)
points = list(Event.objects.filter(lat__isnull=False).order_by("?").values_list("lat", "lng")[:{samples}])
print(json.dumps(points))
"""


def timed_get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status}")
    return (time.perf_counter() - started) * 1000


def server_cpu_seconds(master_pid: int) -> float:
    """CPU seconds used so far by a gunicorn master's workers (its children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for task in os.listdir(f"/proc/{master_pid}/task"):
        with open(f"/proc/{master_pid}/task/{task}/children") as listing:
            for child in listing.read().split():
                try:
                    with open(f"/proc/{child}/stat") as stat:
                        fields = stat.read().rsplit(")", 1)[1].split()
                except FileNotFoundError:
                    continue
                total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def submitter(args: tuple[str, str, list, int, multiprocessing.Queue]) -> None:
    base, token, point, seconds, out = args
    parts = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    body = json.dumps(
        {
            "category": "06.01",
            "description": "压测：小区门口垃圾满溢",
            "location": {"lat": point[0], "lng": point[1], "crs": "wgs84"},
        }
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    made = errors = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.request("POST", "/api/v1/tips", body, headers)
        response = connection.getresponse()
        response.read()
        if response.status == 201:
            made += 1
        else:
            errors += 1
    out.put((made, errors))


def run(bench: Bench) -> dict[str, Figure]:
    bench.manage("seed_demo", "--events", str(EVENTS), "--addresses", "0", "-v0")
    bench.settle()
    points = json.loads(
        bench.manage("shell", "-c", SETUP.format(clients=CLIENTS, password=PASSWORD, samples=NEARBY_SAMPLES))
        .strip()
        .splitlines()[-1]
    )
    base = bench.start_http()
    for _ in range(20):  # warm every worker
        timed_get(f"{base}/api/v1/tips/nearby?lat={points[0][0]}&lng={points[0][1]}")
    health = [timed_get(f"{base}/api/v1/health") for _ in range(NEARBY_SAMPLES)]
    nearby = [timed_get(f"{base}/api/v1/tips/nearby?lat={lat}&lng={lng}") for lat, lng in points]
    figures = {
        "events": Figure(EVENTS, "events"),
        "health_p95_ms": Figure(p95(health), "ms"),
        "nearby_p95_ms": Figure(p95(nearby), "ms", baseline="health_p95_ms"),
        "nearby_median_ms": Figure(statistics.median(nearby), "ms", baseline="health_p95_ms"),
    }
    open311 = [timed_get(f"{base}/open311/v2/requests.json") for _ in range(NEARBY_SAMPLES // 3)]
    figures["open311_requests_p95_ms"] = Figure(p95(open311), "ms", baseline="health_p95_ms")
    tokens = [bench.login(base, f"bench_resident_{i}") for i in range(CLIENTS)]
    out: multiprocessing.Queue = multiprocessing.Queue()
    master = bench.processes[-1].pid
    cpu_before = server_cpu_seconds(master)
    started = time.monotonic()
    workers = [
        multiprocessing.Process(target=submitter, args=((base, token, points[i % len(points)], SUBMIT_SECONDS, out),))
        for i, token in enumerate(tokens)
    ]
    for worker in workers:
        worker.start()
    results = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    cpu = server_cpu_seconds(master) - cpu_before
    made = sum(r[0] for r in results)
    figures["tip_submit_rps"] = Figure(made / elapsed, "tips/s")
    figures["tip_submit_cpu_ms"] = Figure(cpu / max(made, 1) * 1000, "ms")
    figures["tip_submit_errors"] = Figure(sum(r[1] for r in results), "responses")
    return figures
