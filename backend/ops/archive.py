"""Export of one event with its history and evidence, as a zip archive that
``backend.ops.archive_verify`` checks offline."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from django.core.files.storage import default_storage

from backend.core.times import wire_time
from backend.events.history import HASHED_FIELDS
from backend.events.models import Event, EventAction
from media.models import Photo

FORMAT_VERSION = 1


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True, default=str).encode()


def _wire(value):
    return wire_time(value) if value is not None else None


def event_archive(event: Event) -> bytes:
    files: dict[str, bytes] = {}
    files["event.json"] = _json(
        {
            "id": str(event.pk),
            "number": event.number,
            "category": event.category.code,
            "category_name": event.category.name,
            "state": event.state,
            "source": event.source,
            "description": event.description,
            "grid": event.grid.code,
            "reported_at": _wire(event.reported_at),
            "action_count": event.action_count,
            "last_action_hash": event.last_action_hash,
        }
    )
    history = []
    for row in EventAction.objects.filter(event=event).order_by("seq"):
        entry = {name: getattr(row, name) for name in HASHED_FIELDS}
        entry["event_id"] = str(row.event_id)
        entry["server_at"], entry["device_at"] = _wire(row.server_at), _wire(row.device_at)
        entry["hash"] = row.hash
        history.append(entry)
    files["history.json"] = _json(history)
    photos = []
    for photo in Photo.objects.filter(event=event).order_by("received_at", "pk"):
        name = f"photos/{photo.sha256}.{photo.format.lower()}"
        with default_storage.open(photo.original_key, "rb") as stream:
            files[name] = stream.read()
        photos.append(
            {
                "id": str(photo.pk),
                "phase": photo.phase,
                "sha256": photo.sha256,
                "file": name,
                "captured_at": _wire(photo.captured_at),
                "received_at": _wire(photo.received_at),
            }
        )
    files["photos.json"] = _json(photos)
    manifest = {
        "format": FORMAT_VERSION,
        "event": event.number,
        "files": {name: hashlib.sha256(content).hexdigest() for name, content in files.items()},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        archive.writestr("manifest.json", _json(manifest))
    return buffer.getvalue()


def export_event(event: Event, to: Path) -> str:
    """Writes the archive; answers its SHA-256 (to note beside it: the archive's own seal)."""
    data = event_archive(event)
    Path(to).write_bytes(data)
    return hashlib.sha256(data).hexdigest()
