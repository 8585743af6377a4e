from datetime import datetime

from ninja import Field, Schema

from backend.core.limits import BIGINT_MAX


class NotificationOut(Schema):
    id: int
    seq: int
    kind: str
    title: str
    body: str
    data: dict
    event_id: str | None
    created_at: datetime
    delivered_at: datetime | None
    read_at: datetime | None


class NotificationPage(Schema):
    items: list[NotificationOut]
    next_after: int
    has_more: bool
    latest_seq: int


class ReadIn(Schema):
    up_to_seq: int = Field(..., ge=0, le=BIGINT_MAX, description="mark every notification with seq ≤ this read")


class ReadOut(Schema):
    marked: int


class PushTokenIn(Schema):
    token: str = Field(..., min_length=10, max_length=4096, description="FCM registration token")


class PushTokenOut(Schema):
    device_id: int
    registered: bool = True
