from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema
from pydantic import ConfigDict

from backend.core.limits import Instant

MAX_BATCH = 1_000
ItemId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")


class VideoAlertItem(Schema):
    """One alert of the camera platform."""

    model_config = ConfigDict(extra="forbid")
    id: str = ItemId
    camera: str = Field(min_length=1, max_length=64, description="the camera's channel code (as registered)")
    type: str = Field(min_length=1, max_length=32, description="alert type code (garbage, outside_business…)")
    confidence: float = Field(ge=0, le=1)
    at: Instant
    snapshot: str | None = Field(
        None, max_length=700_000, description="the snapshot, base64 JPEG (at most 512 KiB decoded)"
    )


class PowerReadingItem(Schema):
    """One meter's use over one hour."""

    model_config = ConfigDict(extra="forbid")
    id: str = ItemId
    meter: str = Field(min_length=1, max_length=32)
    hour: Instant = Field(description="the hour's start (minutes and seconds must be zero)")
    kwh: float = Field(ge=0, le=1000)


class VideoBatchIn(Schema):
    items: list[dict] = Field(min_length=1, max_length=MAX_BATCH, description="VideoAlertItem objects")


class PowerBatchIn(Schema):
    items: list[dict] = Field(min_length=1, max_length=MAX_BATCH, description="PowerReadingItem objects")


class ItemResult(Schema):
    id: str | None
    status: str = Field(description="accepted, attached, dropped, duplicate or rejected (video); stored or rejected")
    alert_id: int | None = None
    error: dict | None = None


class BatchOut(Schema):
    message_id: str
    counts: dict[str, int]
    items: list[ItemResult]


class AlertStatusOut(Schema):
    id: int
    item_id: str
    camera: str
    type: str
    state: str
    repeats: int
    first_at: datetime
    last_at: datetime
    event_number: str | None


class ReviewIn(Schema):
    note: str = Field("", max_length=300)


class AlertOut(Schema):
    id: int
    camera_id: int
    camera_name: str
    grid_id: int
    type: str
    type_name: str
    category_code: str
    confidence: float
    first_at: datetime
    last_at: datetime
    repeats: int
    state: str
    state_label: str
    snapshot_id: str | None
    event_id: str | None
    event_number: str | None


class AlertPage(Schema):
    items: list[AlertOut]
    page: int
    page_size: int
    has_more: bool


class PrecisionRow(Schema):
    camera_id: int | None
    type: str
    received: int
    dropped: int
    suppressed: int
    confirmed: int
    dismissed: int
    precision: float | None


class PrecisionOut(Schema):
    by_type: list[PrecisionRow]
    by_camera: list[PrecisionRow]
