"""Group ``intake``: the camera platform's and the power company's signed batches of
1,000 against gunicorn, and a welfare alert's way to the grid worker's socket.

- ``video_alerts_per_s``: batches of 1,000 alerts from 3,146 cameras (the seed's
  channels): a fifth below their type's threshold (dropped and counted), three in ten
  repeats of a scene (attached to the open alert), the rest new alerts; 4 clients.
- ``power_readings_per_s``: 3,282 meters (689 elders living alone, 2,593 rental flats)
  with 8 days of hourly readings loaded, then 12 more hours of all of them in batches
  of 1,000, every rule evaluated over each batch; 4 clients.
- ``alert_to_phone_ms`` (p50, p99): an elder's reading completing 24 near-zero hours is
  posted; measured from just before the post to the welfare-check notification on the
  grid worker's websocket (daphne), 60 rounds.

The requests are signed here with the contract's recipe (``docs/intake.md``), not with
the server's code."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import statistics
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import websockets

from bench.common import Bench, Figure

CAMERAS = 3146
ELDERS, RENTALS = 689, 2593
ALERT_ELDERS = 60
PRELOAD_DAYS = 8
FEED_HOURS = 12
VIDEO_BATCHES = 24
CLIENTS = 4
VIDEO_SECRET = "demo-video-secret-change-me"
POWER_SECRET = "demo-power-secret-change-me"

SETUP = r"""
import json
from datetime import timedelta
from django.utils import timezone
from backend.accounts.models import RoleAssignment
from backend.fastpath.bulk import insert_rows
from backend.intake.meters import states_rebuild
from backend.intake.models import Camera, Household, HouseholdKind, PowerReading, SourceSystem
from backend.patrols.models import KeySubject
from backend.territory.models import Grid

video = SourceSystem.objects.get(key_id="demo-video")
power = SourceSystem.objects.get(key_id="demo-power")
grids = list(Grid.objects.order_by("code").values_list("pk", "polygon"))
have = Camera.objects.filter(source=video).count()
Camera.objects.bulk_create([
    Camera(source=video, code=f"B{n:05d}", name=f"bench {n}", lat=g[1]["coordinates"][0][0][1],
           lng=g[1]["coordinates"][0][0][0], grid_id=g[0])
    for n, g in ((n, grids[n % len(grids)]) for n in range(have, __CAMERAS__))
])
worker_grid = RoleAssignment.objects.filter(user__username="demo_grid_worker", role="grid_worker").values_list("grid_id", flat=True).first()
households = []
for n in range(__ELDERS__ + __RENTALS__):
    elder = n < __ELDERS__
    grid_id = worker_grid if n < __ALERT_ELDERS__ else grids[n % len(grids)][0]
    households.append(Household(source=power, meter_no=f"B{n:07d}", kind=HouseholdKind.ELDER_ALONE if elder else HouseholdKind.RENTAL,
                                meter_address=f"bench {n}", grid_id=grid_id, baseline_kwh_day=None if elder else 6.0))
Household.objects.bulk_create(households)
households = list(Household.objects.filter(meter_no__startswith="B").order_by("meter_no"))
subjects = KeySubject.objects.bulk_create([KeySubject(grid_id=h.grid_id, kind="person", name=f"bench {h.meter_no}", note="独居老人")
                                           for h in households[:__ALERT_ELDERS__]])
for h, s in zip(households, subjects):
    h.subject = s
Household.objects.bulk_update(households[:__ALERT_ELDERS__], ["subject"])
now = timezone.now().replace(minute=0, second=0, microsecond=0)
feed_start = now - timedelta(hours=__FEED_HOURS__)
rows = []
for index, h in enumerate(households):
    alert_elder = index < __ALERT_ELDERS__
    end = now - timedelta(hours=1) if alert_elder else feed_start
    for k in range(__DAYS__ * 24):
        hour = end - timedelta(hours=k)
        local = timezone.localtime(hour).hour
        if alert_elder and k < 23:
            kwh = 0.005
        elif h.kind == "elder_alone":
            kwh = 0.35 if 6 <= local < 21 else 0.2
        else:
            kwh = 0.25
        rows.append((h.pk, hour, kwh))
insert_rows(PowerReading, ("household_id", "hour", "kwh"), rows)
states_rebuild([h.pk for h in households])  # loaded around the intake: its running state built from them
print(json.dumps({"now": now.isoformat(), "feed_start": feed_start.isoformat(),
                  "meters": [h.meter_no for h in households[__ALERT_ELDERS__:]],
                  "alert_meters": [h.meter_no for h in households[:__ALERT_ELDERS__]],
                  "cameras": list(Camera.objects.filter(source=video).values_list("code", flat=True))}))
"""


def sign(key_id: str, secret: str, body: bytes) -> dict[str, str]:
    key = hashlib.sha256(secret.encode()).hexdigest().encode()
    stamp, message_id = str(int(time.time())), uuid.uuid4().hex
    digest = hmac.new(key, f"{stamp}\n{message_id}\n".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Intake-Key": key_id,
        "X-Intake-Timestamp": stamp,
        "X-Intake-Message-Id": message_id,
        "X-Intake-Signature": digest,
    }


def post(url: str, key_id: str, secret: str, items: list[dict]) -> dict:
    body = json.dumps({"items": items}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json", **sign(key_id, secret, body)})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def in_parallel(url: str, key_id: str, secret: str, batches: list[list[dict]]) -> tuple[float, dict]:
    """All batches over CLIENTS connections; the wall time and the summed item counts."""
    queue = list(batches)
    lock = threading.Lock()
    counts: dict[str, int] = {}

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                batch = queue.pop()
            try:
                answer = post(url, key_id, secret, batch)
            except urllib.error.HTTPError as error:  # counted apart: the rate counts answered items only
                with lock:
                    counts[f"http_{error.code}"] = counts.get(f"http_{error.code}", 0) + len(batch)
                continue
            with lock:
                for name, count in answer["counts"].items():
                    counts[name] = counts.get(name, 0) + count

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, counts


def video_batches(cameras: list[str], rng: random.Random) -> list[list[dict]]:
    types = [("garbage", 0.6), ("outside_business", 0.65), ("street_vendor", 0.65), ("illegal_parking", 0.7)]
    now = datetime.now(UTC)
    batches = []
    recent: list[dict] = []
    for b in range(VIDEO_BATCHES):
        items = []
        for i in range(1000):
            if recent and rng.random() < 0.3:
                items.append({**rng.choice(recent), "id": f"v{b}-{i}-{uuid.uuid4().hex[:6]}"})
                continue
            kind, threshold = rng.choice(types)
            low = rng.random() < 0.2
            item = {
                "id": f"v{b}-{i}-{uuid.uuid4().hex[:6]}",
                "camera": rng.choice(cameras),
                "type": kind,
                "confidence": round(threshold - 0.1 if low else min(0.99, threshold + rng.random() * 0.3), 2),
                "at": (now - timedelta(seconds=rng.randint(0, 600))).isoformat(),
            }
            items.append(item)
            recent = (recent + [item])[-200:]
        batches.append(items)
    return batches


def reading_batches(meters: list[str], feed_start: datetime) -> list[list[dict]]:
    items = [
        {
            "id": f"p{h}-{meter}",
            "meter": meter,
            "hour": (feed_start + timedelta(hours=h)).isoformat(),
            "kwh": 0.25,
        }
        for h in range(1, FEED_HOURS + 1)
        for meter in meters
    ]
    return [items[i : i + 1000] for i in range(0, len(items), 1000)]


def run(bench: Bench) -> dict[str, Figure]:
    bench.env["REDIS_URL"] = bench.env.get("REDIS_URL") or "redis://127.0.0.1:6379/6"
    setup = SETUP
    for name, value in {
        "CAMERAS": CAMERAS,
        "ELDERS": ELDERS,
        "RENTALS": RENTALS,
        "ALERT_ELDERS": ALERT_ELDERS,
        "FEED_HOURS": FEED_HOURS,
        "DAYS": PRELOAD_DAYS,
    }.items():
        setup = setup.replace(f"__{name}__", str(value))
    data = json.loads(bench.manage("shell", "-c", setup).strip().splitlines()[-1])
    bench.settle()
    http = bench.start_http()
    ws = bench.start_daphne()
    rng = random.Random(5)

    video_url = f"{http}/api/v1/intake/video-alerts"
    post(video_url, "demo-video", VIDEO_SECRET, video_batches(data["cameras"], rng)[0][:50])  # warm the workers
    batches = video_batches(data["cameras"], rng)
    video_s, video_counts = in_parallel(video_url, "demo-video", VIDEO_SECRET, batches)
    print(f"  video items: {video_counts}", flush=True)

    power_url = f"{http}/api/v1/intake/power-readings"
    readings = reading_batches(data["meters"], datetime.fromisoformat(data["feed_start"]))
    power_s, power_counts = in_parallel(power_url, "demo-power", POWER_SECRET, readings)
    print(f"  readings: {power_counts}", flush=True)

    worker = bench.login(http, "demo_grid_worker")
    url = ws.replace("http://", "ws://") + "/ws/v1/"
    hour = data["now"]

    async def latencies() -> list[float]:
        measured = []
        async with websockets.connect(
            url, additional_headers={"Authorization": f"Bearer {worker}"}, max_queue=None, ping_interval=None
        ) as socket_:
            await socket_.recv()  # hello
            for meter in data["alert_meters"]:
                item = {"id": f"alert-{meter}", "meter": meter, "hour": hour, "kwh": 0.004}
                sent = time.perf_counter()
                posting = asyncio.create_task(asyncio.to_thread(post, power_url, "demo-power", POWER_SECRET, [item]))
                while True:
                    message = json.loads(await asyncio.wait_for(socket_.recv(), 30))
                    if message.get("type") == "notification" and message.get("kind") == "welfare_check":
                        measured.append((time.perf_counter() - sent) * 1000)
                        break
                await posting
        return measured

    alert_ms = sorted(asyncio.run(latencies()))
    answered = ("accepted", "attached", "dropped", "duplicate", "rejected", "stored")
    video_items = sum(video_counts.get(status, 0) for status in answered)
    power_items = sum(power_counts.get(status, 0) for status in answered)
    return {
        "video_alerts_per_s": Figure(video_items / video_s, "items/s"),
        "power_readings_per_s": Figure(power_items / power_s, "items/s"),
        "alert_to_phone_p50_ms": Figure(statistics.median(alert_ms), "ms"),
        "alert_to_phone_ms": Figure(alert_ms[int(len(alert_ms) * 0.99) - 1], "ms", baseline="alert_to_phone_p50_ms"),
    }
