"""Group ``peers``: our sync push beside a well-known peer on the same machine, in the
same run, interleaved (so a change in the machine's load touches both).

The peer is pouchdb-server (the CouchDB replication protocol in Node), whose
``_bulk_docs`` takes a batch of documents as our ``/sync/push`` takes a batch of
mutations. It is installed from npm into ``bench/peers/`` the first time (and Node
from Debian's packages if the machine lacks it), started on a free port with its data
on disk, and stopped at the end.

- ``push_1_mutations_per_s`` / ``couchdb_1_docs_per_s``: one client sending batches of
  100 reports (ours: ``event.report`` mutations; the peer: documents of the same JSON),
  one batch after another.
- ``push_4_mutations_per_s`` / ``couchdb_4_docs_per_s``: four clients at once.
- ``push_vs_couchdb_1`` / ``push_vs_couchdb_4``: ours over the peer's, the median of
  the rounds' ratios (each round runs both, one after the other).
- ``rest_report_p50_ms``: ``POST /api/v1/events`` by the same grid worker, one request
  at a time (a REST report is a batch of one through the phones' path), the median of
  ``BENCH_REST_SAMPLES`` (``rest_report`` here is callable on its own).

What each side guarantees is not the same, and ours is the more: a pushed report is
checked (scope, category, grid from the point), numbered, written with its first
hash-chained history row, its change-log row and its ledger row, in a transaction
committed durably (PostgreSQL's fsync). The peer stores the documents in LevelDB
without a sync per write.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import ROOT, Bench, Figure, free_port
from bench.sync import centre, check_pushed, phone_for, push_batches, push_bodies, report_args

PEER_DIR = ROOT / "bench" / "peers"
PEER_VERSION = "4.2.0"
ROUNDS = int(os.environ.get("BENCH_PEER_ROUNDS", "3"))
BATCHES = int(os.environ.get("BENCH_PEER_BATCHES", "10"))  # per client per round
BATCH = 100
CLIENTS = 4
REST_SAMPLES = int(os.environ.get("BENCH_REST_SAMPLES", "200"))


def ensure_peer() -> Path:
    """pouchdb-server's executable, installed into bench/peers/ if it is not there."""
    executable = PEER_DIR / "node_modules" / ".bin" / "pouchdb-server"
    if executable.exists():
        return executable
    if not shutil.which("npm"):
        print("  installing Node from Debian's packages…", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nodejs", "npm"], check=True)
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    print(f"  installing pouchdb-server {PEER_VERSION} from npm into {PEER_DIR.relative_to(ROOT)}/…", flush=True)
    env = dict(os.environ)
    if Path("/usr/include/node/node.h").exists():
        # LevelDB's native module is compiled against the installed Node's headers
        # rather than headers downloaded from nodejs.org (no internet here).
        env["npm_config_nodedir"] = "/usr"
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", f"pouchdb-server@{PEER_VERSION}"],
        cwd=PEER_DIR,
        env=env,
        check=True,
        timeout=900,
    )
    return executable


class Peer:
    def __init__(self, executable: Path):
        self.data = tempfile.mkdtemp(prefix="pouchdb-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(executable), "--port", str(self.port), "--dir", self.data, "--no-stdout-logs"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.data,  # it writes log.txt and config.json into its working folder
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base, timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("pouchdb-server did not start") from None
                time.sleep(0.3)

    def request(self, method: str, path: str, body: bytes | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.base}{path}", body, {"Content-Type": "application/json"}, method=method
        )
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    def database(self) -> str:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        self.request("PUT", f"/{name}")
        return name

    def stop(self) -> None:
        os.killpg(self.process.pid, 15)
        self.process.wait(timeout=10)
        shutil.rmtree(self.data, ignore_errors=True)


def bulk_bodies(lat: float, lng: float, batches: int) -> list[bytes]:
    """The peer's batches: documents of the same JSON as our report mutations' arguments."""
    bodies = []
    for _ in range(batches):
        docs = [
            {"_id": args["id"], "type": "event.report", **args}
            for args in (report_args(lat, lng) for _ in range(BATCH))
        ]
        bodies.append(json.dumps({"docs": docs}).encode())
    return bodies


def post_bulk(peer: Peer, database: str, bodies: list[bytes]) -> None:
    for body in bodies:
        answer = peer.request("POST", f"/{database}/_bulk_docs", body)
        assert len(answer) == BATCH and all(item.get("ok") for item in answer), str(answer)[:300]


def run(bench: Bench) -> dict[str, Figure]:
    peer = Peer(ensure_peer())
    try:
        return measure(bench, peer)
    finally:
        peer.stop()


def measure(bench: Bench, peer: Peer) -> dict[str, Figure]:
    base = bench.start_http()
    phones = [phone_for(base, "demo_grid_worker") for _ in range(CLIENTS)]
    phones[0].pull(limit=1000)
    lat, lng = centre(phones[0])
    figures: dict[str, Figure] = {}
    # Warm both sides once.
    check_pushed(push_batches(phones[0], push_bodies(phones[0], [[report_args(lat, lng) for _ in range(BATCH)]])))
    post_bulk(peer, peer.database(), bulk_bodies(lat, lng, 1))

    ours: dict[int, list[float]] = {1: [], CLIENTS: []}
    theirs: dict[int, list[float]] = {1: [], CLIENTS: []}
    for _ in range(ROUNDS):
        for clients in (1, CLIENTS):
            work = {
                id(phone): push_bodies(phone, [[report_args(lat, lng) for _ in range(BATCH)] for _ in range(BATCHES)])
                for phone in phones[:clients]
            }
            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                answers = list(
                    pool.map(lambda phone, work=work: push_batches(phone, work[id(phone)]), phones[:clients])
                )
            ours[clients].append(clients * BATCHES * BATCH / (time.perf_counter() - started))
            for phone_answers in answers:
                check_pushed(phone_answers)

            databases = [peer.database() for _ in range(clients)]
            peer_work = [bulk_bodies(lat, lng, BATCHES) for _ in range(clients)]
            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(lambda i, d=databases, w=peer_work: post_bulk(peer, d[i], w[i]), range(clients)))
            theirs[clients].append(clients * BATCHES * BATCH / (time.perf_counter() - started))

    for clients in (1, CLIENTS):
        figures[f"push_{clients}_mutations_per_s"] = Figure(statistics.median(ours[clients]), "mutations/s")
        figures[f"couchdb_{clients}_docs_per_s"] = Figure(statistics.median(theirs[clients]), "docs/s")
        ratios = [a / b for a, b in zip(ours[clients], theirs[clients])]
        figures[f"push_vs_couchdb_{clients}"] = Figure(statistics.median(ratios), "x")
    figures["rounds"] = Figure(ROUNDS, "rounds")
    figures.update(rest_report(phones[0], base, lat, lng))
    return figures


def rest_report(phone, base: str, lat: float, lng: float, samples: int = REST_SAMPLES) -> dict[str, Figure]:
    """``rest_report_p50_ms``: one REST report at a time (concurrency 1), its median
    and 90th percentile over ``samples`` requests after a few to warm the workers."""
    token = phone.meta("access_token")
    body = {
        "source": "grid_patrol",
        "category": "06.01",
        "description": "基准测试：REST 上报的暴露垃圾",
        "location": {"lat": lat, "lng": lng, "crs": "wgs84"},
        "before_photos": ["sha256:" + "c" * 64],
    }

    def once() -> float:
        data = json.dumps({**body, "id": str(uuid.uuid4())}).encode()
        request = urllib.request.Request(
            f"{base}/api/v1/events",
            data,
            {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            response.read()
            assert response.status == 201, response.status
        return (time.perf_counter() - started) * 1000

    for _ in range(10):
        once()
    timings = sorted(once() for _ in range(samples))
    return {
        "rest_report_p50_ms": Figure(statistics.median(timings), "ms"),
        "rest_report_p90_ms": Figure(timings[int(len(timings) * 0.9)], "ms"),
    }
