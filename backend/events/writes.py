"""What a step writes besides its event and history row, written once at its end.

A step changes its event's rows in the change log (``sync.changes``), tells people
(``push.services``), and its answer records the resident data it shows (the access
log, ``backend.privacy.log``). Each of these is collected while the step runs and its
answer is made, and written when ``writes_collected`` ends without an error, in the
step's transaction: on PostgreSQL as one statement (``backend.fastpath.tail``), else
one writer after another. Nothing is written of a block that raises. A block inside
another (a step's command inside its REST route) leaves everything to the outer one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

from backend.fastpath import tail
from backend.ops.context import current_request_id
from backend.privacy.log import reads_collected, write_reads
from push.services import made_notifications, notifications_collected, write_messages
from sync.changes import changes_collected, rewrites_collected, write_collected


class _Open(threading.local):
    open = False


_state = _Open()


@contextmanager
def writes_collected() -> Iterator[None]:
    if _state.open:
        yield
        return
    _state.open = True
    try:
        with (
            changes_collected(write=False) as changes,
            notifications_collected(write=False) as messages,
            reads_collected() as reads,
        ):
            yield
    finally:
        _state.open = False
    now = timezone.now()
    rewrites = rewrites_collected(changes)
    if tail.applies() and rewrites is not None:
        if rewrites or messages or reads:
            made = tail.write(rewrites, messages, reads, now=now, request_id=current_request_id())
            if made:
                made_notifications(made)
        return
    write_messages(messages, now=now)
    write_collected(changes)
    write_reads(reads)
