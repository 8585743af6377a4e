"""The demo history's photos are real evidence: arrived files, not strings."""

import hashlib
import io

import pytest
from django.test import Client
from PIL import Image

from backend.accounts.models import Role, RoleAssignment
from backend.events import demo
from backend.events.demo_photos import photo_pool
from backend.events.history import verify_chain
from backend.events.models import Event, EventAction, State
from backend.events.services import evidence_of, photo_digest
from media.models import Photo
from media.services import display_key, original_key, storage, thumb_key


@pytest.fixture
def open_history(db, monkeypatch):
    """A history where every event is left open somewhere in its loop (the seed's
    0.3% would leave a small history with hardly any ``handled`` event to look at)."""
    monkeypatch.setattr(demo, "OPEN_SHARE", 1.0)
    return demo.seed_events(1000, progress=False)


def test_every_handled_demo_event_has_the_evidence_its_category_requires(open_history):
    handled = list(Event.objects.filter(state=State.HANDLED).select_related("category"))
    assert len(handled) > 50
    for event in handled:
        evidence = evidence_of(event)
        assert evidence.complete, (event.number, evidence.detail())
        assert not evidence.before.expected and not evidence.after.expected, event.number


def test_the_photo_references_of_every_demo_event_are_its_arrived_photos(open_history):
    claimed = {
        (str(event_id), phase, photo_digest(ref))
        for event_id, photos in Event.objects.values_list("id", "photos")
        for phase in ("before", "after")
        for ref in photos[phase]
    }
    arrived = {(str(e), phase, digest) for e, phase, digest in Photo.objects.values_list("event_id", "phase", "sha256")}
    assert None not in {digest for _, _, digest in claimed}  # every reference is a real sha256:<64 hex>
    assert claimed == arrived
    assert Photo.objects.filter(phase="after").exists() and Photo.objects.filter(phase="before").exists()
    custody = {
        (str(e), data["phase"], data["sha256"], data["photo_id"])
        for e, data in EventAction.objects.filter(action="photo").values_list("event_id", "data")
    }
    assert custody == {
        (str(e), phase, digest, str(pk))
        for e, phase, digest, pk in Photo.objects.values_list("event_id", "phase", "sha256", "pk")
    }


def test_the_chains_with_custody_rows_verify(open_history):
    for event in Event.objects.filter(action_count__gt=3).order_by("number")[:200]:
        assert verify_chain(event) == [], event.number


def test_the_pool_is_a_few_real_images_kept_once_under_their_content_keys(db):
    first, second = photo_pool(), photo_pool()
    digests = [p.digest for phase in ("before", "after") for p in first[phase]]
    assert digests == [p.digest for phase in ("before", "after") for p in second[phase]]  # the same bytes each run
    assert len(set(digests)) == len(digests) >= 8
    for digest in digests:
        for key in (original_key(digest), thumb_key(digest), display_key(digest)):
            assert storage().exists(key), key
        with storage().open(original_key(digest), "rb") as handle:
            data = handle.read()
        assert hashlib.sha256(data).hexdigest() == digest
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and not image.getexif()  # no EXIF at all, so no GPS


def test_a_second_seed_adds_no_photo(open_history):
    photos = Photo.objects.count()
    assert demo.seed_events(1000, progress=False) == 0
    assert Photo.objects.count() == photos > 0


def _secretary_community() -> int:
    return RoleAssignment.objects.get(user__username="demo_secretary", role=Role.SECRETARY).community_id


def test_the_demo_secretary_approves_a_demo_event_from_her_queue(open_history, as_persona):
    secretary = as_persona("demo_secretary")
    handled = {
        str(pk)
        for pk in Event.objects.filter(community_id=_secretary_community(), state=State.HANDLED).values_list(
            "pk", flat=True
        )
    }
    queue = [e["id"] for e in secretary.get("/events", {"queue": "to_approve", "page_size": 100}).json()["items"]]
    assert handled and set(queue) == handled
    event_id = sorted(queue)[0]

    response = secretary.post(f"/events/{event_id}/approve")
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == State.CLOSED


def test_the_demo_photos_are_served_through_signed_urls(open_history, as_persona):
    secretary = as_persona("demo_secretary")
    event = next(
        e
        for e in Event.objects.filter(community_id=_secretary_community(), state=State.HANDLED).order_by("number")
        if e.category.before_photos_required and e.category.after_photos_required
    )
    answer = secretary.get(f"/events/{event.pk}/photos").json()
    assert answer["evidence"]["complete"] is True
    assert len(answer["after"]) >= event.category.after_photos_required > 0
    for photo in answer["before"] + answer["after"]:
        for variant in ("thumb", "display", "original"):
            response = Client().get(photo["urls"][variant])
            assert response.status_code == 200, (variant, response.status_code)
            body = b"".join(response.streaming_content)
            assert Image.open(io.BytesIO(body)).format == "JPEG"
            if variant == "original":
                assert hashlib.sha256(body).hexdigest() == photo["sha256"]
