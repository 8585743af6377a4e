"""Who may see which photo, and short-lived signed URLs for them."""

from __future__ import annotations

from django.core import signing
from django.urls import reverse

from backend.accounts.models import Role, User
from backend.accounts.scope import scope_of
from backend.core.errors import ApiError
from backend.events.selectors import access_event
from media.models import Phase, Photo

URL_SECONDS = 300
SALT = "media.photo-url"
VARIANTS = ("thumb", "display", "original")
# Originals are evidence: only the roles that judge it get them.
ORIGINAL_ROLES = {Role.DISPATCHER, Role.SECRETARY, Role.COMMANDER, Role.ADMIN}


def can_see(user: User, photo: Photo, *, event=None) -> bool:
    """``event``: the photo's event, already fetched through ``access_event`` (saves a
    query per photo when listing an event's photos)."""
    if photo.event_id is None:
        return photo.uploader_id == user.pk
    if event is None:
        try:
            event = access_event(user, photo.event_id)
        except ApiError:
            return False
    if not scope_of(user).is_staff_role:
        # A resident who may see the event (its reporter or a follower): the result, and
        # the photos they took themselves.
        return photo.phase == Phase.AFTER or photo.uploader_id == user.pk
    return True


def can_see_original(user: User) -> bool:
    return bool(scope_of(user).roles & ORIGINAL_ROLES) or user.is_superuser


def access_photo(user: User, photo_id, *, variant: str = "display") -> Photo:
    photo = Photo.objects.filter(pk=photo_id).first()
    if photo is None or not can_see(user, photo):
        raise ApiError("not_found")
    if variant == "original" and not can_see_original(user):
        raise ApiError("forbidden", detail={"variant": "originals are for dispatchers, secretaries and the district"})
    return photo


def signed_url(user: User, photo: Photo, variant: str) -> str:
    token = signing.dumps({"p": str(photo.pk), "v": variant, "u": user.pk}, salt=SALT, compress=True)
    return reverse("photo-file", args=[token])


def verify_url_token(token: str) -> tuple[str, str, int]:
    try:
        payload = signing.loads(token, salt=SALT, max_age=URL_SECONDS)
    except signing.SignatureExpired:
        raise ApiError("url_expired") from None
    except signing.BadSignature:
        raise ApiError("not_found") from None
    return payload["p"], payload["v"], payload["u"]


def photo_out(user: User, photo: Photo) -> dict:
    variants = ["thumb", "display"] + (["original"] if can_see_original(user) else [])
    return {
        "id": str(photo.pk),
        "event_id": str(photo.event_id) if photo.event_id else None,
        "phase": photo.phase,
        "sha256": photo.sha256,
        "format": photo.format,
        "width": photo.width,
        "height": photo.height,
        "size_bytes": photo.size_bytes,
        "captured_at": photo.captured_at,
        "capture_offset": photo.capture_offset,
        "gps_lat": photo.gps_lat,
        "gps_lng": photo.gps_lng,
        "gps_accuracy_m": photo.gps_accuracy_m,
        "camera_make": photo.camera_make,
        "camera_model": photo.camera_model,
        "received_at": photo.received_at,
        "flags": photo.flags,
        "urls": {variant: signed_url(user, photo, variant) for variant in variants},
        "url_expires_in": URL_SECONDS,
    }


def evidence_out(event) -> dict:
    """The approval view of an event's evidence: per phase, each photo the category
    requires or a step claimed, arrived (with its id) or still expected, and a
    ``missing`` slot for each required photo nobody has claimed."""
    from backend.events.services import evidence_of

    evidence = evidence_of(event)
    ids = dict(Photo.objects.filter(event=event).values_list("sha256", "pk"))
    out: dict = {"complete": evidence.complete, "state": event.state}
    for phase, ev in (("before", evidence.before), ("after", evidence.after)):
        slots = [{"sha256": d, "status": "arrived", "photo_id": str(ids[d])} for d in ev.arrived]
        slots += [{"sha256": d, "status": "expected", "photo_id": None} for d in ev.expected]
        slots += [{"sha256": None, "status": "missing", "photo_id": None}] * max(0, ev.required - len(slots))
        out[phase] = {
            "required": ev.required,
            "arrived": len(ev.arrived),
            "expected": len(ev.expected),
            "photos": slots,
        }
    return out
