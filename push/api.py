from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema

from backend.accounts.selectors import access_device
from backend.core.errors import ApiError
from backend.core.limits import RowId, Seq
from backend.core.schemas import ErrorOut
from push import schemas
from push.models import Notification, PushToken

router = Router(tags=["notifications"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
MAX_LIMIT = 200


class ListParams(Schema):
    after: Seq = 0
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    unread: bool = False


@router.get(
    "/notifications",
    response={200: schemas.NotificationPage, **ERRORS},
    summary="通知列表（按序号） Notifications after a sequence number",
)
def notification_list(request: HttpRequest, params: Query[ListParams]):
    mine = Notification.objects.filter(user=request.auth)
    rows = mine.filter(seq__gt=params.after)
    if params.unread:
        rows = rows.filter(read_at__isnull=True)
    rows = list(rows.order_by("seq")[: params.limit + 1])
    items = rows[: params.limit]
    latest = mine.order_by("-seq").values_list("seq", flat=True).first() or 0
    return {
        "items": [
            {
                **{f: getattr(n, f) for f in schemas.NotificationOut.model_fields if f != "event_id"},
                "event_id": str(n.event_id) if n.event_id else None,
            }
            for n in items
        ],
        "next_after": items[-1].seq if items else params.after,
        "has_more": len(rows) > params.limit,
        "latest_seq": latest,
    }


@router.post("/notifications/read", response={200: schemas.ReadOut, **ERRORS}, summary="标记已读 Mark read")
def notification_read(request: HttpRequest, payload: schemas.ReadIn):
    marked = Notification.objects.filter(user=request.auth, seq__lte=payload.up_to_seq, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    return {"marked": marked}


@router.post(
    "/devices/{device_pk}/push-token",
    response={200: schemas.PushTokenOut, **ERRORS},
    tags=["accounts"],
    summary="登记 FCM 推送令牌 Register the device's FCM token",
)
def push_token(request: HttpRequest, device_pk: Path[RowId], payload: schemas.PushTokenIn):
    device = access_device(request.auth, device_pk)
    if device.user_id != request.auth.pk:
        raise ApiError("not_found")  # even an admin registers only their own devices' tokens
    if device.revoked_at is not None:
        raise ApiError("token_revoked")
    PushToken.objects.update_or_create(device=device, defaults={"token": payload.token})
    return {"device_id": device.pk}
