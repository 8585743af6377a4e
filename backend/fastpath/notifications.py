"""A step's notifications written in one statement on PostgreSQL (``step_p50_ms``: the
plain path, ``push.services._write``, takes four: the counters' upsert, the rows, the
FCM tokens' look-up and the rows' request ids, five when a recipient has a phone).

The same rows, in the same order of locks: the counters raised in user order and read
back (``RETURNING``), each notification's ``seq`` its user's counter before the raise
plus its place among that user's new ones, the outbox row of each pushed notification
for each live device's token, and under a request its id for each pushed notification.
Held equal to the plain path by tests/test_notifications.py (PostgreSQL)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

from django.db import connection

from backend.fastpath.bulk import make
from backend.fastpath.statements import Plain

CTES = """counters AS (
    INSERT INTO {NotificationCounter} (user_id, last)
    SELECT * FROM unnest(%s::bigint[], %s::bigint[])
    ON CONFLICT (user_id) DO UPDATE SET last = {NotificationCounter}.last + excluded.last
    RETURNING user_id, last
), made AS (
    INSERT INTO {Notification} (user_id, seq, kind, title, body, event_id, data, created_at)
    SELECT r.user_id, c.last - r.wanted + r.place, r.kind, r.title, r.body, r.event_id, r.data::jsonb, %s::timestamptz
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::uuid[], %s::text[])
        AS r(user_id, place, wanted, kind, title, body, event_id, data)
    JOIN counters c ON c.user_id = r.user_id
    RETURNING id, user_id, seq, kind
), outbox AS (
    INSERT INTO {PushOutbox} (notification_id, push_token_id, state, attempts, next_attempt_at, last_error, message_id)
    SELECT m.id, t.id, %s::text, 0, %s::timestamptz, '', '' FROM made m
    JOIN {Device} d ON d.user_id = m.user_id AND d.revoked_at IS NULL
    JOIN {PushToken} t ON t.device_id = d.id
    WHERE m.kind = ANY(%s::text[])
), origins AS (
    INSERT INTO {NotificationOrigin} (notification_id, request_id)
    SELECT m.id, %s::text FROM made m WHERE m.kind = ANY(%s::text[]) AND %s::text <> ''
)"""
RESULT = "SELECT id, user_id, seq FROM made"  # the rows made, for ``made``
_WRITE = f"WITH {CTES}\n{RESULT}\n"


def tables() -> dict:
    """The models ``CTES`` names."""
    from backend.accounts.models import Device
    from backend.ops.models import NotificationOrigin
    from push.models import Notification, NotificationCounter, PushOutbox, PushToken

    return dict(
        NotificationCounter=NotificationCounter,
        Notification=Notification,
        PushOutbox=PushOutbox,
        Device=Device,
        PushToken=PushToken,
        NotificationOrigin=NotificationOrigin,
    )


_statement: Plain | None = None


def _text(value) -> str:
    """A choice's stored value (psycopg would send an ``Enum`` member by its name)."""
    return getattr(value, "value", value)


def applies() -> bool:
    return connection.vendor == "postgresql"


def write(messages, *, now: datetime, request_id: str) -> list:
    """The notifications of ``messages`` (``push.services.Message``), with their counters,
    outbox rows and request ids, in one statement; answers them with their ids, in the
    order of ``messages`` and their users."""
    global _statement
    if _statement is None:
        _statement = Plain(_WRITE, **tables())
    params, rows = prepare(messages, now=now, request_id=request_id)
    return made(rows, _statement.rows(params), now=now)


def prepare(messages, *, now: datetime, request_id: str) -> tuple[list, list]:
    """``CTES``' parameters for ``messages``, and the rows they make (for ``made``)."""
    from push.models import PUSHED_KINDS, OutboxState

    wanted = Counter(user for message in messages for user in message.users)
    users = sorted(wanted)  # one order for every writer: two steps never wait on each other's rows crosswise
    place: Counter = Counter()
    rows = []
    for message in messages:
        data = json.dumps(message.data)
        event_id = getattr(message.event, "pk", None)
        for user_id in message.users:
            place[user_id] += 1
            rows.append((user_id, place[user_id], message, event_id, data))
    columns = list(zip(*[(u, p, wanted[u], _text(m.kind), m.title, m.body, e, d) for u, p, m, e, d in rows]))
    pushed = sorted(_text(kind) for kind in PUSHED_KINDS)
    params = [
        users,
        [wanted[u] for u in users],
        now,
        *[list(column) for column in columns],
        _text(OutboxState.PENDING),
        now,
        pushed,
        request_id,
        pushed,
        request_id,
    ]
    return params, rows


def made(rows: list, result: list[tuple], *, now: datetime) -> list:
    """The ``Notification`` instances of ``prepare``'s rows, from ``RESULT``'s rows."""
    from push.models import Notification

    ids = {(user_id, seq): pk for pk, user_id, seq in result}
    first = {}  # the seq before this write, per user
    for (user_id, seq), _ in ids.items():
        first[user_id] = min(first.get(user_id, seq), seq)
    notifications = []
    for user_id, at, message, event_id, _ in rows:
        seq = first[user_id] + at - 1
        notifications.append(
            make(
                Notification,
                id=ids[(user_id, seq)],
                user_id=user_id,
                seq=seq,
                kind=message.kind,
                title=message.title,
                body=message.body,
                event_id=event_id,
                data=message.data,
                created_at=now,
            )
        )
    for notification in notifications:
        notification._state.adding = False
        notification._state.db = connection.alias
    return notifications
