"""Video alerts: thresholds and suppression (explicit clocks), item answers, review
into an event or a dismissal, precision counts, who reviews."""

from __future__ import annotations

import base64
import io
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from PIL import Image

from backend.accounts.actor import Actor
from backend.accounts.models import User
from backend.events.models import Event
from backend.intake.models import AlertCounter, AlertState, AlertType, Camera, SourceKind, VideoAlert
from backend.intake.tests.helpers import make_source, signed_get, signed_post
from backend.intake.video import precision, video_alerts_take
from backend.territory.models import Grid
from conftest import PERSONAS
from tests import matrix_registry
from tests.events_helpers import GRID_A, centre_of
from tests.test_permission_matrix import ids

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.get_fixed_timezone(480))


@pytest.fixture
def setup(db):
    account = User.objects.get(username="intake_video")
    source = make_source(SourceKind.VIDEO, account=account)
    lat, lng = centre_of(GRID_A)
    camera = Camera.objects.create(
        source=source, code="T-CAM-1", name="测试球机", lat=lat, lng=lng, grid=Grid.objects.get(code=GRID_A)
    )
    garbage = AlertType.objects.get(code="garbage")  # threshold 0.6, 30 minutes (seed)
    return source, camera, garbage


def item(number: int, at: datetime, confidence: float = 0.9, camera: str = "T-CAM-1", kind: str = "garbage") -> dict:
    return {"id": f"t-{number}", "camera": camera, "type": kind, "confidence": confidence, "at": at.isoformat()}


def statuses(outcomes) -> list[str]:
    return [o.status for o in outcomes]


def test_below_threshold_is_dropped_and_counted_and_repeats_join_the_open_alert(setup):
    source, camera, garbage = setup
    outcomes = video_alerts_take(
        source=source,
        items=[
            item(1, T0),
            item(2, T0 + timedelta(minutes=10)),  # a repeat within 30 minutes
            item(3, T0 + timedelta(minutes=12), confidence=0.4),  # below 0.6
            item(4, T0 + timedelta(minutes=39)),  # within 30 minutes of the last repeat
            item(5, T0 + timedelta(minutes=80)),  # beyond: a new alert
            item(6, T0, camera="NOPE"),
            {"id": "t-7", "camera": "T-CAM-1"},
            item(1, T0),  # the same id again in the batch
        ],
        now=T0,
    )
    assert statuses(outcomes) == [
        "accepted",
        "attached",
        "dropped",
        "attached",
        "accepted",
        "rejected",
        "rejected",
        "duplicate",
    ]
    first, second = outcomes[0].alert_id, outcomes[4].alert_id
    assert outcomes[1].alert_id == outcomes[3].alert_id == first != second
    assert "camera" in outcomes[5].error and outcomes[6].error
    alert = VideoAlert.objects.get(pk=first)
    assert alert.repeats == 2 and alert.last_at == T0 + timedelta(minutes=39)
    counter = AlertCounter.objects.get(camera=camera, type=garbage)
    assert (counter.received, counter.dropped, counter.suppressed) == (5, 1, 2)
    # A later batch: a repeat still joins the open alert; the same item id is a duplicate.
    later = video_alerts_take(source=source, items=[item(8, T0 + timedelta(minutes=100)), item(5, T0)], now=T0)
    assert statuses(later) == ["attached", "duplicate"] and later[0].alert_id == second
    # Repeats are added to the stored count (a concurrent batch's are not overwritten).
    VideoAlert.objects.filter(pk=second).update(repeats=5)
    video_alerts_take(source=source, items=[item(9, T0 + timedelta(minutes=110))], now=T0)
    assert VideoAlert.objects.get(pk=second).repeats == 6


def test_a_dismissed_alert_is_no_longer_open_so_the_next_one_is_new(setup):
    source, camera, garbage = setup
    first = video_alerts_take(source=source, items=[item(1, T0)], now=T0)[0].alert_id
    VideoAlert.objects.filter(pk=first).update(state=AlertState.DISMISSED)
    again = video_alerts_take(source=source, items=[item(2, T0 + timedelta(minutes=5))], now=T0)[0]
    assert again.status == "accepted" and again.alert_id != first


def test_the_dispatcher_confirms_into_an_event_or_dismisses_and_precision_follows(setup, as_persona):
    source, camera, garbage = setup
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 120, 120)).save(jpeg, "JPEG")
    now = timezone.now()
    body = {
        "items": [
            {**item(1, now - timedelta(hours=3)), "snapshot": base64.b64encode(jpeg.getvalue()).decode()},
            item(2, now - timedelta(hours=1)),
            item(3, now - timedelta(minutes=1), kind="illegal_parking"),
        ]
    }
    answer = signed_post(source, "/intake/video-alerts", body)
    assert answer.status_code == 200, answer.content
    assert answer.json()["counts"] == {"accepted": 3}
    ids = [row["alert_id"] for row in answer.json()["items"]]

    dispatcher = as_persona("demo_dispatcher")
    listed = {row["id"] for row in dispatcher.get("/video-alerts", {"page_size": 200}).json()["items"]}
    assert set(ids) <= listed
    confirmed = dispatcher.post(f"/video-alerts/{ids[0]}/confirm", {"note": "现场确认"})
    assert confirmed.status_code == 200, confirmed.content
    event = Event.objects.get(pk=confirmed.json()["event_id"])
    assert event.source == "video_alert" and event.category.code == "06.01" and event.grid_id == camera.grid_id
    assert event.photo_set.count() == 1  # the snapshot, as evidence
    assert dispatcher.post(f"/video-alerts/{ids[0]}/confirm", {}).status_code == 409
    assert dispatcher.post(f"/video-alerts/{ids[1]}/dismiss", {"note": "阴影误判"}).json()["state"] == "dismissed"
    assert dispatcher.post(f"/video-alerts/{ids[2]}/dismiss", {}).status_code == 200

    by_type, by_camera = precision()
    garbage_row = next(r for r in by_camera if r["camera_id"] == camera.pk and r["type"] == "garbage")
    assert (garbage_row["confirmed"], garbage_row["dismissed"], garbage_row["precision"]) == (1, 1, 0.5)
    parking = next(r for r in by_camera if r["camera_id"] == camera.pk and r["type"] == "illegal_parking")
    assert parking["precision"] == 0.0
    shown = dispatcher.get("/video-alerts/precision").json()
    assert any(r["camera_id"] == camera.pk and r["precision"] == 0.5 for r in shown["by_camera"])

    # The platform sees what became of its own alert, and nobody else's.
    status = signed_get(source, f"/intake/video-alerts/{ids[0]}").json()
    assert status["state"] == "confirmed" and status["event_number"] == event.number
    other = make_source(SourceKind.VIDEO)
    assert signed_get(other, f"/intake/video-alerts/{ids[0]}").status_code == 404


def test_only_the_streets_dispatcher_and_the_district_review(setup, as_persona):
    source, _, _ = setup
    alert_id = video_alerts_take(source=source, items=[item(1, timezone.now())])[0].alert_id
    for username in ("demo_grid_worker", "demo_handler", "demo_resident", "demo_secretary"):
        answer = as_persona(username).post(f"/video-alerts/{alert_id}/dismiss", {})
        assert answer.status_code == 403 and answer.json()["code"] == "alerts_forbidden"
    assert as_persona("demo_commander").get("/video-alerts").status_code == 200
    assert VideoAlert.objects.get(pk=alert_id).state == AlertState.OPEN
    assert Actor(user=User.objects.get(username="demo_dispatcher")).scope.street_ids


matrix_registry.cover(
    "/api/v1/video-alerts",
    "/api/v1/video-alerts/precision",
    "/api/v1/video-alerts/{alert_id}/confirm",
    "/api/v1/video-alerts/{alert_id}/dismiss",
    # Signed by a source system, not a persona: test_signing.py and the tests above.
    "/api/v1/intake/video-alerts",
    "/api/v1/intake/video-alerts/{alert_id}",
    "/api/v1/intake/power-readings",
)

# persona -> may review alerts of (own street, other street); 403: reviews none
REVIEWERS = {
    "demo_grid_worker": 403,
    "demo_grid_worker_b": 403,
    "demo_secretary": 403,
    "demo_dispatcher": (True, False),
    "demo_handler": 403,
    "demo_commander": (True, True),
    "demo_resident": 403,
    "demo_admin": (True, True),
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_reviews_exactly_the_alerts_of_their_scope(setup, as_persona, persona):
    source, camera, _ = setup
    elsewhere = Grid.objects.get(pk=ids()["other_street_grid"])
    Camera.objects.create(source=source, code="T-CAM-2", name="外街道", lat=camera.lat, lng=camera.lng, grid=elsewhere)
    now = timezone.now()
    outcomes = video_alerts_take(source=source, items=[item(1, now), item(2, now, camera="T-CAM-2")])
    client = as_persona(persona)
    expected = REVIEWERS[persona]
    listed = client.get("/video-alerts", {"page_size": 200})
    if expected == 403:
        assert listed.status_code == 403
        assert client.post(f"/video-alerts/{outcomes[0].alert_id}/dismiss", {}).status_code == 403
        return
    shown = {row["id"] for row in listed.json()["items"]}
    for outcome, allowed in zip(outcomes, expected, strict=True):
        assert (outcome.alert_id in shown) == allowed
        answer = client.post(f"/video-alerts/{outcome.alert_id}/dismiss", {})
        assert answer.status_code == (200 if allowed else 404), (persona, answer.content)
