from datetime import timedelta

import pytest
from django.utils import timezone

from backend.accounts.models import Device
from push.delivery import MAX_ATTEMPTS, backoff, drain_outbox
from push.models import Notification, NotificationKind, OutboxState, PushOutbox, PushToken, SentPush
from push.senders import FakeSender
from push.services import notify


@pytest.fixture
def device(db, persona_user):
    user = persona_user("demo_grid_worker")
    return Device.objects.create(user=user, device_id="phone-push-1")


def queue_assignment(device, token: str) -> PushOutbox:
    PushToken.objects.update_or_create(device=device, defaults={"token": token})
    notify(users=[device.user_id], kind=NotificationKind.ASSIGNMENT, title="新任务")
    return PushOutbox.objects.get(notification__user=device.user, state=OutboxState.PENDING)


def test_it_sends_only_the_notification_id_and_kind(device):
    row = queue_assignment(device, "good-token-123456")
    result = drain_outbox(sender=FakeSender())
    assert result.sent == 1
    sent = SentPush.objects.get()
    assert sent.token == "good-token-123456"
    assert sent.payload["data"] == {"notification_id": str(row.notification_id), "kind": "assignment"}
    row.refresh_from_db()
    assert row.state == OutboxState.SENT and row.message_id.startswith("fake/")


@pytest.mark.parametrize("error", ["unregistered", "sender_id_mismatch"])
def test_it_deletes_tokens_fcm_no_longer_knows(device, error):
    row = queue_assignment(device, f"fake-{error}-abcdef")
    result = drain_outbox(sender=FakeSender())
    assert result.tokens_deleted == 1 and not PushToken.objects.filter(device=device).exists()
    row.refresh_from_db()
    assert row.state == OutboxState.DROPPED and row.last_error == error
    assert Notification.objects.filter(pk=row.notification_id).exists()  # never lost: still listed and replayable


@pytest.mark.parametrize("error", ["quota", "unavailable"])
def test_it_retries_quota_and_unavailable_with_backoff_then_gives_up(device, error):
    row = queue_assignment(device, f"fake-{error}-abcdef")
    now = timezone.now()
    for attempt in range(1, MAX_ATTEMPTS):
        assert drain_outbox(now=now, sender=FakeSender()).retried == 1
        row.refresh_from_db()
        assert row.attempts == attempt and row.next_attempt_at == now + backoff(attempt)
        assert drain_outbox(now=now, sender=FakeSender()).retried == 0  # not due yet
        now = row.next_attempt_at
    assert drain_outbox(now=now, sender=FakeSender()).dropped == 1
    row.refresh_from_db()
    assert row.state == OutboxState.DROPPED and PushToken.objects.filter(device=device).exists()


def test_backoff_grows_and_is_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [5, 10, 20]
    assert backoff(30) == timedelta(hours=1)
