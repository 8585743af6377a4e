"""Draining the FCM outbox, outside the request path (the worker process)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from push.models import OutboxState, PushOutbox, PushToken
from push.senders import PushSender, get_sender

MAX_ATTEMPTS = 8
BASE_BACKOFF_SECONDS = 5
MAX_BACKOFF_SECONDS = 3600


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    dropped: int = 0
    tokens_deleted: int = 0


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BASE_BACKOFF_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS))


def drain_outbox(*, now: datetime | None = None, sender: PushSender | None = None, limit: int = 200) -> DrainResult:
    now = now or timezone.now()
    sender = sender or get_sender()
    result = DrainResult()
    ids = list(
        PushOutbox.objects.filter(state=OutboxState.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        with transaction.atomic():
            row = (
                PushOutbox.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("notification", "push_token")
                .filter(pk=pk, state=OutboxState.PENDING)
                .first()
            )
            if row is None:
                continue  # another worker has it
            if row.push_token is None:
                row.state, row.last_error = OutboxState.DROPPED, "token deleted"
                row.save(update_fields=["state", "last_error"])
                result.dropped += 1
                continue
            # Only the id and kind travel: the app fetches the rest over its authenticated API.
            outcome = sender.send(
                token=row.push_token.token,
                data={"notification_id": str(row.notification_id), "kind": row.notification.kind},
            )
            row.attempts += 1
            if outcome.ok:
                row.state, row.message_id, row.last_error = OutboxState.SENT, outcome.message_id, ""
                result.sent += 1
            elif outcome.token_dead:
                PushToken.objects.filter(pk=row.push_token_id).delete()
                row.state, row.last_error, row.push_token = OutboxState.DROPPED, outcome.error, None
                result.dropped += 1
                result.tokens_deleted += 1
            elif outcome.retryable and row.attempts < MAX_ATTEMPTS:
                row.next_attempt_at = now + backoff(row.attempts)
                row.last_error = outcome.error
                result.retried += 1
            else:
                row.state, row.last_error = OutboxState.DROPPED, outcome.error or "failed"
                result.dropped += 1
            row.save(update_fields=["state", "message_id", "last_error", "attempts", "next_attempt_at", "push_token"])
    return result
