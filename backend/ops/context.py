"""The request id: taken from an incoming ``X-Request-ID`` (the proxy's, or a client's
that looks like an id) or made here, and kept in a context variable so that every log
line written while the request runs carries it, and so does the work it leaves behind
(FCM sends from the outbox, websocket deliveries)."""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

REQUEST_ID_HEADER = "X-Request-ID"
# Anything else a client sends (too long, spaces, control characters) is replaced: the id
# goes into every log line and must not be a way to forge or break one.
ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(incoming: str | None) -> str:
    """The incoming id when it looks like one, else a new one."""
    if incoming and ACCEPTED_ID.match(incoming):
        return incoming
    return new_request_id()


def current_request_id() -> str:
    return _request_id.get()


@contextmanager
def request_id_scope(request_id: str) -> Iterator[str]:
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)
