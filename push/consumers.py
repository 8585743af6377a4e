"""The websocket of phones and consoles: ``/ws/v1/?after=SEQ``.

Authentication: ``Authorization: Bearer <access token>`` on the handshake (phones),
or, for browsers that cannot set headers, the subprotocols ``["bearer", "<token>"]``
(the server answers with subprotocol ``bearer``). Never in the URL.
docs/realtime.md has the messages and close codes."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from backend.accounts.auth import user_for_access_token
from backend.accounts.models import Role
from backend.accounts.scope import scope_of
from backend.accounts.tokens import decode_access_token
from backend.core.errors import ApiError
from push.models import Notification
from push.services import notification_payload, street_group, user_group

REPLAY_LIMIT = 200
CLOSE_CODES = {
    "not_authenticated": 4001,
    "token_invalid": 4002,
    "token_expired": 4003,
    "token_revoked": 4004,
    "account_disabled": 4004,
}


def _authenticate(token: str):
    claims = decode_access_token(token)
    user, device = user_for_access_token(token)
    return (
        user,
        device,
        claims.expires_at,
        sorted(scope_of(user).street_ids) if Role.DISPATCHER in scope_of(user).roles else [],
    )


def _replay(user_id: int, after: int) -> tuple[list[dict], int | None]:
    rows = list(Notification.objects.filter(user_id=user_id, seq__gt=after).order_by("seq")[: REPLAY_LIMIT + 1])
    if len(rows) > REPLAY_LIMIT:
        latest = Notification.objects.filter(user_id=user_id).order_by("-seq").values_list("seq", flat=True).first()
        return [], latest
    return [notification_payload(n) for n in rows], None


def _ack(user_id: int, seq: int) -> int:
    return Notification.objects.filter(user_id=user_id, seq__lte=seq, delivered_at__isnull=True).update(
        delivered_at=timezone.now()
    )


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    groups: list[str] = []

    def _credentials(self) -> tuple[str | None, str | None]:
        headers = dict(self.scope.get("headers", []))
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if authorization.lower().startswith("bearer "):
            return authorization[7:].strip(), None
        subprotocols = self.scope.get("subprotocols") or []
        if len(subprotocols) >= 2 and subprotocols[0].lower() == "bearer":
            return subprotocols[1], "bearer"
        return None, ("bearer" if subprotocols[:1] == ["bearer"] else None)

    async def connect(self) -> None:
        token, subprotocol = self._credentials()
        self.user_id = None
        self.joined: list[str] = []
        self.expiry_task = None
        if not token:
            await self.accept(subprotocol)
            await self.close(code=CLOSE_CODES["not_authenticated"])
            return
        try:
            user, _device, expires_at, streets = await database_sync_to_async(_authenticate)(token)
        except ApiError as error:
            await self.accept(subprotocol)
            await self.close(code=CLOSE_CODES.get(error.code, 4002))
            return
        try:
            after = int(parse_qs(self.scope.get("query_string", b"").decode()).get("after", ["0"])[0])
        except ValueError:
            after = 0
        self.user_id = user.pk
        self.last_sent = after
        self.joined = [user_group(user.pk), *(street_group(s) for s in streets)]
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept(subprotocol)
        await self.send_json({"type": "hello", "user_id": user.pk, "after": after})
        self.expiry_task = asyncio.create_task(self._close_when_expired(expires_at))
        payloads, latest = await database_sync_to_async(_replay)(user.pk, after)
        if latest is not None:
            # Too much missed: the client pages through GET /api/v1/notifications instead.
            await self.send_json({"type": "resync", "after": after, "latest_seq": latest})
            self.last_sent = max(self.last_sent, latest)
        for payload in payloads:
            await self._send_notification(payload)

    async def _close_when_expired(self, expires_at: float) -> None:
        await asyncio.sleep(max(0.0, expires_at - timezone.now().timestamp()))
        await self.close(code=CLOSE_CODES["token_expired"])

    async def disconnect(self, code: int) -> None:
        if self.expiry_task is not None:
            self.expiry_task.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _send_notification(self, payload: dict) -> None:
        # Replay and live delivery can overlap: at-least-once, in order, no repeats here.
        if payload["seq"] <= self.last_sent:
            return
        self.last_sent = payload["seq"]
        await self.send_json({"type": "notification", **payload})

    async def notify_message(self, message: dict) -> None:
        await self._send_notification(message["notification"])

    async def events_changed(self, message: dict) -> None:
        for event in message["events"]:
            await self.send_json({"type": "event.changed", "event": event})

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ack" and isinstance(content.get("seq"), int):
            await database_sync_to_async(_ack)(self.user_id, content["seq"])
            await self.send_json({"type": "acked", "seq": content["seq"]})
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "code": "unknown_message", "message": "未知消息 unknown message"})
