from __future__ import annotations

from datetime import datetime
from typing import Annotated, NotRequired

from ninja import Field, Schema
from pydantic import ConfigDict, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from backend.core.limits import Instant

MAX_BATCH = 1_000
ItemId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


# The items are TypedDicts checked by one compiled validator for the whole batch
# (``validate_items``): a ninja Schema per item ran its Python root validator a
# thousand times a batch, more than all the batch's statements cost (docs/intake.md,
# "Speed").
class VideoAlertItem(TypedDict):
    """One alert of the camera platform."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    id: ItemId
    camera: Annotated[str, Field(min_length=1, max_length=64, description="the camera's channel code (as registered)")]
    type: Annotated[str, Field(min_length=1, max_length=32, description="alert type code (garbage, outside_business…)")]
    confidence: Annotated[float, Field(ge=0, le=1)]
    at: Instant
    snapshot: NotRequired[
        Annotated[
            str | None, Field(max_length=700_000, description="the snapshot, base64 JPEG (at most 512 KiB decoded)")
        ]
    ]


class PowerReadingItem(TypedDict):
    """One meter's use over one hour."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    id: ItemId
    meter: Annotated[str, Field(min_length=1, max_length=32)]
    hour: Annotated[Instant, Field(description="the hour's start (minutes and seconds must be zero)")]
    kwh: Annotated[float, Field(ge=0, le=1000)]


_VIDEO_ITEMS = TypeAdapter(list[VideoAlertItem])
_POWER_ITEMS = TypeAdapter(list[PowerReadingItem])


def _errors(errors: list[dict]) -> dict:
    return {".".join(str(p) for p in e["loc"]) or "item": e["msg"] for e in errors}


def validate_items(kind: str, items: list) -> tuple[list[tuple[int, dict]], dict[int, dict]]:
    """The batch's valid items (index, checked item) and each invalid one's errors by
    index (``{"field": "message"}``, ``{"item": …}`` when it is not an object): one
    validator call for a batch that is all good, two when some are not."""
    adapter = _VIDEO_ITEMS if kind == "video" else _POWER_ITEMS
    try:
        return list(enumerate(adapter.validate_python(items))), {}
    except ValidationError as error:
        by_index: dict[int, list[dict]] = {}
        for e in error.errors():
            by_index.setdefault(e["loc"][0], []).append({**e, "loc": e["loc"][1:]})
    good = [index for index in range(len(items)) if index not in by_index]
    checked = adapter.validate_python([items[index] for index in good])
    return list(zip(good, checked, strict=True)), {index: _errors(errors) for index, errors in by_index.items()}


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
