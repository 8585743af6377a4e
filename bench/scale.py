"""Group ``scale``: ten district-years of history (1.75 M events) in one PostgreSQL
database, and ten thousand phones.

The database (``BENCH_SCALE_DB``, default ``grid_scale_big``) is built once and kept
(building it is the slow part): the demo district with its 222,800 addresses and one
year of history (``seed_demo --events 175591``), then that year copied nine times in
SQL, each copy k years earlier (new ids and numbers, every timestamp shifted, the
events' history rows and sync log rows copied with them; photos' rows are not copied,
and the copies' hash chains are their originals'). A database that already holds the
ten years is reused as it is.

Over it, through the production HTTP layout (gunicorn), the goals of the ``events`` and
``sync`` groups, printed beside the one-district figures of bench/results/events.json
and sync.json when those exist:

- ``scale_queue_first_page_ms``: the slowest role queue's median first page (≤ 200);
- ``scale_pull_changes_per_s``: a street-wide grid worker's full resync, median of three
  (≥ 20,000);
- ``scale_push_mutations_per_s``: four phones pushing batches of 100 reports (≥ 3,000).

Then ``phones_10000``: 10,000 phones (devices of the district's grid workers, each up
to date: its cursor at the head of the log) each sync once, as they would in five
minutes, compressed: four at a time (one a gunicorn worker), as fast as the server answers. A sync is a pull from
the phone's cursor, and for one phone in ten first a push of one report (so that the
other phones of that grid pull it). Meanwhile 2,000 websockets stay open on a daphne
process. ``phones_10000_p99_ms`` is the 99th percentile of the server's own time per
request (its access log's ``duration_ms``), goal ≤ 200. ``phones_syncs_per_cpu_s``:
syncs per CPU second of the gunicorn workers (their CPU time over the run), the
capacity per core; the province needs 26,000 phones × one sync in 300 s."""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import events as events_group
from bench import sync as sync_group
from bench.common import PASSWORD, PYTHON, RESULTS, ROOT, Bench, Figure, free_port, gunicorn_command

SCALE_DB = os.environ.get("BENCH_SCALE_DB", "grid_scale_big")
YEAR_EVENTS = 175_591
COPIES = 9
PHONES = int(os.environ.get("BENCH_PHONES", "10000"))
SOCKETS = int(os.environ.get("BENCH_SOCKETS", "2000"))
CONCURRENCY = 4  # one a gunicorn worker: the server time measured is work, not waiting for a worker
PUSH_EVERY = 10  # one sync in ten carries a report

# One copy k of the seeded year, k years earlier: ids from the originals' by md5, the
# number's first serial digit (0 in a seeded year) set to k.
SHIFT = ":'k' * interval '1 year'"
TIMES = (
    "deadline_at overdue_at last_escalated_at extension_requested_until reported_at device_reported_at "
    "accepted_at dispatched_at signed_at handled_at closed_at evaluated_at updated_at"
).split()
COPY_SQL = """
SET synchronous_commit = off;
INSERT INTO events_event ({columns})
SELECT {values} FROM events_event WHERE substr(number, 7, 1) = '0';
INSERT INTO events_eventaction (seq, action, actor_role, device_ref, from_state, to_state, note, data, server_at,
    device_at, prev_hash, hash, actor_id, device_id, event_id)
SELECT a.seq, a.action, a.actor_role, a.device_ref, a.from_state, a.to_state, a.note, a.data, a.server_at - {shift},
    a.device_at - {shift}, a.prev_hash, a.hash, a.actor_id, a.device_id, md5(a.event_id::text || :'k')::uuid
FROM events_eventaction a JOIN events_event e ON e.id = a.event_id WHERE substr(e.number, 7, 1) = '0';
INSERT INTO sync_change (stamp, bucket, kind, entity_id, deleted)
SELECT c.stamp, c.bucket, c.kind, md5(c.entity_id || :'k')::uuid::text, c.deleted
FROM sync_change c JOIN events_event e ON e.id::text = c.entity_id
WHERE c.kind = 'event' AND substr(e.number, 7, 1) = '0';
"""

PHONES_SCRIPT = """
import json, os
from backend.accounts.models import Device, Role, RoleAssignment
from backend.accounts.scope import scope_of
from backend.accounts.tokens import issue_access_token
from backend.territory.demo import cell_centre
from backend.territory.models import Grid
from sync.changes import stamp_changes
from sync.entities import buckets_for
from sync.pull import SKIP_AHEAD_ID, Cursor

count, run = int(os.environ["SCALE_PHONES"]), os.environ["SCALE_RUN"]
grids = list(Grid.objects.order_by("code").values_list("id", flat=True))
workers = list(
    RoleAssignment.objects.filter(role=Role.GRID_WORKER, grid__isnull=False)
    .select_related("user").order_by("user_id")
)
clock = stamp_changes()
phones, cursors = [], {}
devices = Device.objects.bulk_create(
    [Device(user=workers[i % len(workers)].user, device_id=f"scale-{run}-{i}") for i in range(count)]
)
for i, device in enumerate(devices):
    assignment = workers[i % len(workers)]
    user = assignment.user
    if user.pk not in cursors:
        cursors[user.pk] = Cursor(
            epoch=clock.epoch, user=user.pk, buckets=buckets_for(scope_of(user)), stamp=clock.stamp, id=SKIP_AHEAD_ID
        ).encode()
    lng, lat = cell_centre(grids.index(assignment.grid_id))
    token, _ = issue_access_token(user_id=user.pk, device_pk=device.pk, generation=device.token_generation)
    phones.append({"device_id": device.device_id, "token": token, "cursor": cursors[user.pk], "lat": lat, "lng": lng})
print(json.dumps(phones))
"""


def psql(env: dict, sql: str, *variables: str) -> str:
    args = ["psql", env["DATABASE_URL"], "-v", "ON_ERROR_STOP=1", "-Atq", *variables, "-c", sql]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def build(bench: Bench) -> dict[str, Figure]:
    """Point the bench at the ten-year database, building it if needed."""
    bench.env["DATABASE_URL"] = bench.env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{SCALE_DB}"
    admin = bench.env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    exists = subprocess.run(
        ["psql", admin, "-Atqc", f"SELECT 1 FROM pg_database WHERE datname = '{SCALE_DB}'"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {SCALE_DB}"], check=True)
    bench.manage("migrate", "--noinput", "-v0")
    started = time.monotonic()
    events = int(psql(bench.env, "SELECT count(*) FROM events_event"))
    if events < YEAR_EVENTS:
        bench.manage("seed_demo", "--password", PASSWORD, "--events", str(YEAR_EVENTS), "-v0")
    bench.manage("seed_demo", "--password", PASSWORD, "--addresses", "0", "-v0")  # this run's password
    if int(psql(bench.env, "SELECT count(*) FROM events_event WHERE substr(number, 7, 1) <> '0'")) == 0:
        columns = psql(
            bench.env,
            "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns "
            "WHERE table_name = 'events_event'",
        ).split(",")
        values = []
        for column in columns:
            if column == "id":
                values.append("md5(id::text || :'k')::uuid")
            elif column == "number":
                values.append("'SC' || (substr(number, 3, 4)::int - :k)::text || :'k' || substr(number, 8)")
            elif column == "merged_into_id":
                values.append("md5(merged_into_id::text || :'k')::uuid")  # NULL stays NULL
            elif column in TIMES:
                values.append(f"{column} - {SHIFT}")
            else:
                values.append(column)
        sql = COPY_SQL.format(columns=", ".join(columns), values=", ".join(values), shift=SHIFT)
        for k in range(1, COPIES + 1):
            subprocess.run(
                ["psql", bench.env["DATABASE_URL"], "-v", "ON_ERROR_STOP=1", "-v", f"k={k}", "-q"],
                input=sql,
                text=True,
                check=True,
            )
        bench.settle()
    figures = {
        "scale_events": Figure(int(psql(bench.env, "SELECT count(*) FROM events_event")), "events"),
        "scale_actions": Figure(int(psql(bench.env, "SELECT count(*) FROM events_eventaction")), "rows"),
        "scale_database_gb": Figure(int(psql(bench.env, "SELECT pg_database_size(current_database())")) / 1e9, "GB"),
        "scale_build_s": Figure(time.monotonic() - started, "s"),
    }
    subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", sync_group.WIDE_USER],
        cwd=ROOT,
        env=bench.env,
        check=True,
        capture_output=True,
    )
    return figures


def one_district(group: str, name: str) -> str | None:
    path = RESULTS / f"{group}.json"
    try:
        figure = json.loads(path.read_text())["figures"][name]
    except (OSError, KeyError, ValueError):
        return None
    return f"{name} (one district) = {figure['value']} {figure['unit']}"


def queue_and_sync(bench: Bench, base: str) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    tokens = {persona: bench.login(base, persona) for persona, _ in events_group.QUEUES}
    slowest = max(
        events_group.median_ms(f"{base}/api/v1/events?queue={queue}&page_size=50", tokens[persona])
        for persona, queue in events_group.QUEUES
    )
    figures["scale_queue_first_page_ms"] = Figure(slowest, "ms", baseline=one_district("events", "queue_first_page_ms"))

    wide = sync_group.phone_for(base, "bench_wide")
    sync_group.full_sync_seconds(wide)  # warm every worker
    runs = [sync_group.full_sync_seconds(wide) for _ in range(3)]
    figures["scale_pull_changes"] = Figure(runs[0][2], "changes")
    figures["scale_pull_changes_per_s"] = Figure(
        statistics.median(changes / served for served, _, changes in runs),
        "changes/s",
        baseline=one_district("sync", "pull_changes_per_s"),
    )

    worker = sync_group.phone_for(base, "demo_grid_worker")
    worker.pull(limit=1000)
    lat, lng = sync_group.centre(worker)
    phones = [worker] + [sync_group.phone_for(base, "demo_grid_worker") for _ in range(sync_group.PUSH_PHONES - 1)]
    batches = sync_group.PUSH_BATCHES
    work = {
        id(phone): sync_group.push_bodies(
            phone, [[sync_group.report_args(lat, lng) for _ in range(100)] for _ in range(batches)]
        )
        for phone in phones
    }
    sync_group.check_pushed(sync_group.push_batches(worker, work[id(worker)][:1]))  # warm-up
    work[id(worker)] = work[id(worker)][1:]
    pushed = sum(100 * len(bodies) for bodies in work.values())
    started = time.perf_counter()
    with ThreadPoolExecutor(len(phones)) as pool:
        answers = list(pool.map(lambda phone: sync_group.push_batches(phone, work[id(phone)]), phones))
    wall = time.perf_counter() - started
    for phone_answers in answers:
        sync_group.check_pushed(phone_answers)
    figures["scale_push_mutations_per_s"] = Figure(
        pushed / wall, "mutations/s", baseline=one_district("sync", "push_mutations_per_s")
    )
    return figures


def start_http(
    bench: Bench, env: dict, log: Path | None = None, *, daphne: bool = False
) -> tuple[subprocess.Popen, str]:
    """gunicorn (or daphne) as Bench.start_http starts it, given longer to boot (four
    workers on a busy machine take more than its 30 s), its log to a file when asked."""
    port = free_port()
    command = (
        ["daphne", "-b", "127.0.0.1", "-p", str(port), "backend.asgi:application"]
        if daphne
        else gunicorn_command(port, workers=4)
    )
    with log.open("w") if log else open(os.devnull, "w") as stderr:
        http = subprocess.Popen(
            [PYTHON, "-m", *command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    bench.processes.append(http)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/v1/health", timeout=5).read()
            return http, base
        except OSError:
            if http.poll() is not None:
                raise RuntimeError(f"{command[0]} exited") from None
            time.sleep(0.5)
    raise RuntimeError(f"{command[0]} did not answer on {base}")


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds of these processes and their children (gunicorn's workers)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        for child in [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]:
            try:
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def hold_sockets(base: str, phones: list[dict], opened: list, stop: threading.Event) -> None:
    import websockets

    async def main():
        url = base.replace("http://", "ws://") + "/ws/v1/"
        sockets = []
        for phone in phones:
            try:
                socket_ = await asyncio.wait_for(
                    websockets.connect(url, additional_headers={"Authorization": f"Bearer {phone['token']}"}), 10
                )
                await asyncio.wait_for(socket_.recv(), 10)  # hello
                sockets.append(socket_)
            except (OSError, TimeoutError, websockets.WebSocketException):
                pass
        opened.append(len(sockets))
        while not stop.is_set():
            await asyncio.sleep(0.5)
        opened.append(sum(1 for s in sockets if s.state.name == "OPEN"))
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)

    asyncio.run(main())


def phones_load(bench: Bench) -> dict[str, Figure]:
    bench.env["ACCESS_TOKEN_MINUTES"] = "60"  # the tokens are made before the run starts
    phones = json.loads(
        subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", PHONES_SCRIPT],
            cwd=ROOT,
            env={**bench.env, "SCALE_PHONES": str(PHONES), "SCALE_RUN": str(int(time.time()))},
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    log = ROOT / "var" / "bench-scale-access.log"
    http, base = start_http(bench, {**bench.env, "LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}, log)
    ws, ws_base = start_http(bench, bench.env, daphne=True)
    daphne = ws.pid
    daphne_rss_before = rss_mb(daphne)

    opened: list[int] = []
    stop = threading.Event()
    holder = threading.Thread(target=hold_sockets, args=(ws_base, phones[:SOCKETS], opened, stop))
    holder.start()
    while not opened and holder.is_alive():
        time.sleep(0.5)
    daphne_rss = rss_mb(daphne)
    daphne_cpu_before = cpu_seconds([daphne])

    def exchange(path: str, body: dict, token: str) -> dict:
        request = urllib.request.Request(
            f"{base}/api/v1{path}",
            json.dumps(body).encode(),
            {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def sync(index: int) -> int:
        phone = phones[index]
        if index % PUSH_EVERY == 0:
            args = sync_group.report_args(phone["lat"], phone["lng"])
            body = {
                "device_id": phone["device_id"],
                "protocol_version": 2,
                "client_time": "2026-12-01T00:00:00+00:00",
                "mutations": [{"id": 1, "name": "event.report", "args": args}],
            }
            answer = exchange("/sync/push", body, phone["token"])
            assert answer["results"][0]["status"] == "applied", answer
        changes, cursor = 0, phone["cursor"]
        while True:
            page = exchange(
                "/sync/pull",
                {"device_id": phone["device_id"], "protocol_version": 2, "cursor": cursor, "limit": 500},
                phone["token"],
            )
            changes += len(page["changes"])
            cursor = page["cursor"]
            if not page["has_more"]:
                return changes

    order = list(range(len(phones)))
    random.Random(23).shuffle(order)
    with ThreadPoolExecutor(CONCURRENCY) as pool:  # warm every worker (imports, prepared statements)
        list(pool.map(sync, [i for i in order[:64] if i % PUSH_EVERY]))
    log_start = log.stat().st_size
    cpu_before = cpu_seconds([http.pid])
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        pulled = sum(pool.map(sync, order))
    wall = time.perf_counter() - started
    cpu = cpu_seconds([http.pid]) - cpu_before
    daphne_cpu = cpu_seconds([daphne]) - daphne_cpu_before
    stop.set()
    holder.join(timeout=60)

    durations = []
    with log.open() as lines:
        lines.seek(log_start)
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("route", "").startswith("api/v1/sync/"):
                durations.append(entry["duration_ms"])
    durations.sort()
    return {
        "phones": Figure(len(phones), "phones"),
        "phones_requests": Figure(len(durations), "requests"),
        "phones_changes_pulled": Figure(pulled, "changes"),
        "phones_10000_p99_ms": Figure(durations[int(len(durations) * 0.99)], "ms"),
        "phones_10000_p50_ms": Figure(durations[len(durations) // 2], "ms"),
        "phones_syncs_per_s": Figure(len(phones) / wall, "syncs/s"),
        "phones_needed_syncs_per_s": Figure(len(phones) / 300, "syncs/s"),
        "phones_cpu_s": Figure(cpu, "s"),
        "phones_syncs_per_cpu_s": Figure(len(phones) / cpu, "syncs/s per core"),
        "phones_cpu_ms_per_request": Figure(cpu * 1000 / len(durations), "ms"),
        "sockets_daphne_mb_per_1000": Figure((daphne_rss - daphne_rss_before) * 1000 / max(opened[0], 1), "MB"),
        "sockets_daphne_cpu_share": Figure(daphne_cpu / wall, "cores"),
        "sockets_opened": Figure(opened[0] if opened else 0, "sockets"),
        "sockets_open_at_end": Figure(opened[1] if len(opened) > 1 else 0, "sockets"),
    }


def run(bench: Bench) -> dict[str, Figure]:
    if bench.database != "postgres":
        print("  the scale group runs on PostgreSQL only (BENCH_DB=postgres): nothing measured")
        return {}
    figures = build(bench)
    _, base = start_http(bench, bench.env)
    figures.update(queue_and_sync(bench, base))
    bench.stop()
    figures.update(phones_load(bench))
    return figures
