from __future__ import annotations

import json
import time
import uuid

from django.test import Client

from backend.intake.models import SourceKind, SourceSystem
from backend.intake.signing import secret_digest, signed_headers

SECRET = "test-secret-0123456789"


def make_source(kind: str = SourceKind.VIDEO, *, key_id: str | None = None, per_minute: int = 600, account=None):
    return SourceSystem.objects.create(
        name=f"测试{kind}",
        kind=kind,
        key_id=key_id or f"test-{kind}-{uuid.uuid4().hex[:8]}",
        secret_hash=secret_digest(SECRET),
        requests_per_minute=per_minute,
        account=account,
    )


def signed_post(
    source: SourceSystem,
    path: str,
    payload,
    *,
    message_id: str | None = None,
    timestamp: int | None = None,
    secret: str = SECRET,
):
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    headers = signed_headers(
        key_id=source.key_id,
        secret=secret,
        body=body,
        message_id=message_id or uuid.uuid4().hex,
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )
    return Client().post(f"/api/v1{path}", body, content_type="application/json", headers=headers)


def signed_get(source: SourceSystem, path: str):
    headers = signed_headers(key_id=source.key_id, secret=SECRET, body=b"", message_id=uuid.uuid4().hex)
    return Client().get(f"/api/v1{path}", headers=headers)
