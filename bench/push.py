"""Group ``push``: dispatch-to-receive latency with 1,000 websocket connections on one
daphne process, replay of 100 missed notifications, and memory per connection.

1,000 connections from 1,000 users (999 idle bench users and the demo grid worker),
opened from this separate process. Each round reports a tip, accepts it and
dispatches it to the grid worker over the HTTP API (gunicorn); the latency runs
from just before the dispatch request to the grid worker's receipt of the
assignment, so it includes the request itself. ``fanout_1000_p99_ms`` is the
harder case measured beside it: one user with 1,000 connections, every one
receiving each assignment. The channel layer is Redis (processes share it)."""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import time
import urllib.request

import websockets

from bench.common import Bench, Figure

CONNECTIONS = 1000
ROUNDS = 100
FANOUT_ROUNDS = 5
IDLE_USERS_SCRIPT = """
import json
from backend.accounts.models import Device, User
from backend.accounts.tokens import issue_access_token
User.objects.bulk_create([User(username=f"bench_ws_{i:04d}", password="!") for i in range(%d)], ignore_conflicts=True)
users = list(User.objects.filter(username__startswith="bench_ws_"))
Device.objects.bulk_create([Device(user=u, device_id="bench-ws") for u in users], ignore_conflicts=True)
devices = Device.objects.filter(user__in=users, device_id="bench-ws")
print(json.dumps([issue_access_token(user_id=d.user_id, device_pk=d.pk, generation=d.token_generation)[0] for d in devices]))
"""
REPLAY = 100


def _call(base: str, path: str, body: dict | None, token: str) -> dict:
    request = urllib.request.Request(
        f"{base}/api/v1{path}",
        json.dumps(body).encode() if body is not None else None,
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def run(bench: Bench) -> dict[str, Figure]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    bench.env["REDIS_URL"] = bench.env.get("REDIS_URL") or "redis://127.0.0.1:6379/12"
    http = bench.start_http()
    ws = bench.start_daphne()
    daphne_pid = bench.processes[-1].pid
    worker = bench.login(http, "demo_grid_worker")
    dispatcher = bench.login(http, "demo_dispatcher")
    resident = bench.login(http, "demo_resident")
    secretary = bench.login(http, "demo_secretary")
    worker_id = _call(http, "/me", None, worker)["id"]
    grid = _call(http, "/territory/grids", None, dispatcher)["items"][0]
    ring = _call(http, f"/territory/grids/{grid['id']}", None, dispatcher)["polygon"]["coordinates"][0]
    location = {"lat": (ring[0][1] + ring[2][1]) / 2, "lng": (ring[0][0] + ring[2][0]) / 2, "crs": "wgs84"}
    url = ws.replace("http://", "ws://") + "/ws/v1/"

    idle_tokens = json.loads(
        bench.manage("shell", "-c", IDLE_USERS_SCRIPT % (CONNECTIONS - 1)).strip().splitlines()[-1]
    )

    async def open_all(tokens: list[str]) -> list:
        sockets = []
        for start in range(0, len(tokens), 100):
            batch = await asyncio.gather(
                *[
                    websockets.connect(
                        f"{url}?after={_call(http, '/notifications', None, worker)['latest_seq'] if token == worker else 0}",
                        additional_headers={"Authorization": f"Bearer {token}"},
                        max_queue=None,
                        ping_interval=None,
                    )
                    for token in tokens[start : start + 100]
                ]
            )
            for socket_ in batch:
                await socket_.recv()  # hello
            sockets.extend(batch)
        return sockets

    async def rounds(sockets: list, listeners: list, count: int) -> list[float]:
        latencies: list[float] = []
        for _ in range(count):
            event = await asyncio.to_thread(
                _call,
                http,
                "/events",
                {
                    "source": "public_tip",
                    "category": "06.01",
                    "description": "bench",
                    "location": location,
                    "before_photos": ["sha256:bench"],
                },
                resident,
            )
            await asyncio.to_thread(_call, http, f"/events/{event['id']}/accept", {}, dispatcher)
            sent = time.perf_counter()
            dispatch = asyncio.create_task(
                asyncio.to_thread(
                    _call, http, f"/events/{event['id']}/dispatch", {"grid_worker_id": worker_id}, dispatcher
                )
            )

            async def receive(socket_) -> float:
                while True:
                    message = json.loads(await socket_.recv())
                    if message.get("type") == "notification" and message.get("event_id") == event["id"]:  # noqa: B023 (awaited within the iteration)
                        return (time.perf_counter() - sent) * 1000  # noqa: B023

            latencies += await asyncio.wait_for(asyncio.gather(*[receive(s) for s in listeners]), 60)
            await dispatch
        return latencies

    async def scenario() -> dict:
        baseline_kb = _rss_kb(daphne_pid)
        sockets = await open_all([*idle_tokens, worker])
        await asyncio.sleep(1)
        connected_kb = _rss_kb(daphne_pid)
        latencies = sorted(await rounds(sockets, sockets[-1:], ROUNDS))
        await asyncio.gather(*[s.close() for s in sockets])

        fanout_sockets = await open_all([worker] * CONNECTIONS)
        fanout = sorted(await rounds(fanout_sockets, fanout_sockets, FANOUT_ROUNDS))
        await asyncio.gather(*[s.close() for s in fanout_sockets])

        # Replay: 100 notifications missed by the secretary, received on reconnect.
        replay_ms = []
        for _ in range(5):
            before = _call(http, "/notifications", None, secretary)["latest_seq"]
            bench.manage(
                "shell",
                "-c",
                (
                    "from push.services import notify; from backend.accounts.models import User; "
                    f"u = User.objects.get(username='demo_secretary'); [notify(users=[u.pk], kind='urge', title='催办') for _ in range({REPLAY})]"
                ),
            )
            started = time.perf_counter()
            async with websockets.connect(
                f"{url}?after={before}", additional_headers={"Authorization": f"Bearer {secretary}"}, max_queue=None
            ) as socket_:
                received = 0
                while received < REPLAY:
                    if json.loads(await socket_.recv()).get("type") == "notification":
                        received += 1
            replay_ms.append((time.perf_counter() - started) * 1000)
        return {
            "latencies": latencies,
            "fanout": fanout,
            "replay_ms": statistics.median(replay_ms),
            "per_connection_kb": (connected_kb - baseline_kb) / CONNECTIONS,
        }

    result = asyncio.run(scenario())
    latencies = result["latencies"]
    return {
        "connections": Figure(CONNECTIONS, "connections"),
        "deliveries": Figure(len(latencies), "messages"),
        "dispatch_p50_ms": Figure(statistics.median(latencies), "ms"),
        "dispatch_p99_ms": Figure(latencies[int(len(latencies) * 0.99) - 1], "ms", baseline="dispatch_p50_ms"),
        "fanout_1000_p50_ms": Figure(statistics.median(result["fanout"]), "ms", baseline="dispatch_p50_ms"),
        "fanout_1000_p99_ms": Figure(
            result["fanout"][int(len(result["fanout"]) * 0.99) - 1], "ms", baseline="dispatch_p99_ms"
        ),
        "replay_100_ms": Figure(result["replay_ms"], "ms"),
        "memory_per_connection_kb": Figure(result["per_connection_kb"], "KiB"),
    }
