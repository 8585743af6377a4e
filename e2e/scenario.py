"""The e2e run's starting point, made through the API (Django's test client in this
process, against the e2e database the daphne server uses): events to triage (two of
them likely duplicates), one accepted ready to dispatch, one dispatched to the demo
handler's platform, and two closures waiting for the secretary. Prints their ids as JSON."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

import django  # noqa: E402

django.setup()

from django.test import Client  # noqa: E402
from PIL import Image  # noqa: E402

from backend.territory.demo import cell_centre  # noqa: E402
from backend.territory.models import Grid, Platform, PlatformKind  # noqa: E402

PASSWORD = os.environ["E2E_PASSWORD"]
GRID_A = "330102001001001"
GRID_B = "330102001001002"


class Api:
    def __init__(self, username: str):
        self.client = Client()
        answer = self.post("/auth/login", {"username": username, "password": PASSWORD, "device_id": f"e2e-{username}"})
        self.token = answer["access_token"]

    def post(self, path: str, body: dict) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if hasattr(self, "token") else {}
        response = self.client.post(
            "/api/v1" + path, json.dumps(body), content_type="application/json", headers=headers
        )
        if response.status_code >= 300:
            raise SystemExit(f"POST {path}: {response.status_code} {response.content.decode()}")
        return response.json()

    def photo(self, phase: str, colour: tuple[int, int, int]) -> str:
        out = io.BytesIO()
        Image.new("RGB", (320, 240), colour).save(out, format="JPEG", comment=uuid.uuid4().bytes)
        data = out.getvalue()
        handle = io.BytesIO(data)
        handle.name = "photo.jpg"
        digest = hashlib.sha256(data).hexdigest()
        response = self.client.post(
            "/api/v1/photos",
            {"file": handle, "phase": phase, "photo_id": str(uuid.uuid4()), "sha256": digest},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if response.status_code != 201:
            raise SystemExit(f"photo upload: {response.status_code} {response.content.decode()}")
        return "sha256:" + digest


def centre(code: str, dx: float = 0.0) -> dict:
    index = list(Grid.objects.order_by("code").values_list("code", flat=True)).index(code)
    lng, lat = cell_centre(index)
    return {"lat": lat, "lng": lng + dx, "crs": "wgs84"}


def main() -> None:
    worker, dispatcher = Api("demo_grid_worker"), Api("demo_dispatcher")

    def report(description: str, category: str = "01.01", grid: str = GRID_A, dx: float = 0.0, **extra) -> dict:
        body = {"source": "grid_patrol", "category": category, "description": description, "location": centre(grid, dx)}
        return worker.post("/events", {**body, **extra})

    twins = [report("邻里因噪音发生争执"), report("楼上楼下噪音纠纷", dx=0.0003)]
    to_dispatch = report("家庭矛盾需要调解", category="01.02", dx=-0.0012)
    dispatcher.post(f"/events/{to_dispatch['id']}/accept", {})
    for_handler = report("家中老人赡养纠纷", category="01.02", grid=GRID_B)
    platform = Platform.objects.get(street__code=GRID_A[:9], kind=PlatformKind.GOVERNANCE).pk
    dispatcher.post(f"/events/{for_handler['id']}/accept", {})
    dispatcher.post(f"/events/{for_handler['id']}/dispatch", {"platform_id": platform})
    closures = []
    for n, colours in enumerate((((200, 80, 60), (90, 170, 90)), ((120, 120, 200), (200, 200, 120)))):
        refs = {
            "before_photos": [worker.photo("before", colours[0])],
            "after_photos": [worker.photo("after", colours[1])],
        }
        closures.append(
            report(
                f"小区门口暴露垃圾 {n + 1}",
                category="06.01",
                dx=0.0012 + 0.0003 * n,
                handled_on_spot=True,
                result_note="已当场清理",
                **refs,
            )
        )
    print(
        json.dumps(
            {
                "twins": [e["id"] for e in twins],
                "twin_numbers": [e["number"] for e in twins],
                "to_dispatch": to_dispatch["id"],
                "to_dispatch_number": to_dispatch["number"],
                "for_handler": for_handler["id"],
                "for_handler_number": for_handler["number"],
                "platform_id": platform,
                "closures": [e["id"] for e in closures],
                "closure_numbers": [e["number"] for e in closures],
                "closure_states": [e["state"] for e in closures],
            }
        )
    )


if __name__ == "__main__":
    main()
