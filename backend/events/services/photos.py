"""Photo references on an event and the custody rows of arrived photos."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backend.accounts.actor import Actor
from backend.core.errors import ApiError
from backend.events.models import (
    Event,
)
from backend.events.services.recording import _record


@dataclass
class Photos:
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


PHOTO_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


def photo_digest(reference: str) -> str | None:
    """The SHA-256 a photo reference names (``<hex>`` or ``sha256:<hex>``), else None."""
    match = PHOTO_DIGEST.match(reference or "")
    return match.group(1).lower() if match else None


def _add_photos(event: Event, photos: Photos) -> None:
    current = {"before": list(event.photos.get("before", [])), "after": list(event.photos.get("after", []))}
    for phase, refs in (("before", photos.before), ("after", photos.after)):
        for ref in refs:
            ref = photo_digest(ref) or ref  # "sha256:<hex>" and "<hex>" name one photo: count it once
            if ref not in current[phase]:
                current[phase].append(ref)
    event.photos = current


def _check_photos(event: Event) -> None:
    category = event.category
    before = len(event.photos.get("before", []))
    after = len(event.photos.get("after", []))
    if before < category.before_photos_required or after < category.after_photos_required:
        raise ApiError(
            "photos_missing",
            detail={
                "before": {"required": category.before_photos_required, "present": before},
                "after": {"required": category.after_photos_required, "present": after},
            },
        )


def record_photo(*, event: Event, actor: Actor, phase: str, digest: str, data: dict) -> Event:
    """Custody of a photo: who uploaded it, from which device, when, its digest, as a
    row of the event's hash chain; before/after photos count toward closure."""
    if phase in ("before", "after"):
        _add_photos(event, Photos(**{phase: [digest]}))
    role = next(iter(sorted(actor.scope.roles)), "")
    return _record(
        event,
        action="photo",
        actor=actor,
        role=role,
        from_state=event.state,
        note=f"{phase} photo",
        data={"sha256": digest, "phase": phase, **data},
        fields=("photos",),
    )
