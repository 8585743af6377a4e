"""End to end over real daphne processes: a dispatch made over HTTP reaches a phone
connected by websocket. With REDIS_URL set (CI's second pass) two daphne processes
share the Redis channel layer and the dispatch goes through one while the phone
listens on the other.

The servers use a database of their own (migrated and seeded here), since they cannot
see the test's uncommitted transaction: a SQLite file, or in CI's second pass a
PostgreSQL database beside the test's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import psycopg
import pytest
import websockets

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "e2e-pass-2026"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_url(database: str) -> str:
    return f"{os.environ['DATABASE_URL'].rsplit('/', 1)[0]}/{database}"


def postgres_admin() -> psycopg.Connection:
    """A connection beside the test's, to make and drop the servers' database."""
    return psycopg.connect(postgres_url("postgres"), autocommit=True)


# Its database is migrated and seeded once per process for the module (about 27 s here), so
# the module's tests go to one process together (``--dist loadgroup``, docs/testing.md).
pytestmark = pytest.mark.xdist_group("realtime_e2e")


@pytest.fixture(scope="module")
def server_env(tmp_path_factory):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DJANGO_ENV": "development",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DB_POOL_SIZE", None)  # what backend/asgi.py chooses is under test
    postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    database = f"grid_e2e_{os.getpid()}"
    if postgres:
        with postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
            admin.execute(f'CREATE DATABASE "{database}"')
        env["DATABASE_URL"] = postgres_url(database)
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'e2e.sqlite3'}"
    for args in (["migrate", "-v0"], ["seed_demo", "--password", PASSWORD, "--addresses", "0", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    yield env
    if postgres:
        with postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


class Server(NamedTuple):
    base: str
    pid: int


@pytest.fixture
def daphne(server_env):
    started = []

    def start() -> str:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backend.asgi:application"],
            cwd=ROOT,
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=1):
                    return Server(base, process.pid)
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(process.stderr.read().decode()[-2000:]) from None
                time.sleep(0.2)
        raise RuntimeError("daphne did not start")

    yield start
    for process in started:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def call(base: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{base}/api/v1{path}", json.dumps(body).encode() if body is not None else None, headers
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def login(base: str, username: str) -> str:
    return call(base, "/auth/login", {"username": username, "password": PASSWORD, "device_id": f"e2e-{username}"})[
        "access_token"
    ]


def dispatch_and_listen(http_base: str, ws_base: str) -> dict:
    worker_token = login(ws_base, "demo_grid_worker")
    dispatcher = login(http_base, "demo_dispatcher")
    resident = login(http_base, "demo_resident")
    worker_id = call(http_base, "/me", token=worker_token)["id"]

    seen = call(ws_base, "/notifications", token=worker_token)["latest_seq"]

    async def scenario() -> dict:
        url = ws_base.replace("http://", "ws://") + f"/ws/v1/?after={seen}"
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {worker_token}"}) as socket_:
            hello = json.loads(await asyncio.wait_for(socket_.recv(), 5))
            assert hello["type"] == "hello"
            grid = call(http_base, "/territory/grids", token=dispatcher)["items"][0]
            polygon = call(http_base, f"/territory/grids/{grid['id']}", token=dispatcher)["polygon"]["coordinates"][0]
            lat, lng = (polygon[0][1] + polygon[2][1]) / 2, (polygon[0][0] + polygon[2][0]) / 2
            event = call(
                http_base,
                "/events",
                {
                    "source": "public_tip",
                    "category": "06.01",
                    "description": "e2e",
                    "location": {"lat": lat, "lng": lng, "crs": "wgs84"},
                    "before_photos": ["sha256:e2e"],
                },
                token=resident,
            )
            call(http_base, f"/events/{event['id']}/accept", {}, token=dispatcher)
            sent_at = time.monotonic()
            call(http_base, f"/events/{event['id']}/dispatch", {"grid_worker_id": worker_id}, token=dispatcher)
            message = json.loads(await asyncio.wait_for(socket_.recv(), 5))
            message["latency_s"] = time.monotonic() - sent_at
            message["expected_event"] = event["id"]
            return message

    return asyncio.run(scenario())


def test_a_dispatch_reaches_a_phone_over_a_real_daphne(daphne):
    base = daphne().base
    message = dispatch_and_listen(base, base)
    assert message["type"] == "notification" and message["kind"] == "assignment"
    assert message["event_id"] == message["expected_event"]
    assert message["latency_s"] < 5


def test_a_dispatch_through_one_daphne_reaches_a_phone_on_another(daphne):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("two processes share a channel layer only through Redis: CI's second pass sets REDIS_URL")
    first, second = daphne().base, daphne().base
    message = dispatch_and_listen(first, second)
    assert message["type"] == "notification" and message["event_id"] == message["expected_event"]


def database_connections(env: dict, pid: int) -> int:
    """The server's open connections to its database: PostgreSQL's sessions on it, or
    the descriptors the daphne process holds on the SQLite file."""
    url = env["DATABASE_URL"]
    if url.startswith("postgres"):
        with postgres_admin() as admin:
            return admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [url.rsplit("/", 1)[1]]
            ).fetchone()[0]
    path = os.path.realpath(url.removeprefix("sqlite:///"))
    descriptors = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in descriptors.iterdir() if os.path.realpath(fd) == path)


def test_daphne_takes_connections_from_a_pool_instead_of_keeping_one_a_request(daphne, server_env):
    # Under ASGI each request runs on a thread of its own: connections kept per thread
    # (CONN_MAX_AGE) were never used again nor closed, one a request, until PostgreSQL
    # refused more clients.
    server = daphne()
    token = login(server.base, "demo_grid_worker")
    with ThreadPoolExecutor(8) as threads:
        names = list(threads.map(lambda _: call(server.base, "/me", token=token)["username"], range(120)))
    assert names == ["demo_grid_worker"] * 120
    assert database_connections(server_env, server.pid) <= 10  # the pool's size (backend/asgi.py)
