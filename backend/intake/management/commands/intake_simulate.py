"""python manage.py intake_simulate [--url URL] [--seconds N] [--alerts-per-batch N]

Feeds a running server what the district's systems would send: signed batches of
camera alerts (repeats of a scene, a share below the threshold, now and then a
snapshot-free false alarm) from the registered cameras, and the current hour's
readings of every registered meter (elders' daily pattern, rental flats around their
baseline), as the demo sources (``seed_demo``) unless another key is given. Prints
what came back per batch."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from backend.intake.demo import DEMO_SOURCES, elder_hour_kwh, rental_hour_kwh
from backend.intake.models import AlertType, Camera, Household, HouseholdKind, SourceSystem
from backend.intake.schemas import MAX_BATCH
from backend.intake.signing import signed_headers


def post(url: str, *, key_id: str, secret: str, items: list[dict]) -> tuple[int, dict]:
    body = json.dumps({"items": items}, ensure_ascii=False).encode()
    headers = signed_headers(key_id=key_id, secret=secret, body=body, message_id=uuid.uuid4().hex)
    request = urllib.request.Request(url, body, {"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class Command(BaseCommand):
    help = "向运行中的服务推送模拟的视频告警与用电读数 (feed a running server signed alerts and readings)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server's base URL")
        parser.add_argument("--seconds", type=float, default=10.0, help="how long to run")
        parser.add_argument("--alerts-per-batch", type=int, default=200)
        parser.add_argument(
            "--batches", type=int, default=0, help="stop after this many alert batches (0: by --seconds)"
        )
        parser.add_argument("--video-key", default="demo-video")
        parser.add_argument("--video-secret", default=DEMO_SOURCES["demo-video"][2])
        parser.add_argument("--power-key", default="demo-power")
        parser.add_argument("--power-secret", default=DEMO_SOURCES["demo-power"][2])
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, url: str, seconds: float, alerts_per_batch: int, **options) -> None:
        if not 1 <= alerts_per_batch <= MAX_BATCH:
            raise CommandError(f"--alerts-per-batch must be between 1 and {MAX_BATCH}")
        rng = random.Random(options["seed"])
        video = SourceSystem.objects.filter(key_id=options["video_key"]).first()
        power = SourceSystem.objects.filter(key_id=options["power_key"]).first()
        if video is None or power is None:
            raise CommandError("unknown source key (run seed_demo, or pass --video-key/--power-key)")
        cameras = list(Camera.objects.filter(source=video, active=True).values_list("code", flat=True))
        types = list(AlertType.objects.values_list("code", "threshold"))
        households = list(
            Household.objects.filter(source=power, active=True).values_list("meter_no", "kind", "baseline_kwh_day")
        )
        if not cameras or not types:
            raise CommandError("no cameras or alert types registered")
        base = url.rstrip("/") + "/api/v1/intake"
        totals: dict[str, int] = {}
        started = time.monotonic()

        hour = timezone.now().replace(minute=0, second=0, microsecond=0)
        local_hour = timezone.localtime(hour).hour
        readings = [
            {
                "id": f"sim-{meter}-{hour:%Y%m%d%H}",
                "meter": meter,
                "hour": hour.isoformat(),
                "kwh": elder_hour_kwh(rng, local_hour)
                if kind == HouseholdKind.ELDER_ALONE
                else rental_hour_kwh(rng, local_hour, baseline or 6.0, crowded=rng.random() < 0.02),
            }
            for meter, kind, baseline in households
        ]
        for start in range(0, len(readings), MAX_BATCH):
            status, answer = post(
                f"{base}/power-readings",
                key_id=options["power_key"],
                secret=options["power_secret"],
                items=readings[start : start + MAX_BATCH],
            )
            self._tally(totals, "readings", status, answer)

        recent: list[dict] = []
        sent = 0
        while True:  # at least one batch of alerts
            now = timezone.now()
            items = []
            for _ in range(alerts_per_batch):
                if recent and rng.random() < 0.3:  # the same scene again
                    seen = rng.choice(recent)
                    items.append(
                        {
                            **seen,
                            "id": uuid.uuid4().hex,
                            "at": (now - timedelta(seconds=rng.randint(0, 60))).isoformat(),
                        }
                    )
                    continue
                kind, threshold = rng.choice(types)
                item = {
                    "id": uuid.uuid4().hex,
                    "camera": rng.choice(cameras),
                    "type": kind,
                    "confidence": round(min(0.99, max(0.05, rng.gauss(threshold + 0.12, 0.15))), 2),
                    "at": (now - timedelta(seconds=rng.randint(0, 60))).isoformat(),
                }
                items.append(item)
                recent = (recent + [item])[-50:]
            status, answer = post(
                f"{base}/video-alerts", key_id=options["video_key"], secret=options["video_secret"], items=items
            )
            self._tally(totals, "alerts", status, answer)
            sent += 1
            if (options["batches"] and sent >= options["batches"]) or (
                not options["batches"] and time.monotonic() - started >= seconds
            ):
                break
            time.sleep(1)
        self.stdout.write(
            f"模拟结束 done in {time.monotonic() - started:.1f} s: {json.dumps(totals, ensure_ascii=False)}"
        )

    def _tally(self, totals: dict[str, int], what: str, status: int, answer: dict) -> None:
        if status != 200:
            self.stderr.write(f"{what}: HTTP {status} {answer.get('code')}: {answer.get('message')}")
            totals[f"{what}_http_{status}"] = totals.get(f"{what}_http_{status}", 0) + 1
            return
        for name, count in answer["counts"].items():
            totals[f"{what}_{name}"] = totals.get(f"{what}_{name}", 0) + count
        self.stdout.write(f"{what}: {answer['counts']}")
