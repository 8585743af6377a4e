"""make replica: the read replica rule (backend/core/db_router.py) against a real
PostgreSQL streaming replica on this machine.

1. Builds, once, two clusters of this machine's PostgreSQL: a primary on port 5442
   (``wal_level=replica``, replication trusted from 127.0.0.1) and its replica on 5443,
   made by ``pg_basebackup -R`` (a hot standby streaming from the primary). Both are
   started if they are stopped.
2. A fresh database on the primary (migrated, the demo district), seen on the replica.
3. With ``DATABASE_URL`` on the primary and ``DATABASE_REPLICA_URL`` on the replica, in
   one Django process through the whole request stack (django.test.Client), with the
   replica's replay paused so that it lags by exactly what is written meanwhile:
   - a grid worker reports an event; right after, her queue and her phone's pull
     (primary: pinned by her write) have it;
   - the community secretary's queue does not (the replica answered it);
   - after the pin expires, neither her queue nor a pull from her older cursor has it
     (replica), and her newer cursor (from the primary) is still answered, not reset;
   - replay resumes: the secretary's queue has it, and the cursor the lagging pull gave
     brings it (the replica's pull never skips ahead past what it has replayed).
Exits non-zero on any failed check. ``--reuse``: keep the drill's database if it exists. Environment: REPLICA_DRILL_REDIS (the pins' cache,
default redis://127.0.0.1:6379/7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = os.environ.get("PG_VERSION") or sorted(os.listdir("/etc/postgresql"))[-1]
PRIMARY_PORT, REPLICA_PORT = 5442, 5443
PRIMARY, REPLICA = "scaleprimary", "scalereplica"
DATABASE = "grid_scale_drill"
PIN_SECONDS = 2


def sh(*command: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result


def psql(port: int, sql: str, database: str = "postgres") -> str:
    return sh("psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", database, "-Atqc", sql).stdout.strip()


def clusters() -> dict[str, str]:
    lines = sh("pg_lsclusters", "-h").stdout.splitlines()
    return {line.split()[1]: line.split()[3] for line in lines if line.split()[0] == VERSION}


def wait_ready(port: int) -> None:
    for _ in range(60):
        if sh("pg_isready", "-h", "127.0.0.1", "-p", str(port), "-q", check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise SystemExit(f"PostgreSQL on port {port} did not start")


def build_clusters() -> None:
    found = clusters()
    if PRIMARY not in found:
        sh(
            "pg_createcluster", VERSION, PRIMARY, "--port", str(PRIMARY_PORT),
            "-o", "wal_level=replica", "-o", "max_wal_senders=4",
            "-o", "hot_standby=on", "-o", "shared_buffers=64MB", "-o", "fsync=off",
            "--", "--auth-local=trust", "--auth-host=trust",
        )  # fmt: skip
        found = clusters()
    if not found[PRIMARY].startswith("online"):
        sh("pg_ctlcluster", VERSION, PRIMARY, "start")
    wait_ready(PRIMARY_PORT)
    if REPLICA not in found:
        sh(
            "pg_createcluster", VERSION, REPLICA, "--port", str(REPLICA_PORT),
            "-o", "hot_standby=on", "-o", "shared_buffers=64MB",
            "--", "--auth-local=trust", "--auth-host=trust",
        )  # fmt: skip
        data = Path(f"/var/lib/postgresql/{VERSION}/{REPLICA}")
        sh("find", str(data), "-mindepth", "1", "-delete")  # pg_basebackup fills an empty directory
        sh(
            "runuser", "-u", "postgres", "--", "pg_basebackup", "-h", "127.0.0.1", "-p", str(PRIMARY_PORT),
            "-U", "postgres", "-D", str(data), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        found = clusters()
    if not found[REPLICA].startswith("online"):
        sh("pg_ctlcluster", VERSION, REPLICA, "start")
    wait_ready(REPLICA_PORT)
    if psql(REPLICA_PORT, "SELECT pg_is_in_recovery()") != "t":
        raise SystemExit(f"the cluster on port {REPLICA_PORT} is not a standby")


def main() -> int:
    started = time.monotonic()
    build_clusters()
    psql(REPLICA_PORT, "SELECT pg_wal_replay_resume()")  # a drill stopped halfway may have left it paused
    fresh = "--reuse" not in sys.argv or not psql(
        PRIMARY_PORT, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
    )
    if fresh:
        psql(PRIMARY_PORT, f"DROP DATABASE IF EXISTS {DATABASE}")
        psql(PRIMARY_PORT, f"CREATE DATABASE {DATABASE}")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DJANGO_ENV": "development",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{PRIMARY_PORT}/{DATABASE}",
        "DATABASE_REPLICA_URL": f"postgres://postgres@127.0.0.1:{REPLICA_PORT}/{DATABASE}",
        "DATABASE_REPLICA_PIN_SECONDS": str(PIN_SECONDS),
        "REDIS_URL": os.environ.get("REPLICA_DRILL_REDIS", "redis://127.0.0.1:6379/7"),
    }
    for args in (["migrate", "--noinput", "-v0"], ["seed_demo", "--addresses", "0", "-v0"])[: 2 if fresh else 1]:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)
    result = subprocess.run([sys.executable, __file__, "--checks"], cwd=ROOT, env=env)
    print(f"replica drill: {'passed' if result.returncode == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return result.returncode


def checks() -> int:
    """Runs inside Django, with the replica configured."""
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from backend.accounts.services import auth_login
    from backend.core.db_router import REPLICA
    from backend.territory.demo import cell_centre
    from backend.territory.models import Grid

    failures: list[str] = []

    def check(condition: bool, what: str) -> None:
        print(f"  {'ok  ' if condition else 'FAIL'} {what}")
        if not condition:
            failures.append(what)

    def caught_up() -> bool:
        primary_lsn = psql(PRIMARY_PORT, "SELECT pg_current_wal_lsn()")
        return psql(REPLICA_PORT, f"SELECT pg_last_wal_replay_lsn() >= '{primary_lsn}'::pg_lsn") == "t"

    def wait_caught_up() -> None:
        for _ in range(100):
            if caught_up():
                return
            time.sleep(0.1)
        raise SystemExit("the replica did not catch up in 10 s")

    class Phone:
        def __init__(self, username: str):
            self.device_id = f"drill-{username}"
            pair = auth_login(username=username, password="demo-pass-2026", device_id=self.device_id, address="::1")
            self.client = Client(headers={"Authorization": f"Bearer {pair.access_token}"})

        def get(self, path: str, **params):
            return self.client.get(f"/api/v1{path}", params)

        def post(self, path: str, body: dict):
            return self.client.post(f"/api/v1{path}", json.dumps(body), content_type="application/json")

        def numbers_in_queue(self, queue: str) -> set[str]:
            answer = self.get("/events", queue=queue, page_size=100)
            assert answer.status_code == 200, answer.content
            return {item["number"] for item in answer.json()["items"]}

        def pull(self, cursor: str | None) -> tuple[set[str], str]:
            """The event ids of the pages from ``cursor`` to the end, and the last cursor."""
            ids = set()
            while True:
                answer = self.post(
                    "/sync/pull", {"device_id": self.device_id, "protocol_version": 2, "cursor": cursor, "limit": 1000}
                )
                assert answer.status_code == 200, answer.content
                page = answer.json()
                assert page.get("reset") is None, page["reset"]
                ids |= {change["id"] for change in page["changes"] if change["kind"] == "event"}
                cursor = page["cursor"]
                if not page["has_more"]:
                    return ids, cursor

    worker, secretary = Phone("demo_grid_worker"), Phone("demo_secretary")
    wait_caught_up()
    _, synced = worker.pull(None)  # the phone is up to date before the replica starts lagging
    wait_caught_up()
    psql(REPLICA_PORT, "SELECT pg_wal_replay_pause()")
    try:
        grids = list(Grid.objects.order_by("code").values_list("code", flat=True))
        lng, lat = cell_centre(grids.index("330102001001001"))
        reported = worker.post(
            "/events",
            {
                "source": "grid_patrol",
                "category": "06.01",
                "description": "只读副本演练 replica drill",
                "location": {"lat": lat, "lng": lng, "crs": "wgs84"},
            },
        )
        check(reported.status_code == 201, f"the grid worker reports an event (HTTP {reported.status_code})")
        number, event_id = reported.json()["number"], reported.json()["id"]
        check(not caught_up(), "the replica lags behind the primary (replay paused)")
        check(number in worker.numbers_in_queue("my_reports"), "right after her write, her queue has it (primary)")
        pulled, ahead = worker.pull(synced)
        check(event_id in pulled, "right after her write, her phone's pull has it (primary)")
        with CaptureQueriesContext(connections[REPLICA]) as on_replica:
            check(
                number not in secretary.numbers_in_queue("all"), "the secretary's queue does not have it yet (replica)"
            )
        check(len(on_replica) > 0, f"the replica answered that read ({len(on_replica)} statements)")
        time.sleep(PIN_SECONDS + 0.5)
        check(number not in worker.numbers_in_queue("my_reports"), "once her pin expired, her queue reads the replica")
        pulled, lagging = worker.pull(synced)
        check(event_id not in pulled, "and a pull from before her write reads the replica, without the event")
        pulled, _ = worker.pull(ahead)
        check(not pulled, "a cursor from beyond the replica's log is answered (by the primary), not reset")
        detail = worker.get("/events/" + event_id)
        check(detail.status_code == 200, "one event's detail is never lagging (primary)")
    finally:
        psql(REPLICA_PORT, "SELECT pg_wal_replay_resume()")
    wait_caught_up()
    check(number in secretary.numbers_in_queue("all"), "after replay resumed, the secretary's queue has it")
    pulled, _ = worker.pull(lagging)
    check(event_id in pulled, "the cursor the lagging pull gave skipped nothing: the next pull brings the event")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(checks() if "--checks" in sys.argv else main())
