"""The intake's signature check: who sent a request, that it is whole, recent and new.

A request carries four headers (``docs/intake.md`` has a worked example)::

    X-Intake-Key:        the source system's key id
    X-Intake-Timestamp:  Unix seconds when it was signed
    X-Intake-Message-Id: the source's id for this request (1–64 of A–Z a–z 0–9 . _ : -)
    X-Intake-Signature:  hex HMAC-SHA256 of "<timestamp>\\n<message id>\\n" + the body's bytes

The HMAC key is the SHA-256 (hex, 64 ASCII characters) of the secret the admin
issued. The server keeps only that digest, never the secret, so the admin page that
showed the secret once is the only place it was ever readable."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from datetime import timedelta

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from backend.core.errors import ApiError, register
from backend.intake.models import IntakeMessage, SourceSystem

WINDOW_SECONDS = 300  # a request signed more than 5 minutes before or after our clock is refused
MESSAGE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

register("intake_unsigned", 401, "缺少签名头", "The request is not signed (X-Intake-* headers)")
register("intake_unknown_key", 401, "接入密钥无效", "Unknown or disabled intake key")
register("intake_bad_signature", 401, "签名不正确", "The signature does not match")
register("intake_stale", 401, "请求时间超出允许窗口", "The timestamp is outside the allowed window")
register("intake_replayed", 409, "消息编号已使用", "This message id was already received")
register("intake_rate_limited", 429, "请求过于频繁，请稍后再试", "Too many requests; try again later")
register("intake_wrong_source", 403, "该接入系统不能提交此类数据", "This source system may not send this kind of data")


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_secret() -> tuple[str, str]:
    """A new secret and the digest the server keeps (the admin shows the secret once)."""
    secret = secrets.token_urlsafe(32)
    return secret, secret_digest(secret)


def signature(*, key: str, timestamp: str, message_id: str, body: bytes) -> str:
    """The hex HMAC-SHA256 a request carries; ``key`` is the secret's digest."""
    message = f"{timestamp}\n{message_id}\n".encode() + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(*, key_id: str, secret: str, body: bytes, message_id: str, timestamp: int | None = None) -> dict:
    """Headers for a request (the simulator's and the tests' client side)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Intake-Key": key_id,
        "X-Intake-Timestamp": stamp,
        "X-Intake-Message-Id": message_id,
        "X-Intake-Signature": signature(key=secret_digest(secret), timestamp=stamp, message_id=message_id, body=body),
    }


def _rate_limit(source: SourceSystem) -> None:
    minute = int(time.time() // 60)
    key = f"intake:rate:{source.pk}:{minute}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=120)
        count = 1
    if count > source.requests_per_minute:
        retry = 60 - int(time.time()) % 60
        raise ApiError(
            "intake_rate_limited",
            detail={"limit_per_minute": source.requests_per_minute, "retry_after_s": retry},
            headers={"Retry-After": str(retry)},
        )


def verify(request, *, kind: str) -> SourceSystem:
    """The source system that signed this request, or the error that refuses it:
    missing headers, unknown key, a stale timestamp, a wrong signature (401), a
    source of another kind (403), a message id seen before (409), too many requests
    (429). The message id is recorded only once everything else has passed."""
    headers = request.headers
    key_id = headers.get("X-Intake-Key", "")
    stamp = headers.get("X-Intake-Timestamp", "")
    message_id = headers.get("X-Intake-Message-Id", "")
    given = headers.get("X-Intake-Signature", "")
    if not (key_id and stamp and message_id and given):
        raise ApiError("intake_unsigned")
    if not stamp.isdigit() or len(stamp) > 12 or not MESSAGE_ID.match(message_id):
        raise ApiError(
            "intake_unsigned", detail={"format": "timestamp in Unix seconds; message id 1-64 [A-Za-z0-9._:-]"}
        )
    source = SourceSystem.objects.filter(key_id=key_id, active=True).first()
    if source is None:
        raise ApiError("intake_unknown_key")
    if abs(time.time() - int(stamp)) > WINDOW_SECONDS:
        raise ApiError("intake_stale", detail={"window_s": WINDOW_SECONDS, "server_time": int(time.time())})
    expected = signature(key=source.secret_hash, timestamp=stamp, message_id=message_id, body=request.body)
    if not hmac.compare_digest(expected, given.lower()):
        raise ApiError("intake_bad_signature")
    if source.kind != kind:
        raise ApiError("intake_wrong_source", detail={"source_kind": source.kind})
    _rate_limit(source)
    with connection.cursor() as cursor:  # one statement: no savepoint to catch a duplicate in
        cursor.execute(
            f"INSERT INTO {IntakeMessage._meta.db_table} (source_id, message_id, received_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (source_id, message_id) DO NOTHING RETURNING id",
            [source.pk, message_id, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        if cursor.fetchone() is None:
            raise ApiError("intake_replayed", detail={"message_id": message_id})
    return source


def messages_purge() -> int:
    """Forget message ids older than twice the window (a replay of one is refused as stale)."""
    cutoff = timezone.now() - timedelta(seconds=2 * WINDOW_SECONDS)
    deleted, _ = IntakeMessage.objects.filter(received_at__lt=cutoff).delete()
    return deleted
