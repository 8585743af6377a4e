"""notify(): the notification rows in the caller's transaction, delivery after commit."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterable
from datetime import datetime

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backend.core.times import wire_time
from backend.ops.context import current_request_id
from push.models import PUSHED_KINDS, Notification, NotificationCounter, PushOutbox, PushToken

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def street_group(street_id: int) -> str:
    return f"street.{street_id}"


def notification_payload(notification: Notification) -> dict:
    return {
        "id": notification.pk,
        "seq": notification.seq,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "event_id": str(notification.event_id) if notification.event_id else None,
        "created_at": wire_time(notification.created_at),
    }


def _next_seq(user_id: int) -> int:
    NotificationCounter.objects.get_or_create(user_id=user_id)
    NotificationCounter.objects.filter(user_id=user_id).update(last=F("last") + 1)
    return NotificationCounter.objects.select_for_update().values_list("last", flat=True).get(user_id=user_id)


def notify(
    *,
    users: Iterable[int | None],
    kind: str,
    title: str,
    body: str = "",
    event=None,
    data: dict | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """One notification per recipient, in the current transaction; FCM sends for
    assignments and urges go to the outbox; websocket delivery runs on commit."""
    now = now or timezone.now()
    made = []
    with transaction.atomic():
        for user_id in sorted({u for u in users if u}):
            notification = Notification.objects.create(
                user_id=user_id,
                seq=_next_seq(user_id),
                kind=kind,
                title=title[:100],
                body=body[:300],
                event=event,
                data=data or {},
            )
            made.append(notification)
            if kind in PUSHED_KINDS:
                tokens = PushToken.objects.filter(device__user_id=user_id, device__revoked_at__isnull=True)
                PushOutbox.objects.bulk_create(
                    [PushOutbox(notification=notification, push_token=token, next_attempt_at=now) for token in tokens]
                )
    if made:
        payloads = [(n.user_id, notification_payload(n)) for n in made]
        transaction.on_commit(lambda: deliver_live(payloads))
    return made


def notify_many(
    *,
    users: Iterable[int | None],
    kind: str,
    title: str,
    body: str = "",
    event=None,
    data: dict | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """``notify`` for many recipients of one message (an event's followers) in a fixed
    number of statements, however many they are: the counters made and raised at once,
    read back locked, the rows and the FCM outbox inserted in bulk."""
    now = now or timezone.now()
    user_ids = sorted({u for u in users if u})
    if not user_ids:
        return []
    with transaction.atomic():
        NotificationCounter.objects.bulk_create(
            [NotificationCounter(user_id=u) for u in user_ids], ignore_conflicts=True
        )
        NotificationCounter.objects.filter(user_id__in=user_ids).update(last=F("last") + 1)
        seqs = dict(
            NotificationCounter.objects.select_for_update().filter(user_id__in=user_ids).values_list("user_id", "last")
        )
        made = Notification.objects.bulk_create(
            [
                Notification(
                    user_id=u,
                    seq=seqs[u],
                    kind=kind,
                    title=title[:100],
                    body=body[:300],
                    event=event,
                    data=data or {},
                    created_at=now,
                )
                for u in user_ids
            ]
        )
        if kind in PUSHED_KINDS:
            if any(n.pk is None for n in made):  # a database that returns no ids from a bulk insert
                made = list(Notification.objects.filter(user_id__in=user_ids, seq__in=set(seqs.values()), kind=kind))
            by_user = {n.user_id: n for n in made}
            tokens = PushToken.objects.filter(
                device__user_id__in=user_ids, device__revoked_at__isnull=True
            ).values_list("pk", "device__user_id")
            PushOutbox.objects.bulk_create(
                [
                    PushOutbox(notification=by_user[user_id], push_token_id=token_id, next_attempt_at=now)
                    for token_id, user_id in tokens
                    if user_id in by_user
                ]
            )
    payloads = [(n.user_id, notification_payload(n)) for n in made]
    transaction.on_commit(lambda: deliver_live(payloads))
    return made


SEND_TIMEOUT_SECONDS = 10
_sender: tuple[int, asyncio.AbstractEventLoop] | None = None
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    """The process's one event loop for channel-layer sends from plain threads (a
    gunicorn worker, a command), started on first use (again after a fork)."""
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def _run_send(layer, send) -> None:
    """Run ``send()`` (a coroutine function) to completion. Under WSGI ``async_to_sync``
    would start a new thread and event loop for each call, and channels_redis a new
    Redis connection for each loop: a sixth of a tip's CPU time (tip_submit_rps,
    docs/residents.md). Redis layers are safe from any loop, so plain threads share one
    loop that lives as long as the process; inside ASGI (a sync view run by
    ``sync_to_async``) and with the in-memory layer, whose queues belong to the
    consumers' loop, ``async_to_sync`` stays."""
    in_asgi = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid()
    if in_asgi or not type(layer).__module__.startswith("channels_redis."):
        async_to_sync(send)()
        return
    asyncio.run_coroutine_threadsafe(send(), _sender_loop()).result(timeout=SEND_TIMEOUT_SECONDS)


def group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()

    async def send() -> None:
        await layer.group_send(group, message)

    try:
        _run_send(layer, send)
    except Exception:  # the notification stays listed and replayable; delivery is best effort
        logger.exception("channel layer delivery to %s failed", group)


def deliver_live(payloads: list[tuple[int, dict]]) -> None:
    # The request's id and the commit time travel with the message: the socket's send is
    # logged under that id and its delay measured (backend/ops, /metrics).
    trace = {"request_id": current_request_id(), "committed_at": time.time()}
    for user_id, payload in payloads:
        group_send(user_group(user_id), {"type": "notify.message", "notification": payload, **trace})


def broadcast_event_change(event) -> None:
    """The street's live feed for its dispatchers: only events of that street."""
    broadcast_event_changes([event])


def broadcast_event_changes(events) -> None:
    """One channel-layer message per street however many events changed (a phone's
    batch of reports); each connection still receives one ``event.changed`` per event."""
    by_street: dict[int, list[dict]] = {}
    for event in events:
        by_street.setdefault(event.street_id, []).append(
            {
                "id": str(event.pk),
                "number": event.number,
                "state": event.state,
                "level": event.level,
                "overdue": event.overdue,
                # One meaning per field name across the API: ``category`` is the code, as
                # in every other answer (``category_code`` in sync); the name is beside it.
                "category": event.category.code,
                "category_name": event.category.name,
                "grid_id": event.grid_id,
            }
        )
    messages = [
        (street_group(street_id), {"type": "events.changed", "events": changed})
        for street_id, changed in by_street.items()
    ]
    transaction.on_commit(lambda: group_send_many(messages))


def group_send_many(messages: list[tuple[str, dict]]) -> None:
    """Several messages in one trip into the event loop (a batch of a phone's reports)."""
    layer = get_channel_layer()

    async def send_all() -> None:
        for group, message in messages:
            await layer.group_send(group, message)

    try:
        _run_send(layer, send_all)
    except Exception:
        logger.exception("channel layer delivery of %d messages failed", len(messages))
