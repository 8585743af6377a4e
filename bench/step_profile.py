"""Where a step's time goes, in process (issue 24): the bench's loop (report, accept,
dispatch, sign, handle, approve) run through Django's WSGI handler with the request a
gunicorn worker would hand it, against the database and Redis the environment names.

For each step: the server's CPU (``time.process_time`` around the handler, on-commit
sends included), its wall time, and its statements with the wall time of each
(``connection.execute_wrapper``). ``--profile N``: cProfile (CPU time) of the steps,
the N costliest functions by their own time and by cumulative time.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/grid_steps_prof \\
    REDIS_URL=redis://127.0.0.1:6379/10 python bench/step_profile.py --rounds 30

The database must hold the demo (``manage.py migrate``, ``seed_demo --password
bench-pass-2026 --addresses 0``). A diagnostic, not a bench group: its figures go into
docs/architecture.md ("Writes: a step") with the machine's load."""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")

STEPS = ("report", "accept", "dispatch", "sign", "handle", "approve")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions (cProfile, CPU)")
    parser.add_argument("--statements", action="store_true", help="print each step's statements with their times")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test.client import RequestFactory

    from backend.core.runtime import tune_gc
    from backend.wsgi import application
    from bench.common import PASSWORD
    from bench.events import LOOP_CATEGORY, LOOP_PERSONAS, PLATFORM_SCRIPT

    factory = RequestFactory(HTTP_HOST="127.0.0.1")

    def call(method: str, path: str, body: dict | None = None, token: str | None = None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        if method == "POST":
            request = factory.post(path, json.dumps(body or {}), content_type="application/json", **headers)
        else:
            request = factory.get(path, **headers)
        status = []
        response = application(request.environ, lambda s, h, *a: status.append(s))
        content = b"".join(response)
        response.close()  # request_finished, as the server sends it
        if not status[0].startswith(("200", "201")):
            raise RuntimeError(f"{method} {path}: {status[0]} {content[:300]!r}")
        return json.loads(content)

    tokens = {}
    for name in LOOP_PERSONAS:
        body = {"username": name, "password": PASSWORD, "device_id": f"profile-{name}"}
        tokens[name] = call("POST", "/api/v1/auth/login", body)["access_token"]
    namespace: dict = {}
    out = io.StringIO()
    stdout, sys.stdout = sys.stdout, out
    try:
        exec(PLATFORM_SCRIPT, namespace)
    finally:
        sys.stdout = stdout
    platform_id = int(out.getvalue().strip())
    grid = call("GET", "/api/v1/territory/grids", token=tokens["demo_secretary"])["items"][0]
    ring = call("GET", f"/api/v1/territory/grids/{grid['id']}", token=tokens["demo_secretary"])["polygon"]
    ring = ring["coordinates"][0]
    location = {"lat": (ring[0][1] + ring[2][1]) / 2, "lng": (ring[0][0] + ring[2][0]) / 2, "crs": "wgs84"}

    cpu: dict[str, list[float]] = defaultdict(list)
    wall: dict[str, list[float]] = defaultdict(list)
    statements: dict[str, list[tuple[float, str]]] = {}
    per_statement: dict[str, list[float]] = defaultdict(list)  # step -> each round's time in statements
    current: list = [None]

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if current[0] is not None:
                current[0].append(((time.perf_counter() - started) * 1000, sql))

    profile = cProfile.Profile(time.process_time) if args.profile else None

    def timed(name: str, persona: str, path: str, body: dict, record: bool) -> dict:
        seen: list = []
        current[0] = seen
        if profile and record and name != "report":
            profile.enable()
        started_cpu, started = time.process_time(), time.perf_counter()
        answer = call("POST", path, body, tokens[persona])
        elapsed_cpu, elapsed = time.process_time() - started_cpu, time.perf_counter() - started
        if profile:
            profile.disable()
        current[0] = None
        if record:
            cpu[name].append(elapsed_cpu * 1000)
            wall[name].append(elapsed * 1000)
            statements[name] = seen
            per_statement[name].append(sum(ms for ms, _ in seen))
        return answer

    def loop(record: bool) -> None:
        body = {
            "source": "public_tip",
            "category": LOOP_CATEGORY,
            "description": "bench 家里吵架",
            "location": location,
        }
        event = timed("report", "demo_resident", "/api/v1/events", body, record)
        path = f"/api/v1/events/{event['id']}"
        timed("accept", "demo_dispatcher", f"{path}/accept", {}, record)
        timed("dispatch", "demo_dispatcher", f"{path}/dispatch", {"platform_id": platform_id}, record)
        timed("sign", "demo_handler", f"{path}/sign", {}, record)
        timed("handle", "demo_handler", f"{path}/handle", {"result_note": "已调解"}, record)
        closed = timed("approve", "demo_secretary", f"{path}/approve", {}, record)
        assert closed["state"] == "closed", closed

    tune_gc()  # as the serving processes do (backend/wsgi.py)
    with connection.execute_wrapper(timer):
        for _ in range(3):
            loop(record=False)
        for _ in range(args.rounds):
            loop(record=True)

    print(f"{args.rounds} rounds on {connection.vendor}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'step':10} {'CPU ms p50':>10} {'wall ms p50':>11} {'in SQL ms':>10} {'statements':>10}")
    for name in STEPS:
        print(
            f"{name:10} {statistics.median(cpu[name]):10.2f} {statistics.median(wall[name]):11.2f} "
            f"{statistics.median(per_statement[name]):10.2f} {len(statements[name]):10d}"
        )
    timed_steps = [v for n in ("accept", "sign", "handle", "approve") for v in wall[n]]
    print(f"step (accept, sign, handle, approve) wall p50 {statistics.median(timed_steps):.2f} ms")
    if args.statements:
        for name in STEPS:
            print(f"\n{name}:")
            for ms, sql in statements[name]:
                print(f"  {ms:6.3f} ms  {' '.join(sql.split())[:150]}")
    if profile:
        for order in ("tottime", "cumulative"):
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats(order).print_stats(args.profile)
            print(text.getvalue())


if __name__ == "__main__":
    main()
