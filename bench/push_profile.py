"""Where a push of reports goes, in process (issue 24): a phone's batches of 100
``event.report`` mutations (``bench/sync.py``'s bodies) sent through Django's WSGI
handler as a gunicorn worker would hand them, against the database and Redis the
environment names.

Per batch: the server's CPU (``time.process_time`` around the handler, on-commit
sends included), its wall time, the time spent in statements (``execute_wrapper``;
COPY included, through ``statements.through_django``) and the statements. The
``COMMIT`` is timed on its own (Django's ``commit`` is not a statement it wraps).
``--profile N``: cProfile (CPU time) of the batches, the N costliest functions by
their own time and by cumulative time.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/grid_push_prof \\
    REDIS_URL=redis://127.0.0.1:6379/12 python bench/push_profile.py --batches 30

The database must hold the demo (``manage.py migrate``, ``seed_demo --password
bench-pass-2026 --addresses 0``). A diagnostic, not a bench group: its figures go into
docs/sync.md ("Benchmarks") with the machine's load."""

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions (cProfile, CPU)")
    parser.add_argument("--dump", help="write the cProfile statistics to this file (with --profile)")
    parser.add_argument("--statements", action="store_true", help="print the last batch's statements with their times")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection, connections
    from django.test.client import RequestFactory

    from backend.core.runtime import tune_gc
    from backend.wsgi import application
    from bench.common import PASSWORD
    from bench.sync import centre, check_pushed, push_bodies, report_args
    from sync.client import Phone

    factory = RequestFactory(HTTP_HOST="127.0.0.1")

    class InProcess:
        """``sync.client``'s transport, answered by the WSGI handler in this process."""

        def exchange(self, path: str, data: bytes, token: str | None) -> tuple[int, bytes]:
            headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
            request = factory.post(f"/api/v1{path}", data, content_type="application/json", **headers)
            status = []
            response = application(request.environ, lambda s, h, *a: status.append(s))
            content = b"".join(response)
            response.close()  # request_finished, as the server sends it
            return int(status[0].split()[0]), content

        def post(self, path: str, body: dict, token: str | None) -> tuple[int, dict]:
            status, raw = self.exchange(path, json.dumps(body).encode(), token)
            return status, json.loads(raw or b"{}")

    phone = Phone(InProcess())
    phone.login("demo_grid_worker", PASSWORD)
    phone.pull(limit=1000)
    lat, lng = centre(phone)
    token = phone.meta("access_token")

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()" if connection.vendor == "postgresql" else "SELECT NULL")
        backend_pid = cursor.fetchone()[0]
    schedstat = Path(f"/proc/{backend_pid}/schedstat")

    def backend_cpu_ms() -> float:
        """The database backend's CPU (PostgreSQL on this machine: its schedstat, in ns)."""
        try:
            return int(schedstat.read_text().split()[0]) / 1e6
        except (OSError, ValueError):
            return float("nan")

    seen: list = []
    recording = [False]

    def timer(execute, sql, params, many, context):
        started, started_server = time.perf_counter(), backend_cpu_ms()
        try:
            return execute(sql, params, many, context)
        finally:
            if recording[0]:
                seen.append(((time.perf_counter() - started) * 1000, sql, backend_cpu_ms() - started_server))

    wrapper_type = type(connections["default"])
    real_commit = wrapper_type._commit

    def timed_commit(self):
        started, started_server = time.perf_counter(), backend_cpu_ms()
        try:
            return real_commit(self)
        finally:
            if recording[0]:
                seen.append(((time.perf_counter() - started) * 1000, "COMMIT", backend_cpu_ms() - started_server))

    wrapper_type._commit = timed_commit

    profile = cProfile.Profile(time.process_time) if args.profile else None
    cpu, wall, in_sql, commits, counts, server = [], [], [], [], [], []
    per_statement: dict[str, list[tuple[float, float]]] = {}  # a statement -> (wall, DB CPU) in each batch

    def batch(record: bool) -> None:
        body = push_bodies(phone, [[report_args(lat, lng) for _ in range(args.size)]])[0]
        seen.clear()
        recording[0] = record
        if profile and record:
            profile.enable()
        started_cpu, started, started_server = time.process_time(), time.perf_counter(), backend_cpu_ms()
        answer = phone.transport.exchange("/sync/push", body, token)
        elapsed_cpu, elapsed = time.process_time() - started_cpu, time.perf_counter() - started
        elapsed_server = backend_cpu_ms() - started_server
        if profile:
            profile.disable()
        recording[0] = False
        check_pushed([answer])
        if record:
            cpu.append(elapsed_cpu * 1000)
            server.append(elapsed_server)
            wall.append(elapsed * 1000)
            in_sql.append(sum(ms for ms, sql, _ in seen if sql != "COMMIT"))
            commits.append(sum(ms for ms, sql, _ in seen if sql == "COMMIT"))
            counts.append(sum(1 for _, sql, _ in seen if sql != "COMMIT"))
            for i, (ms, sql, server_ms) in enumerate(seen):
                per_statement.setdefault(f"{i:2d} {' '.join(sql.split())[:90]}", []).append((ms, server_ms))

    tune_gc()  # as the serving processes do (backend/wsgi.py)
    with connection.execute_wrapper(timer):
        for _ in range(3):
            batch(record=False)
        for _ in range(args.batches):
            batch(record=True)

    print(
        f"{args.batches} batches of {args.size} reports on {connection.vendor}; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'':8} {'CPU ms':>8} {'DB CPU ms':>9} {'wall ms':>8} {'in SQL ms':>9} {'COMMIT ms':>9} {'statements':>10}")
    for label, pick in (("p50", statistics.median), ("mean", statistics.fmean), ("min", min)):
        print(
            f"{label:8} {pick(cpu):8.2f} {pick(server):9.2f} {pick(wall):8.2f} {pick(in_sql):9.2f} "
            f"{pick(commits):9.2f} {statistics.median(counts):10.0f}"
        )
    if args.statements:
        print("\neach statement, in order: wall ms (median, least), DB CPU ms (median, mean)")
        for sql, times in per_statement.items():
            walls, servers = [w for w, _ in times], [c for _, c in times]
            print(
                f"  {statistics.median(walls):6.3f} {min(walls):6.3f}  "
                f"{statistics.median(servers):6.3f} {statistics.fmean(servers):6.3f}  {sql}"
            )
    if profile and args.dump:
        profile.dump_stats(args.dump)
    if profile:
        for order in ("tottime", "cumulative"):
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats(order).print_stats(args.profile)
            print(text.getvalue())


if __name__ == "__main__":
    main()
