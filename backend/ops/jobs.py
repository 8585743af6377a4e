"""The worker's jobs, measured: each run counted with its outcome, duration and lag
against its schedule; FCM sends counted by outcome and logged under the id of the
request that made their notification."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from backend.ops.context import request_id_scope
from backend.ops.metrics import record_fcm, record_job
from push.senders import PushSender, SendResult

logger = logging.getLogger("backend.worker")
T = TypeVar("T")


def run_job(job: str, work: Callable[[], T], *, scheduled: float | None = None) -> T:
    """Runs one job, recording it; an error is logged, recorded and raised again."""
    started = time.time()
    try:
        result = work()
    except Exception:
        record_job(job, started=started, scheduled=scheduled, ok=False)
        logger.exception("job %s failed", job, extra={"job": job})
        raise
    record_job(job, started=started, scheduled=scheduled, ok=True)
    return result


class MeasuredSender:
    """Wraps the FCM sender (real or fake) without changing what it does."""

    def __init__(self, inner: PushSender):
        self.inner = inner

    def send(self, *, token: str, data: dict[str, str]) -> SendResult:
        from backend.ops.models import NotificationOrigin

        origin = (
            NotificationOrigin.objects.filter(notification_id=data.get("notification_id"))
            .values_list("request_id", flat=True)
            .first()
        )
        with request_id_scope(origin or ""):
            result = self.inner.send(token=token, data=data)
            record_fcm("ok" if result.ok else result.error)
            logger.info(
                "fcm send %s",
                "ok" if result.ok else result.error,
                extra={"notification_id": data.get("notification_id"), "outcome": "ok" if result.ok else result.error},
            )
        return result
