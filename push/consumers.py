"""The websocket of phones and consoles: ``/ws/v1/?after=SEQ``.

Authentication: ``Authorization: Bearer <access token>`` on the handshake (phones),
or, for browsers that cannot set headers, the subprotocols ``["bearer", "<token>"]``
(the server answers with subprotocol ``bearer``). Never in the URL.
docs/realtime.md has the messages and close codes."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from backend.accounts.auth import user_for_access_token
from backend.accounts.models import Device, Role
from backend.accounts.realtime import device_group
from backend.accounts.scope import scope_of
from backend.accounts.tokens import decode_access_token
from backend.core.errors import ApiError
from backend.ops.context import request_id_scope
from backend.ops.metrics import WEBSOCKET_LAG, WEBSOCKET_MESSAGES, WEBSOCKETS_OPEN
from push.models import Notification
from push.services import notification_payload, street_group, user_group

logger = logging.getLogger(__name__)

REPLAY_LIMIT = 200
# Sequence numbers are bigint: anything larger cannot name a notification (and PostgreSQL
# would refuse to compare with it).
MAX_SEQ = 2**63 - 1
# A live notification re-checks the device's token generation when the last check is
# older than this (belt and braces: the revocation message closes the socket first).
REVALIDATE_SECONDS = 1.0
CLOSE_CODES = {
    "not_authenticated": 4001,
    "token_invalid": 4002,
    "token_expired": 4003,
    "token_revoked": 4004,
    "account_disabled": 4004,
    "invalid_after": 4400,
}


def _authenticate(token: str):
    claims = decode_access_token(token)
    user, device = user_for_access_token(token)
    return (
        user,
        device,
        claims,
        sorted(scope_of(user).street_ids) if Role.DISPATCHER in scope_of(user).roles else [],
    )


def _still_signed_in(user_id: int, device_pk: int, generation: int) -> bool:
    """What user_for_access_token checks, without the token: the device is live, its
    generation is the token's, the account is active."""
    return Device.objects.filter(
        pk=device_pk, user_id=user_id, token_generation=generation, revoked_at__isnull=True, user__is_active=True
    ).exists()


def parse_after(query_string: bytes) -> int | None:
    """``?after=`` as a sequence number: absent means 0; anything but a whole number
    from 0 to MAX_SEQ is None (refused, not guessed)."""
    values = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get("after")
    if not values:
        return 0
    text = values[-1]
    if not text.isascii() or not text.isdigit():  # no sign, no spaces, no "1e3"
        return None
    value = int(text)
    return value if value <= MAX_SEQ else None


def _is_seq(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEQ


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
        # The subprotocol is answered as the client offered it ("Bearer" or "bearer"): a
        # browser drops a handshake whose answer it did not offer.
        offered = subprotocols[0] if subprotocols and subprotocols[0].lower() == "bearer" else None
        if offered and len(subprotocols) >= 2:
            return subprotocols[1], offered
        return None, offered

    async def connect(self) -> None:
        token, subprotocol = self._credentials()
        self.user_id = None
        self.joined: list[str] = []
        self.expiry_task = None
        self.closing = False
        self.counted = False
        if not token:
            await self.accept(subprotocol)
            await self.close(code=CLOSE_CODES["not_authenticated"])
            return
        try:
            # The device's group carries its revocation (backend/accounts/realtime.py). It is
            # joined before the database says the device is live, so a revocation committed
            # after that check is heard; one committed before it fails the check.
            self.joined = [device_group(decode_access_token(token).device_pk)]
            await self.channel_layer.group_add(self.joined[0], self.channel_name)
            user, device, claims, streets = await database_sync_to_async(_authenticate)(token)
        except ApiError as error:
            await self.accept(subprotocol)
            await self.close(code=CLOSE_CODES.get(error.code, 4002))
            return
        after = parse_after(self.scope.get("query_string", b""))
        if after is None:
            # A client bug: guessing 0 would replay everything, echoing it back would hide it.
            await self.accept(subprotocol)
            await self._send_error("invalid_after", "after 须为非负整数 after must be a whole number ≥ 0")
            await self.close(code=CLOSE_CODES["invalid_after"])
            return
        if claims.expires_at <= timezone.now().timestamp():
            # Within the clock leeway HTTP allows: a socket is not opened on it (no hello).
            await self.accept(subprotocol)
            await self.close(code=CLOSE_CODES["token_expired"])
            return
        self.user_id = user.pk
        self.device_pk = device.pk
        self.generation = claims.generation
        self.expires_at = claims.expires_at
        self.checked_at = time.monotonic()
        self.last_sent = after
        groups = [user_group(user.pk), *(street_group(s) for s in streets)]
        self.joined += groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept(subprotocol)
        WEBSOCKETS_OPEN.inc()
        self.counted = True
        await self.send_json({"type": "hello", "user_id": user.pk, "after": after})
        self.expiry_task = asyncio.create_task(self._close_when_expired(claims.expires_at))
        payloads, latest = await database_sync_to_async(_replay)(user.pk, after)
        if latest is not None:
            # Too much missed: the client pages through GET /api/v1/notifications instead.
            await self.send_json({"type": "resync", "after": after, "latest_seq": latest})
            self.last_sent = max(self.last_sent, latest)
        for payload in payloads:
            await self._send_notification(payload)

    async def _close_when_expired(self, expires_at: float) -> None:
        await asyncio.sleep(max(0.0, expires_at - timezone.now().timestamp()))
        await self._close(CLOSE_CODES["token_expired"])

    async def _close(self, code: int) -> None:
        # Group messages keep arriving until the disconnect is processed: nothing more is
        # sent once the close is decided.
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    async def device_revoked(self, message: dict) -> None:
        await self._close(CLOSE_CODES["token_revoked"])

    async def _still_allowed(self) -> bool:
        """Before a live message: the token has not expired, and (at most a second
        stale) the device was not revoked since."""
        if self.closing:
            return False
        if timezone.now().timestamp() >= self.expires_at:
            await self._close(CLOSE_CODES["token_expired"])
            return False
        if time.monotonic() - self.checked_at >= REVALIDATE_SECONDS:
            if not await database_sync_to_async(_still_signed_in)(self.user_id, self.device_pk, self.generation):
                await self._close(CLOSE_CODES["token_revoked"])
                return False
            self.checked_at = time.monotonic()
        return True

    async def disconnect(self, code: int) -> None:
        if self.counted:
            WEBSOCKETS_OPEN.dec()
            self.counted = False
        if self.expiry_task is not None:
            self.expiry_task.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _send_notification(self, payload: dict) -> bool:
        # Replay and live delivery can overlap: at-least-once, in order, no repeats here.
        if payload["seq"] <= self.last_sent:
            return False
        self.last_sent = payload["seq"]
        await self.send_json({"type": "notification", **payload})
        WEBSOCKET_MESSAGES.labels("notification").inc()
        return True

    async def notify_message(self, message: dict) -> None:
        if await self._still_allowed():
            # Logged under the id of the request that made it; its delay since commit measured.
            with request_id_scope(message.get("request_id") or ""):
                if not await self._send_notification(message["notification"]):
                    return
                if "committed_at" in message:
                    WEBSOCKET_LAG.observe(max(0.0, time.time() - message["committed_at"]))
                logger.info("notification %s sent on a socket", message["notification"].get("seq"))

    async def events_changed(self, message: dict) -> None:
        if not await self._still_allowed():
            return
        for event in message["events"]:
            await self.send_json({"type": "event.changed", "event": event})
        WEBSOCKET_MESSAGES.labels("event.changed").inc(len(message["events"]))

    async def _send_error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        # The JSON consumer raises on a binary frame or bad JSON, and an exception closes
        # the socket with 1011: a client's malformed frame is answered, not fatal.
        if self.closing or self.user_id is None:
            return
        if text_data is None:
            await self._send_error("binary_frame", "仅支持 JSON 文本帧 only JSON text frames are accepted")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._send_error("invalid_json", "消息不是有效的 JSON the message is not valid JSON")
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ack":
            seq = content.get("seq")
            if not _is_seq(seq):
                await self._send_error("invalid_ack", "seq 须为非负整数 seq must be a whole number ≥ 0")
                return
            await database_sync_to_async(_ack)(self.user_id, seq)
            await self.send_json({"type": "acked", "seq": seq})
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self._send_error("unknown_message", "未知消息 unknown message")
