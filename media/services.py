"""Photo intake: checked before anything is kept, idempotent, custody recorded in the
event's hash-chained history."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.addresses.selectors import distance_m
from backend.core.errors import ApiError, register
from backend.events.models import Event
from backend.events.services import photo_digest
from backend.fastpath.bulk import insert_rows, present
from media.imaging import decode_slot, process, process_elsewhere
from media.models import ExpectedPhoto, Photo
from media.selectors import can_see

MAX_BYTES = 20 * 1024 * 1024
MAX_PER_EVENT = 30
FAR_FROM_EVENT_M = 300
OLDER_THAN_EVENT = timedelta(hours=24)
CLOCK_SLACK = timedelta(minutes=5)

register("digest_mismatch", 422, "文件内容与所报 SHA-256 不一致", "The file does not match the SHA-256 given")
register("too_many_photos", 422, "该事件照片已达上限", "This event has as many photos as it may have")
register("photo_id_taken", 409, "该照片标识已被占用", "This photo id is already used")
register("photo_exists", 409, "该事件已有这张照片", "This event already has this photo")


def storage():
    """Private storage: the default storage of STORAGES (local files, or S3 when configured)."""
    return storages["default"]


def original_key(digest: str) -> str:
    return f"originals/{digest[:2]}/{digest}"


def thumb_key(digest: str) -> str:
    return f"derivatives/{digest}/thumb.jpg"


def display_key(digest: str) -> str:
    return f"derivatives/{digest}/display.jpg"


def _save_once(key: str, content: bytes) -> None:
    # Content-addressed: the same key always holds the same bytes, so never overwrite.
    if not storage().exists(key):
        storage().save(key, ContentFile(content))


def keep_files(digest: str, *, original: bytes, thumb: bytes, display: bytes) -> None:
    """The original and its derivatives in storage under their content keys, once."""
    _save_once(original_key(digest), original)
    _save_once(thumb_key(digest), thumb)
    _save_once(display_key(digest), display)


def _flags(photo: Photo, event: Event | None, now) -> list[str]:
    flags = []
    if photo.captured_at and photo.captured_at > now + CLOCK_SLACK:
        flags.append("captured_after_upload")
    if event is not None:
        if photo.captured_at and photo.captured_at < event.reported_at - OLDER_THAN_EVENT:
            flags.append("much_older_than_event")
        if (
            photo.gps_lat is not None
            and event.lat is not None
            and distance_m(photo.gps_lat, photo.gps_lng, event.lat, event.lng) > FAR_FROM_EVENT_M
        ):
            flags.append("far_from_event")
    return flags


def photo_intake(
    *,
    data: bytes,
    sha256: str,
    phase: str,
    photo_id: uuid.UUID,
    uploader,
    device=None,
    event: Event | None = None,
    reported_lat: float | None = None,
    reported_lng: float | None = None,
) -> tuple[Photo, bool]:
    """Returns (photo, created). The same photo id, or the same digest on the same
    event, returns the photo already kept (phones retry)."""
    digest = sha256.lower()
    # The bytes are checked against their digest before any look-up: a digest is not a
    # secret (it is in the event's history), and answering a look-up by a declared digest
    # handed anyone the kept photo's GPS, camera and capture time for arbitrary bytes.
    if hashlib.sha256(data).hexdigest() != digest:
        raise ApiError("digest_mismatch")
    existing = Photo.objects.filter(pk=photo_id).first()
    if existing is not None:
        if existing.uploader_id != uploader.pk or existing.sha256 != digest:
            raise ApiError("photo_id_taken")
        return existing, False
    if event is not None:
        same = Photo.objects.filter(event=event, sha256=digest).first()
        if same is not None:
            return _already_kept(same, uploader), False
        if Photo.objects.filter(event=event).count() >= MAX_PER_EVENT:
            raise ApiError("too_many_photos", detail={"max": MAX_PER_EVENT})
    with decode_slot():
        processed = process_elsewhere(data) if settings.MEDIA_DECODE_IN_POOL else process(data)
    if "error" in processed:
        raise ApiError(processed["error"], detail=processed["detail"])
    meta, thumb, display = processed["meta"], processed["thumb"], processed["display"]

    now = timezone.now()
    photo = Photo(
        id=photo_id,
        event=event,
        phase=phase,
        sha256=digest,
        uploader=uploader,
        device=device,
        format=meta.format,
        size_bytes=len(data),
        width=meta.width,
        height=meta.height,
        orientation=meta.orientation,
        captured_at=meta.captured_at,
        capture_offset=meta.capture_offset,
        gps_lat=meta.gps_lat,
        gps_lng=meta.gps_lng,
        gps_accuracy_m=meta.gps_accuracy_m,
        camera_make=meta.make,
        camera_model=meta.model,
        reported_lat=reported_lat,
        reported_lng=reported_lng,
        original_key=original_key(digest),
        thumb_key=thumb_key(digest),
        display_key=display_key(digest),
    )
    photo.flags = _flags(photo, event, now)
    keep_files(digest, original=data, thumb=thumb, display=display)
    try:
        with transaction.atomic():
            # Kept loose first, then attached by the one function that attaches photos,
            # whichever arrived first (the unique (event, digest) index still decides a race).
            photo.event = None
            photo.save(force_insert=True)
            if event is not None:
                photo_attach(photo=photo, event=event)
            else:
                _complete_expected(photo)
    except IntegrityError:
        raced = Photo.objects.filter(event=event, sha256=digest).first() or Photo.objects.filter(pk=photo_id).first()
        if raced is None:
            raise
        return _already_kept(raced, uploader), False
    return photo, True


def _already_kept(photo: Photo, uploader) -> Photo:
    """The photo already kept for the same bytes, answered only to someone who may see
    it; anyone else learns only that these bytes are on the event already."""
    if not can_see(uploader, photo):
        raise ApiError("photo_exists")
    return photo


def photo_attach(*, photo: Photo, event: Event, phase: str | None = None, locked: bool = False) -> Event:
    """The one way an accepted photo joins an event, whichever came first: the upload
    to the event, the upload of a photo an event or step already claimed, or a step
    claiming a photo already uploaded. Custody goes into the event's history, the claim
    is no longer expected, and an event waiting for its photos moves on once they are
    all there (``evidence_settle``). ``phase``: the phase the claim names (a loose
    upload's own is a guess). ``locked``: the caller holds ``event``'s row lock and its
    instance is current (a step being saved); it is updated in place. Returns the event."""
    from backend.events.services import Actor, evidence_settle, record_photo

    if photo.event_id is not None and photo.event_id != event.pk:
        raise ApiError("conflict", detail={"photo": "already attached to another event"})
    with transaction.atomic():
        if not locked:
            event = Event.objects.select_for_update().get(pk=event.pk)
        photo.event = event
        photo.phase = phase or photo.phase
        photo.flags = _flags(photo, event, timezone.now())
        photo.save(update_fields=["event", "phase", "flags"])
        record_photo(
            event=event,
            actor=Actor(user=photo.uploader, device=photo.device),
            phase=photo.phase,
            digest=photo.sha256,
            data={"photo_id": str(photo.pk), "size_bytes": photo.size_bytes, "flags": photo.flags},
        )
        ExpectedPhoto.objects.filter(event=event, sha256=photo.sha256).delete()
        evidence_settle(event=event)
    return event


EXPECTED_COLUMNS = ("sha256", "event_id", "phase", "user_id", "created_at")


def photos_expect(*, event: Event, user, references: dict[str, list[str]]) -> None:
    """A step referenced these photos: attach the ones already uploaded by this user,
    and expect the rest (their upload attaches them, sync.md "Photos"). ``event`` is
    locked by the caller and kept current."""
    photos_expect_many(user=user, references=[(event, references)])


def _wanted(references: list[tuple[Event, dict[str, list[str]]]]) -> list[tuple[Event, str, str]]:
    return [
        (event, digest, phase)
        for event, refs in references
        for phase, listed in refs.items()
        for ref in listed
        if (digest := photo_digest(ref))
    ]


def photos_uploaded(*, user, references: list[tuple[Event, dict[str, list[str]]]]) -> set[str]:
    """Which of the photos these references name ``user`` has uploaded and no event
    holds yet (one query; usually none): those attach, the others are expected."""
    digests = {digest for _, digest, _ in _wanted(references)}
    return present(Photo, "sha256", digests, uploader_id=user.pk, event_id=None) if digests else set()


def photos_expect_many(
    *,
    user,
    references: list[tuple[Event, dict[str, list[str]]]],
    new_events: bool = False,
    uploaded: set[str] | None = None,
) -> None:
    """``photos_expect`` for many events at once, each locked by the caller (made or
    stepped in this transaction). ``new_events``: the events were made in this
    transaction, so none has a photo or an expected one yet (a batch of offline
    reports: two queries and a hundred instances less). ``uploaded``: what
    ``photos_uploaded`` answered for these references, when the caller has asked
    (a batch of reports asks before it saves its events: ``event_report_many``)."""
    wanted = _wanted(references)
    if not wanted:
        return
    digests = {digest for _, digest, _ in wanted}
    if uploaded is None:
        uploaded = present(Photo, "sha256", digests, uploader_id=user.pk, event_id=None)  # usually none yet
    waiting = (
        {p.sha256: p for p in Photo.objects.filter(sha256__in=uploaded, uploader=user, event__isnull=True)}
        if uploaded
        else {}
    )
    known: set[tuple] = set()
    if not new_events:
        event_ids = {event.pk for event, _, _ in wanted}
        known = set(Photo.objects.filter(event__in=event_ids, sha256__in=digests).values_list("event_id", "sha256"))
        known |= set(
            ExpectedPhoto.objects.filter(event__in=event_ids, sha256__in=digests).values_list("event_id", "sha256")
        )
    expected, now, user_id = {}, timezone.now(), user.pk
    for event, digest, phase in wanted:
        event_id = event.pk
        if (event_id, digest) in known:
            continue
        if digest in waiting and waiting[digest].event_id is None:
            photo_attach(photo=waiting[digest], event=event, phase=phase, locked=True)
        else:
            expected[(event_id, digest)] = (digest, event_id, phase, user_id, now)
    insert_rows(ExpectedPhoto, EXPECTED_COLUMNS, list(expected.values()))


def _complete_expected(photo: Photo) -> None:
    expected = (
        ExpectedPhoto.objects.filter(sha256=photo.sha256, user_id=photo.uploader_id).select_related("event").first()
    )
    if expected is None:
        return
    photo_attach(photo=photo, event=expected.event, phase=expected.phase)
