"""Photo intake and listing. The upload routes read the multipart body themselves,
after the size and count limits are checked, instead of declaring a File parameter
(which would make django-ninja read the whole body first)."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Router, Status

from backend.accounts.scope import scope_of
from backend.core.errors import ApiError
from backend.core.schemas import ErrorOut
from backend.events.selectors import access_event
from backend.territory.coords import to_wgs84
from media.models import Phase, Photo
from media.selectors import access_photo, can_see, evidence_out, photo_out
from media.services import MAX_BYTES, MAX_PER_EVENT, photo_intake

router = Router(tags=["photos"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 413: ErrorOut, 422: ErrorOut}
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "phase", "photo_id", "sha256"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": f"JPEG, PNG, WebP or HEIC, at most {MAX_BYTES} bytes",
                        },
                        "phase": {"type": "string", "enum": list(Phase.values)},
                        "photo_id": {"type": "string", "format": "uuid", "description": "客户端照片 UUID"},
                        "sha256": {
                            "type": "string",
                            "pattern": "^[0-9a-fA-F]{64}$",
                            "description": "客户端计算的 SHA-256 (hex)",
                        },
                        "lat": {"type": "number"},
                        "lng": {"type": "number"},
                        "crs": {"type": "string", "enum": ["wgs84", "gcj02"]},
                    },
                }
            }
        },
    }
}


def _read_upload(request: HttpRequest) -> dict:
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > MAX_BYTES + MULTIPART_OVERHEAD:
        raise ApiError("payload_too_large", detail={"max_bytes": MAX_BYTES})  # before a byte of the body is read
    upload = request.FILES.get("file")
    fields = request.POST
    problems = {}
    if upload is None:
        problems["file"] = "required"
    elif upload.size > MAX_BYTES:
        raise ApiError("payload_too_large", detail={"max_bytes": MAX_BYTES})
    if fields.get("phase") not in Phase.values:
        problems["phase"] = f"one of {', '.join(Phase.values)}"
    try:
        photo_id = uuid.UUID(fields.get("photo_id", ""))
    except ValueError:
        problems["photo_id"] = "a UUID"
    sha256 = (fields.get("sha256") or "").lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        problems["sha256"] = "64 hex digits"
    lat = lng = None
    if fields.get("lat") or fields.get("lng"):
        try:
            lat, lng = to_wgs84(lat=float(fields["lat"]), lng=float(fields["lng"]), crs=fields.get("crs", ""))
        except (KeyError, ValueError):
            problems["location"] = "lat, lng and crs (wgs84 or gcj02) together"
    if problems:
        raise ApiError("validation_error", detail=problems)
    return {
        "data": upload.read(),
        "phase": fields["phase"],
        "photo_id": photo_id,
        "sha256": sha256,
        "reported_lat": lat,
        "reported_lng": lng,
    }


@router.post(
    "/events/{event_id}/photos",
    response={201: dict, 200: dict, **ERRORS},
    openapi_extra=UPLOAD_BODY,
    summary="上传事件照片 Upload a photo of an event",
)
def upload_event_photo(request: HttpRequest, event_id: uuid.UUID):
    event = access_event(request.auth, event_id)
    if Photo.objects.filter(event=event).count() >= MAX_PER_EVENT:
        raise ApiError("too_many_photos", detail={"max": MAX_PER_EVENT})  # before reading the body
    photo, created = photo_intake(
        uploader=request.auth, device=getattr(request, "device", None), event=event, **_read_upload(request)
    )
    return Status(201 if created else 200, photo_out(request.auth, photo))


@router.post(
    "/photos",
    response={201: dict, 200: dict, **ERRORS},
    openapi_extra=UPLOAD_BODY,
    summary="上传尚未关联事件的照片 Upload a photo before its event exists",
)
def upload_photo(request: HttpRequest):
    photo, created = photo_intake(
        uploader=request.auth, device=getattr(request, "device", None), **_read_upload(request)
    )
    return Status(201 if created else 200, photo_out(request.auth, photo))


@router.get(
    "/photos/{photo_id}", response={200: dict, **ERRORS}, summary="照片与证据元数据 A photo and its evidence metadata"
)
def photo_detail(request: HttpRequest, photo_id: uuid.UUID):
    return photo_out(request.auth, access_photo(request.auth, photo_id))


@router.get(
    "/events/{event_id}/photos",
    response={200: dict, **ERRORS},
    summary="事件照片（处置前后对照，证据是否到齐）Photos of an event, before and after, and which have arrived",
)
def event_photos(request: HttpRequest, event_id: uuid.UUID):
    event = access_event(request.auth, event_id)
    photos = [
        p for p in Photo.objects.filter(event=event).order_by("received_at") if can_see(request.auth, p, event=event)
    ]
    by_phase = {phase: [photo_out(request.auth, p) for p in photos if p.phase == phase] for phase in Phase.values}
    before, after = by_phase["before"], by_phase["after"]
    pairs = [
        {"before": before[i] if i < len(before) else None, "after": after[i] if i < len(after) else None}
        for i in range(max(len(before), len(after)))
    ]
    answer = {
        **by_phase,
        "pairs": pairs,
        "required": {"before": event.category.before_photos_required, "after": event.category.after_photos_required},
    }
    if scope_of(request.auth).is_staff_role:  # the approval view; a resident sees the photos they may see
        answer["evidence"] = evidence_out(event)
    return answer
