"""A full batch of each kind through the signed route: a fixed number of statements
whatever its size, and an answer of the documented shape."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backend.intake.meters import HOUR
from backend.intake.models import Camera, Household, SourceSystem
from backend.intake.schemas import BatchOut
from backend.intake.signing import secret_digest
from backend.intake.tests.helpers import SECRET, signed_post

# Signature check (source, message id), then one statement per look-up and write.
# PostgreSQL locks the open alerts a batch joins (one statement); SQLite reads cameras
# and their open alerts apart (one more).
VIDEO_STATEMENTS = 9
POWER_STATEMENTS = 8


def data_statements(queries) -> list[str]:
    return [q["sql"] for q in queries if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def demo_source(key_id: str) -> SourceSystem:
    source = SourceSystem.objects.get(key_id=key_id)
    source.secret_hash = secret_digest(SECRET)
    source.save(update_fields=["secret_hash"])
    return source


def test_a_thousand_video_alerts_take_a_fixed_number_of_statements(db):
    source = demo_source("demo-video")
    cameras = list(Camera.objects.filter(source=source).values_list("code", flat=True)[:7])  # repeats join
    now = timezone.now()
    kinds = ["garbage", "street_vendor", "illegal_parking"]
    items = [
        {
            "id": f"batch-{n}",
            "camera": cameras[n % len(cameras)],
            "type": kinds[n % 3],
            "confidence": 0.5 if n % 5 == 0 else 0.9,
            "at": (now - timedelta(seconds=n)).isoformat(),
        }
        for n in range(1000)
    ]
    signed_post(source, "/intake/video-alerts", {"items": items[:10]})  # some open alerts to join
    with CaptureQueriesContext(connection) as seen:
        answer = signed_post(source, "/intake/video-alerts", {"items": items})
    assert answer.status_code == 200, answer.content
    statements = data_statements(seen.captured_queries)
    assert len(statements) == VIDEO_STATEMENTS, [s[:90] for s in statements]
    body = BatchOut.model_validate(answer.json())
    assert [row.id for row in body.items] == [item["id"] for item in items]
    # The warm-up batch kept 8 of its 10 (two were below the threshold: dropped again).
    assert body.counts["duplicate"] == 8 and body.counts["dropped"] == 200 and body.counts["attached"] > 0
    assert body.counts["accepted"] + body.counts["attached"] == 792


def test_a_thousand_readings_take_a_fixed_number_of_statements(db):
    source = demo_source("demo-power")
    meters = list(Household.objects.filter(source=source).values_list("meter_no", flat=True))
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) + HOUR
    items = [
        {
            "id": f"r-{n}",
            "meter": meters[n % len(meters)],
            "hour": (hour - (n // len(meters)) * HOUR).isoformat(),
            "kwh": 0.3,
        }
        for n in range(1000)
    ]
    signed_post(source, "/intake/power-readings", {"items": items[:10]})
    with CaptureQueriesContext(connection) as seen:
        answer = signed_post(source, "/intake/power-readings", {"items": items})
    assert answer.status_code == 200, answer.content
    statements = data_statements(seen.captured_queries)
    assert len(statements) == POWER_STATEMENTS, [s[:90] for s in statements]
    body = BatchOut.model_validate(answer.json())
    assert body.counts == {"stored": 1000} and body.message_id
