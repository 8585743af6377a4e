"""Group ``sync``: the offline protocol at the seed's scale, through the production
HTTP layout (gunicorn), driven by the reference phone client (``sync.client``).

- ``push_mutations_per_s``: event reports pushed in batches of 100 by four phones at
  once, applied per second (``push_one_phone_mutations_per_s``: one phone alone).
- ``push_vs_rest_cost_ratio``: the time per pushed mutation over the time of one
  plain ``POST /api/v1/events`` making the same event (baseline run here too).
- ``pull_changes_per_s``: a full resync of a wide scope (a grid worker of every grid
  of one street) in pages of 1,000, over the seconds the requests took (sent to
  answer fully received); the median of three resyncs, the slowest and fastest printed
  beside it. The phone's parsing and storing of pages is its own cost, not the
  server's (``initial_sync_phone_s`` shows the whole of it once).
- ``pull_empty_vs_me_ratio``: a pull with nothing new over ``GET /api/v1/me``, the
  two sampled alternately so that a change in the machine's load touches both.
- ``initial_sync_s``: a grid worker's first full sync (one grid of the district with
  the seed's 222,800 addresses and 175,591 events of history), pages of 1,000.
- ``initial_sync_peak_kb`` / ``wide_sync_peak_kb``: the server's peak Python
  allocation while serving those syncs page by page (in-process, tracemalloc): it
  follows the page size, not the data size.

After the seed the database is settled (``Bench.settle``: vacuumed, analysed,
checkpointed, files flushed) before anything is measured.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from bench.common import GUNICORN_THREADS, GUNICORN_WORKERS, PASSWORD, PYTHON, ROOT, Bench, Figure
from sync.client import PROTOCOL_VERSION, HttpTransport, Phone

EVENTS = int(os.environ.get("BENCH_EVENTS", "175591"))
ADDRESSES = int(os.environ.get("BENCH_ADDRESSES", "222800"))
PUSH_BATCHES = int(os.environ.get("BENCH_PUSH_BATCHES", "30"))
PUSH_PHONES = 4  # one per gunicorn worker
REST_SAMPLES = 200
PULL_RUNS = 3  # street-wide resyncs; the median is the figure (one takes about 2 s, and the machine's speed drifts)
SAMPLES = 200
PULL_RUNS = 3  # street-wide resyncs; the median is the figure (one takes about 2 s, and the machine's speed drifts)

WIDE_USER = """
from backend.accounts.models import Role, RoleAssignment, User
from backend.territory.models import Grid, Street
user, _ = User.objects.get_or_create(username="bench_wide", defaults={"display_name": "全街道网格员"})
user.set_password("@PASSWORD@"); user.save()
street = Street.objects.order_by("code").first()
for grid in Grid.objects.filter(community__street=street):
    RoleAssignment.objects.get_or_create(user=user, role=Role.GRID_WORKER, grid=grid)
""".replace("@PASSWORD@", PASSWORD)


class ServedTime(HttpTransport):
    """Counts the seconds from sending a request to having its whole answer: the
    server's part. Parsing the answer and what the phone does with it are not counted."""

    def __init__(self, base_url: str):
        super().__init__(base_url)
        self.spent = 0.0

    def exchange(self, path: str, data: bytes, token: str | None) -> tuple[int, bytes]:
        started = time.perf_counter()
        try:
            return super().exchange(path, data, token)
        finally:
            self.spent += time.perf_counter() - started


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def median_ms(function, samples: int = SAMPLES) -> float:
    for _ in range(5):
        function()
    return statistics.median(timed(function) * 1000 for _ in range(samples))


def alternate_medians_ms(first, second, samples: int = SAMPLES) -> tuple[float, float]:
    """Medians of two requests sampled in turn, so that drift in load touches both."""
    for _ in range(5):
        first(), second()
    a, b = [], []
    for _ in range(samples):
        a.append(timed(first) * 1000)
        b.append(timed(second) * 1000)
    return statistics.median(a), statistics.median(b)


def phone_for(base: str, username: str) -> Phone:
    phone = Phone(ServedTime(base), attempts=3)
    phone.login(username, PASSWORD)
    return phone


def centre(phone: Phone) -> tuple[float, float]:
    """(lat, lng) of the middle of the phone's grid, from its store."""
    grid = next(iter(phone.entities("grid").values()))
    ring = grid["polygon"]["coordinates"][0][:-1]
    return sum(p[1] for p in ring) / len(ring), sum(p[0] for p in ring) / len(ring)


def report_args(lat: float, lng: float) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "source": "grid_patrol",
        "category": "06.01",
        "description": "基准测试：离线上报的暴露垃圾",
        "lat": lat,
        "lng": lng,
        "crs": "wgs84",
        "before_photos": ["sha256:" + "c" * 64],
    }


def push_bodies(phone: Phone, batches: list[list[dict]]) -> list[bytes]:
    """The push requests of these batches, encoded before the clock starts."""
    next_id = int(phone.meta("last_mutation_id", "0")) + 1
    bodies = []
    for batch in batches:
        body = {
            "device_id": phone.device_id,
            "protocol_version": PROTOCOL_VERSION,
            "client_time": datetime.now(UTC).isoformat(),
            "mutations": [{"id": next_id + i, "name": "event.report", "args": args} for i, args in enumerate(batch)],
        }
        bodies.append(json.dumps(body).encode())
        next_id += len(batch)
    phone.set_meta("last_mutation_id", str(next_id - 1))
    return bodies


def push_batches(phone: Phone, bodies: list[bytes]) -> list[tuple[int, bytes]]:
    """Send the pushes one after another; the answers, unparsed (checked afterwards)."""
    token = phone.meta("access_token")
    return [phone.transport.exchange("/sync/push", body, token) for body in bodies]


def check_pushed(answers: list[tuple[int, bytes]]) -> None:
    for status, raw in answers:
        answer = json.loads(raw)
        assert status == 200 and all(r["status"] == "applied" for r in answer["results"]), (status, str(answer)[:300])


def full_sync_seconds(phone: Phone) -> tuple[float, float, int]:
    """(seconds served, seconds on the phone in all, changes) of a full resync."""
    phone.set_meta("cursor", None)
    phone.db.execute("DELETE FROM entity")
    served = phone.transport.spent
    started = time.perf_counter()
    changes = phone.pull(limit=1000)
    return phone.transport.spent - served, time.perf_counter() - started, changes


def run(bench: Bench) -> dict[str, Figure]:
    bench.manage("seed_demo", "--password", PASSWORD, "--addresses", str(ADDRESSES), "--events", str(EVENTS), "-v0")
    subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", WIDE_USER], cwd=ROOT, env=bench.env, check=True, capture_output=True
    )
    bench.settle()
    base = bench.start_http()
    figures: dict[str, Figure] = {"events": Figure(EVENTS, "events"), "addresses": Figure(ADDRESSES, "units")}

    # The first full sync of a grid worker, before this run adds anything to the grid.
    worker = phone_for(base, "demo_grid_worker")
    # Warm every worker's threads: a first request in a process costs about two seconds
    # (statements compiled, the first plans), and with gthread workers which thread takes
    # the next connection is not the last one's.
    for _ in range(4 * GUNICORN_WORKERS * max(1, GUNICORN_THREADS)):
        full_sync_seconds(worker)
    served, whole, changes = full_sync_seconds(worker)
    figures["initial_sync_changes"] = Figure(changes, "changes")
    figures["initial_sync_s"] = Figure(served, "s")
    figures["initial_sync_phone_s"] = Figure(whole, "s")

    wide = phone_for(base, "bench_wide")
    full_sync_seconds(wide)  # every worker reads its first page of each kind once
    runs = [full_sync_seconds(wide) for _ in range(PULL_RUNS)]
    rates = sorted(changes / served for served, _, changes in runs)
    changes = runs[0][2]
    figures["pull_changes"] = Figure(changes, "changes")
    figures["pull_changes_per_s"] = Figure(statistics.median(rates), "changes/s")
    figures["pull_slowest_changes_per_s"] = Figure(rates[0], "changes/s")
    figures["pull_fastest_changes_per_s"] = Figure(rates[-1], "changes/s")
    figures["pull_phone_changes_per_s"] = Figure(
        statistics.median(changes / whole for _, whole, _ in runs), "changes/s"
    )

    token = worker.meta("access_token")
    me = urllib.request.Request(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    cursor = worker.meta("cursor")
    body = json.dumps(
        {"device_id": worker.device_id, "protocol_version": PROTOCOL_VERSION, "cursor": cursor, "limit": 1000}
    ).encode()
    status, empty = worker.transport.exchange("/sync/pull", body, token)
    empty = json.loads(empty)
    assert status == 200 and empty["changes"] == [] and not empty["has_more"], empty
    me_ms, pull_ms = alternate_medians_ms(
        lambda: urllib.request.urlopen(me).read(), lambda: worker.transport.exchange("/sync/pull", body, token)
    )
    figures["me_ms"] = Figure(me_ms, "ms")
    figures["pull_empty_ms"] = Figure(pull_ms, "ms", baseline="me_ms")
    figures["pull_empty_vs_me_ratio"] = Figure(pull_ms / me_ms, "x")

    lat, lng = centre(worker)
    rest_body = {
        "source": "grid_patrol",
        "category": "06.01",
        "description": "基准测试：REST 上报的暴露垃圾",
        "location": {"lat": lat, "lng": lng, "crs": "wgs84"},
        "before_photos": ["sha256:" + "c" * 64],
    }

    def rest_create():
        status, answer = worker.transport.exchange(
            "/events", json.dumps({**rest_body, "id": str(uuid.uuid4())}).encode(), token
        )
        assert status in (200, 201), answer

    figures["rest_create_ms"] = Figure(median_ms(rest_create, REST_SAMPLES), "ms")

    batches = [[report_args(lat, lng) for _ in range(100)] for _ in range(2 + PUSH_BATCHES)]
    check_pushed(push_batches(worker, push_bodies(worker, batches[:2])))  # warm-up
    bodies = push_bodies(worker, batches[2:])
    started = time.perf_counter()
    answers = push_batches(worker, bodies)
    seconds = time.perf_counter() - started
    check_pushed(answers)
    pushed = 100 * len(bodies)
    figures["push_one_phone_mutations_per_s"] = Figure(pushed / seconds, "mutations/s")
    figures["push_ms_per_mutation"] = Figure(seconds * 1000 / pushed, "ms", baseline="rest_create_ms")
    figures["push_vs_rest_cost_ratio"] = Figure(
        figures["push_ms_per_mutation"].value / figures["rest_create_ms"].value, "x"
    )

    # Phones of several grid workers pushing at once (a shift change): throughput.
    phones = [worker] + [phone_for(base, name) for name in ("demo_grid_worker",) * (PUSH_PHONES - 1)]
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
    figures["push_phones"] = Figure(len(phones), "phones")
    figures["push_mutations"] = Figure(len(phones) * pushed, "mutations")
    figures["push_mutations_per_s"] = Figure(len(phones) * pushed / wall, "mutations/s")

    memory = subprocess.run(
        [PYTHON, "-m", "bench.sync_memory"], cwd=ROOT, env=bench.env, check=True, capture_output=True, text=True
    )
    for name, value in json.loads(memory.stdout.strip().splitlines()[-1]).items():
        figures[name] = Figure(value, "kB" if name.endswith("_kb") else "changes")
    figures["wide_vs_initial_peak_ratio"] = Figure(
        figures["wide_sync_peak_kb"].value / figures["initial_sync_peak_kb"].value, "x"
    )
    return figures
