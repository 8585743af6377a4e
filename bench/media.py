"""Group ``media``: photo intake at phone sizes.

- ``intake_12mp_cpu_ms``: CPU time of the whole intake work for a 12-megapixel JPEG
  (SHA-256, full decode, metadata, both derivatives), in process, median of 5;
- ``concurrent_10_peak_growth_mb``: 10 uploads of different 12-megapixel JPEGs at once
  to the production HTTP layout (gunicorn, 4 workers): the peak growth of the
  workers' summed resident memory over their size before the uploads."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import threading
import time
import urllib.request
import uuid

from PIL import Image

from bench.common import Bench, Figure

INTAKE_SCRIPT = """
import hashlib, io, json, statistics, time
from PIL import Image
from media.imaging import process
image = Image.effect_noise((4000, 3000), 40).convert("RGB")
out = io.BytesIO(); image.save(out, format="JPEG", quality=90); data = out.getvalue()
timings = []
for _ in range(5):
    started = time.process_time()
    hashlib.sha256(data).hexdigest()
    result = process(data)
    assert "error" not in result, result
    timings.append((time.process_time() - started) * 1000)
print(json.dumps({"cpu_ms": statistics.median(timings), "bytes": len(data)}))
"""


def photo(seed: int) -> bytes:
    image = Image.effect_noise((4000, 3000), 30 + seed).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def multipart(fields: dict[str, str], data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def run(bench: Bench) -> dict[str, Figure]:
    intake = json.loads(bench.manage("shell", "-c", INTAKE_SCRIPT).strip().splitlines()[-1])
    base = bench.start_http()
    master = bench.processes[-1].pid
    workers = [
        int(p) for p in subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    ]
    token = bench.login(base, "demo_resident")
    dispatcher = bench.login(base, "demo_dispatcher")
    grid = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(f"{base}/api/v1/territory/grids", headers={"Authorization": f"Bearer {dispatcher}"})
        ).read()
    )["items"][0]
    ring = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(
                f"{base}/api/v1/territory/grids/{grid['id']}", headers={"Authorization": f"Bearer {dispatcher}"}
            )
        ).read()
    )["polygon"]["coordinates"][0]
    body = json.dumps(
        {
            "source": "public_tip",
            "category": "06.01",
            "description": "bench",
            "location": {"lat": (ring[0][1] + ring[2][1]) / 2, "lng": (ring[0][0] + ring[2][0]) / 2, "crs": "wgs84"},
        }
    ).encode()
    event = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(
                f"{base}/api/v1/events", body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            )
        ).read()
    )
    photos = [photo(seed) for seed in range(10)]
    time.sleep(1)
    before = rss_mb(workers)
    peak = before
    statuses: list[int] = []

    def send(data: bytes) -> None:
        payload, content_type = multipart(
            {"phase": "before", "photo_id": str(uuid.uuid4()), "sha256": hashlib.sha256(data).hexdigest()}, data
        )
        upload = urllib.request.Request(
            f"{base}/api/v1/events/{event['id']}/photos",
            payload,
            {"Content-Type": content_type, "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(upload, timeout=120) as response:
            statuses.append(response.status)

    threads = [threading.Thread(target=send, args=(data,)) for data in photos]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, rss_mb(workers))
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    if statuses.count(201) != 10:
        raise RuntimeError(f"uploads answered {statuses}")
    return {
        "intake_12mp_cpu_ms": Figure(intake["cpu_ms"], "ms"),
        "photo_12mp_bytes": Figure(intake["bytes"], "bytes"),
        "concurrent_10_seconds": Figure(elapsed, "s"),
        "concurrent_10_peak_growth_mb": Figure(peak - before, "MB"),
    }
