"""notify(): the notification rows in the caller's transaction, delivery after commit."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
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


@dataclass(frozen=True)
class Message:
    """One notification to several users (a row each)."""

    users: tuple[int, ...]
    kind: str
    title: str
    body: str
    event: object
    data: dict


class _Collecting(threading.local):
    def __init__(self) -> None:
        self.stack: list[list[Message]] = []


_collecting = _Collecting()


@contextmanager
def notifications_collected(*, write: bool = True) -> Iterator[list[Message]]:
    """The notifications asked for in the block (a step's: its holders', its
    followers', the rating request) are written together when it ends, in a fixed
    number of statements; nothing is written if the block raises. A nested block hands
    its messages to the outer one. ``write=False``: the outermost block leaves them in
    the list it yields, for the caller to write (``write_messages``, or with other rows
    in one statement: ``backend.events.writes``)."""
    messages: list[Message] = []
    _collecting.stack.append(messages)
    try:
        yield messages
    finally:
        _collecting.stack.pop()
    if _collecting.stack:
        _collecting.stack[-1].extend(messages)
        messages.clear()
        return
    if messages and write:
        _write(messages, now=timezone.now())


def write_messages(messages: list[Message], *, now: datetime) -> None:
    """The notifications of a ``notifications_collected`` block."""
    if messages:
        _write(messages, now=now)


def made_notifications(made: list[Notification]) -> None:
    """Notifications written elsewhere in one statement with other rows
    (``backend.events.writes``): delivered live once the transaction commits."""
    payloads = [(n.user_id, notification_payload(n)) for n in made]
    transaction.on_commit(lambda: deliver_live(payloads))


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
    """One notification per recipient, in the current transaction; FCM sends for the
    pushed kinds go to the outbox; websocket delivery runs on commit. Inside
    ``notifications_collected`` the rows are written when the block ends (and the
    answer is empty)."""
    message = Message(tuple(sorted({u for u in users if u})), kind, title[:100], body[:300], event, data or {})
    if not message.users:
        return []
    if _collecting.stack:
        _collecting.stack[-1].append(message)
        return []
    return _write([message], now=now or timezone.now())


# Many recipients of one message (an event's followers) are the same write.
notify_many = notify


def _write(messages: list[Message], *, now: datetime) -> list[Notification]:
    """The rows of several messages in a fixed number of statements, however many
    recipients: every counter raised at once and read back (the rows stay locked until
    commit, so each user's ``seq`` has no gap and no repeat), the notifications in one
    insert, the FCM outbox and the rows' request ids in one each."""
    from backend.fastpath import notifications as fast

    if fast.applies():  # PostgreSQL: the same rows in one statement
        made = fast.write(messages, now=now, request_id=current_request_id())
        made_notifications(made)
        return made
    wanted = Counter(user for message in messages for user in message.users)
    with transaction.atomic(savepoint=False):
        last = _raise_counters(wanted)
        rows = []
        for message in messages:
            for user_id in message.users:
                last[user_id] += 1
                rows.append(
                    Notification(
                        user_id=user_id,
                        seq=last[user_id],
                        kind=message.kind,
                        title=message.title,
                        body=message.body,
                        event=message.event,
                        data=message.data,
                        created_at=now,
                    )
                )
        made = Notification.objects.bulk_create(rows)
        if any(n.pk is None for n in made):  # a database that returns no ids from a bulk insert
            keys = {(n.user_id, n.seq) for n in made}
            found = Notification.objects.filter(user_id__in=list(wanted), seq__in={seq for _, seq in keys})
            made = [n for n in found if (n.user_id, n.seq) in keys]
        pushed = [n for n in made if n.kind in PUSHED_KINDS]
        if pushed:
            _queue_pushes(pushed, now=now)
    payloads = [(n.user_id, notification_payload(n)) for n in made]
    transaction.on_commit(lambda: deliver_live(payloads))
    return made


def _raise_counters(wanted: Counter) -> dict[int, int]:
    """Each user's counter raised by its count of new notifications (made if missing),
    in one statement; answers the counters' values before this raise."""
    table = connection.ops.quote_name(NotificationCounter._meta.db_table)
    users = sorted(wanted)  # one order for every writer: two steps never wait on each other's rows crosswise
    values = ", ".join(["(%s, %s)"] * len(users))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, last) VALUES {values} ON CONFLICT (user_id) "
            f"DO UPDATE SET last = {table}.last + excluded.last RETURNING user_id, last",
            [value for user in users for value in (user, wanted[user])],
        )
        return {user_id: last - wanted[user_id] for user_id, last in cursor.fetchall()}


def _queue_pushes(notifications: list[Notification], *, now: datetime) -> None:
    """The FCM outbox rows (one per device token) and, under a request, its id for
    each notification (``backend.ops``: the send is logged under it)."""
    from backend.ops.models import NotificationOrigin

    by_user: dict[int, list[Notification]] = {}
    for notification in notifications:
        by_user.setdefault(notification.user_id, []).append(notification)
    tokens = PushToken.objects.filter(device__user_id__in=list(by_user), device__revoked_at__isnull=True).values_list(
        "pk", "device__user_id"
    )
    outbox = [
        PushOutbox(notification=notification, push_token_id=token_id, next_attempt_at=now)
        for token_id, user_id in tokens
        for notification in by_user[user_id]
    ]
    if outbox:
        PushOutbox.objects.bulk_create(outbox)
    request_id = current_request_id()
    if request_id:
        NotificationOrigin.objects.bulk_create(
            [NotificationOrigin(notification=n, request_id=request_id) for n in notifications]
        )


SEND_TIMEOUT_SECONDS = 10
_sender: tuple[int, asyncio.AbstractEventLoop, asyncio.Lock] | None = None
_sender_lock = threading.Lock()


def _sender_loop() -> tuple[asyncio.AbstractEventLoop, asyncio.Lock]:
    """The process's one event loop for channel-layer sends from plain threads (a
    gunicorn worker, a command), started on first use (again after a fork), with the
    lock that runs its sends one at a time in the order they were handed over."""
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True).start()
            _sender = (os.getpid(), loop, asyncio.Lock())
        return _sender[1], _sender[2]


async def _in_turn(lock: asyncio.Lock, send, what: str) -> None:
    """One hand-over's sends, after every earlier one (``asyncio.Lock`` wakes its
    waiters first come, first served); a failure or a hang is logged, never raised:
    delivery is best effort, the notification stays listed and replayable."""
    async with lock:
        try:
            await asyncio.wait_for(send(), SEND_TIMEOUT_SECONDS)
        except Exception:
            logger.exception("channel layer delivery %s failed", what)


def _run_send(layer, send, what: str = "") -> None:
    """Run ``send()`` (a coroutine function). Under WSGI ``async_to_sync`` would start a
    new thread and event loop for each call, and channels_redis a new Redis connection
    for each loop: a sixth of a tip's CPU time (tip_submit_rps, docs/residents.md). Redis
    layers are safe from any loop, so plain threads hand their sends to one loop that
    lives as long as the process, and do not wait for them: the request's answer does
    not wait on Redis round trips (a step's street feed and its notifications were
    several, issue 24), and the loop sends in the order handed over (``sends_settled``
    waits for them). Inside ASGI (a sync view run by ``sync_to_async``) and with the
    in-memory layer, whose queues belong to the consumers' loop, ``async_to_sync``
    stays, and waits."""
    # The thread-local outlives its loop (a test, a command that once ran one): only a
    # loop still running means this thread serves ASGI.
    main_loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    in_asgi = (
        getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid()
        and main_loop is not None
        and main_loop.is_running()
    )
    if in_asgi or not type(layer).__module__.startswith("channels_redis."):
        try:
            async_to_sync(send)()
        except Exception:  # the notification stays listed and replayable; delivery is best effort
            logger.exception("channel layer delivery %s failed", what)
        return
    loop, lock = _sender_loop()
    asyncio.run_coroutine_threadsafe(_in_turn(lock, send, what), loop)


def sends_settled(timeout: float = SEND_TIMEOUT_SECONDS) -> None:
    """Wait until every send handed to this process's sender loop so far is done (tests;
    the process's exit)."""
    if _sender is None or _sender[0] != os.getpid():
        return

    async def nothing() -> None:
        return None

    loop, lock = _sender[1], _sender[2]
    asyncio.run_coroutine_threadsafe(_in_turn(lock, nothing, ""), loop).result(timeout=timeout)


@atexit.register
def _settle_at_exit() -> None:
    try:
        sends_settled(timeout=2)
    except Exception:  # a process ending: what is left is replayable from the list
        pass


def group_send(group: str, message: dict) -> None:
    group_send_many([(group, message)])


def deliver_live(payloads: list[tuple[int, dict]]) -> None:
    # The request's id and the commit time travel with the message: the socket's send is
    # logged under that id and its delay measured (backend/ops, /metrics).
    trace = {"request_id": current_request_id(), "committed_at": time.time()}
    group_send_many(
        [
            (user_group(user_id), {"type": "notify.message", "notification": payload, **trace})
            for user_id, payload in payloads
        ]
    )


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
    """Several messages in one hand-over to the sender loop (a batch of a phone's
    reports, a step's notifications)."""
    if not messages:
        return
    layer = get_channel_layer()

    async def send_all() -> None:
        for group, message in messages:
            try:
                await layer.group_send(group, message)
            except Exception:  # the others still go; this one stays listed and replayable
                logger.exception("channel layer delivery to %s failed", group)

    _run_send(layer, send_all, f"of {len(messages)} messages")
