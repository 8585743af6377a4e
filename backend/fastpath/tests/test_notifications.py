"""``fastpath.notifications.write`` (PostgreSQL) writes what the plain path of
``push.services._write`` writes: the same counters, notifications (user, seq, kind,
title, body, event, data), outbox rows (for each live device's token, pushed kinds
only) and request ids, and answers the same notifications with their ids."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Device, User
from backend.events.models import Event
from backend.fastpath import notifications as fast
from backend.ops.context import request_id_scope
from backend.ops.models import NotificationOrigin
from push import services
from push.models import Notification, NotificationCounter, NotificationKind, PushOutbox, PushToken

pytestmark = pytest.mark.django_db


def tables() -> tuple:
    notifications = {n.pk: (n.user_id, n.seq) for n in Notification.objects.all()}
    return (
        sorted(NotificationCounter.objects.values_list("user_id", "last")),
        sorted(
            Notification.objects.values_list("user_id", "seq", "kind", "title", "body", "event_id", "data"),
            key=repr,
        ),
        sorted(
            (notifications[o.notification_id], o.push_token_id, o.state, o.attempts, o.next_attempt_at)
            for o in PushOutbox.objects.all()
        ),
        sorted((notifications[o.notification_id], o.request_id) for o in NotificationOrigin.objects.all()),
    )


def written(messages, *, use_fast: bool, request_id: str, monkeypatch) -> tuple:
    monkeypatch.setattr(fast, "applies", lambda: use_fast)
    now = timezone.now()
    with transaction.atomic(), request_id_scope(request_id):
        made = services._write(messages, now=now)
        answer = [(n.user_id, n.seq, n.kind, n.title, n.data, n.event_id) for n in made]
        assert all(Notification.objects.filter(pk=n.pk, user_id=n.user_id, seq=n.seq).exists() for n in made)
        seen = tables()
        transaction.set_rollback(True)
    outbox = [(key, token, state, attempts) for key, token, state, attempts, at in seen[2]]
    assert all(at == now for *_, at in seen[2])
    return answer, (seen[0], seen[1], outbox, seen[3])


def test_one_statement_writes_what_the_plain_path_writes(monkeypatch, is_postgres):
    if not is_postgres:
        pytest.skip("the one-statement write is PostgreSQL's (SQLite keeps the plain path)")
    users = list(User.objects.order_by("pk")[:5])
    event = Event.objects.order_by("pk").first()
    # A live device with a token, a revoked device with a token, two devices with tokens.
    devices = [
        Device.objects.create(user=users[0], device_id="fast-a"),
        Device.objects.create(user=users[1], device_id="fast-b"),
    ]
    devices += [Device.objects.create(user=users[1], device_id="fast-c", revoked_at=timezone.now())]
    devices += [
        Device.objects.create(user=users[2], device_id="fast-d"),
        Device.objects.create(user=users[2], device_id="fast-e"),
    ]
    for device in devices:
        PushToken.objects.create(device=device, token=f"token-{device.device_id}")
    NotificationCounter.objects.update_or_create(user=users[3], defaults={"last": 41})
    NotificationCounter.objects.filter(user=users[4]).delete()
    M = services.Message
    messages = [
        M(tuple(sorted(u.pk for u in users)), NotificationKind.ASSIGNMENT, "新任务 SC1", "类 · 网格", event, {"n": 1}),
        M((users[1].pk, users[3].pk), NotificationKind.CLOSURE_APPROVED, "已结案", "", event, {}),
        M(
            (users[0].pk, users[4].pk),
            NotificationKind.TIP_PROGRESS,
            "进展",
            "处理中",
            None,
            {"status": "已受理", "x": [1, 2]},
        ),
    ]
    for request_id in ("req-1", ""):
        plain = written(messages, use_fast=False, request_id=request_id, monkeypatch=monkeypatch)
        one = written(messages, use_fast=True, request_id=request_id, monkeypatch=monkeypatch)
        assert one == plain
        assert plain[1][2] and (plain[1][3] or not request_id)  # the case has outbox rows and origins
