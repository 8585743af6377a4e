"""gunicorn's worker classes side by side, in turn, over one database (docs/architecture.md,
"Serving layout, chosen by measuring").

    BENCH_DB=postgres BENCH_PG_NAME=grid_serving .venv/bin/python bench/serving.py [rounds]
    BENCH_DB=postgres BENCH_PG_NAME=grid_serving .venv/bin/python bench/serving.py paired

One database is prepared as the ``events`` group prepares it (the demo district and a
year of history, ``BENCH_EVENTS`` events), then each round starts every layout in turn
(A, B, C, A, B, C, …: a machine shared with other work slows them alike) with 4 workers
and measures, against it alone:

- ``me_new_p50_ms``: ``GET /me``, one request at a time, each on a new connection
  (``urllib``, as ``bench/events.py`` reads the queues);
- ``me_kept_p50_ms``: the same over one kept-alive connection (``http.client``, as a
  phone's HTTP client does); under sync workers the server closes it after each answer;
- ``step_p50_ms``, ``dispatch_p50_ms``, ``steps_per_s_8_clients``: the closed loop's
  steps of ``bench/events.py`` (its own client, which keeps its connection);
- ``me_rps``, ``me_p99_ms``, ``health_rps``: wrk, 2 threads, 32 connections, 10 s.

Prints every round and the median of each figure over the rounds per layout.

``paired`` runs the layouts at once over the demo district alone and asks them in turn,
50 ``GET /me`` at a time, new connections and a kept one (the concurrency-1 figures with
the least drift between layouts)."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import events  # noqa: E402
from bench.common import PYTHON, Bench, free_port, running, wrk  # noqa: E402

# name → gunicorn arguments after the application (workers and binding added).
LAYOUTS = {
    "sync": [],
    "gthread-1": ["--worker-class", "gthread", "--threads", "1", "--keep-alive", "5"],
    "gthread-2": ["--worker-class", "gthread", "--threads", "2", "--keep-alive", "5"],
}
SAMPLES = 300


def start(bench: Bench, extra: list[str]) -> str:
    port = free_port()
    command = [PYTHON, "-m", "gunicorn"]
    command += ["backend.wsgi:application", "-w", "4", "-b", f"127.0.0.1:{port}", "--log-level", "warning", *extra]
    return bench.start(command, port)


def me_new(base: str, token: str) -> list[float]:
    request = urllib.request.Request(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    timings = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            response.read()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def me_kept(base: str, token: str) -> list[float]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    timings = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        connection.request("GET", "/api/v1/me", headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET /me: {response.status}")
        timings.append((time.perf_counter() - started) * 1000)
    connection.close()
    return timings


def steps(bench: Bench, base: str, context: dict) -> dict[str, float]:
    tokens = {persona: bench.login(base, persona) for persona in events.LOOP_PERSONAS}
    location, platform_id = context["location"], context["platform_id"]
    api = events.Api(base, tokens)
    events.loop(api, location, platform_id)  # warm
    by_step: dict[str, list[float]] = {}
    for _ in range(events.STEP_ROUNDS):
        for name, value in events.loop(api, location, platform_id).items():
            by_step.setdefault(name, []).append(value)
    figures = {
        "step_p50_ms": statistics.median([v for n in events.TIMED_STEPS for v in by_step[n]]),
        "dispatch_p50_ms": statistics.median(by_step["dispatch"]),
    }
    done = [0] * events.CLIENTS
    failures: list[BaseException] = []
    deadline = time.perf_counter() + events.CLIENT_SECONDS

    def client(index: int) -> None:
        own = events.Api(base, tokens)
        try:
            while time.perf_counter() < deadline:
                done[index] += len(events.loop(own, location, platform_id))
        except BaseException as error:
            failures.append(error)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(events.CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    figures["steps_per_s_8_clients"] = sum(done) / (time.perf_counter() - started)
    return figures


def measure(bench: Bench, extra: list[str], context: dict) -> dict[str, float]:
    base = start(bench, extra)
    try:
        token = bench.login(base, "demo_dispatcher")
        me_new(base, token)  # warm every worker
        figures = {
            "me_new_p50_ms": statistics.median(me_new(base, token)),
            "me_kept_p50_ms": statistics.median(me_kept(base, token)),
        }
        figures.update(steps(bench, base, context))
        auth = {"Authorization": f"Bearer {token}"}
        wrk(f"{base}/api/v1/me", seconds=2, headers=auth)
        me = wrk(f"{base}/api/v1/me", seconds=10, headers=auth)
        health = wrk(f"{base}/api/v1/health", seconds=10)
        if me.errors or health.errors:
            raise RuntimeError(f"wrk errors: me {me.errors}, health {health.errors}")
        figures.update({"me_rps": me.rps, "me_p99_ms": me.p99_ms, "health_rps": health.rps})
        return figures
    finally:
        bench.stop()


def paired(blocks: int = 30, block: int = 50) -> int:
    """``GET /me`` one request at a time, every layout running at once and asked in turn,
    ``block`` requests each, ``blocks`` times: a load that drifts over minutes falls on
    all alike. p50 over new connections and over one kept connection."""
    with running(Bench.prepare(os.environ.get("BENCH_DB", "postgres"))) as bench:
        bases = {name: start(bench, extra) for name, extra in LAYOUTS.items()}
        tokens = {name: bench.login(base, "demo_dispatcher") for name, base in bases.items()}
        new: dict[str, list[float]] = {name: [] for name in LAYOUTS}
        kept: dict[str, list[float]] = {name: [] for name in LAYOUTS}
        global SAMPLES
        SAMPLES = block
        for name, base in bases.items():
            me_new(base, tokens[name])  # warm
        for _ in range(blocks):
            for name, base in bases.items():
                new[name] += me_new(base, tokens[name])
                kept[name] += me_kept(base, tokens[name])
    print(f"GET /me p50, {blocks} blocks of {block} requests per layout, in turn")
    for name in LAYOUTS:
        print(
            f"{name:<12} new connection {statistics.median(new[name]):6.3f} ms   kept {statistics.median(kept[name]):6.3f} ms"
        )
    return 0


def main(argv: list[str]) -> int:
    if argv[1:2] == ["paired"]:
        return paired()
    rounds = int(argv[1]) if len(argv) > 1 else 3
    with running(Bench.prepare(os.environ.get("BENCH_DB", "postgres"))) as bench:
        print(f"seeding {events.EVENTS} events…", flush=True)
        bench.manage("seed_demo", "--events", str(events.EVENTS), "-v0")
        bench.settle()
        base = start(bench, [])
        secretary = bench.login(base, "demo_secretary")
        grid = events._get(base, "/territory/grids", secretary)["items"][0]
        ring = events._get(base, f"/territory/grids/{grid['id']}", secretary)["polygon"]["coordinates"][0]
        bench.stop()
        context = {
            "location": {"lat": (ring[0][1] + ring[2][1]) / 2, "lng": (ring[0][0] + ring[2][0]) / 2, "crs": "wgs84"},
            "platform_id": int(bench.manage("shell", "-c", events.PLATFORM_SCRIPT).strip().splitlines()[-1]),
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in LAYOUTS}
        for number in range(rounds):
            for name, extra in LAYOUTS.items():
                load = Path("/proc/loadavg").read_text().split()[0]
                figures = measure(bench, extra, context)
                results[name].append(figures)
                shown = ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
                print(f"round {number + 1} {name} (load {load}): {shown}", flush=True)
    print("\nmedians over", rounds, "rounds")
    keys = list(next(iter(results.values()))[0])
    print("layout".ljust(12) + "".join(k.rjust(23) for k in keys))
    for name, rows in results.items():
        print(name.ljust(12) + "".join(f"{statistics.median(r[k] for r in rows):23.2f}" for k in keys))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
