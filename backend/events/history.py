"""The append-only, hash-chained history of an event.

Each action row stores ``prev_hash`` (the hash of the row before it, empty for the
first) and ``hash`` = SHA-256 over a canonical JSON of its own content and
``prev_hash``. Changing, removing or reordering any row breaks every later link;
``verify_chain`` finds where.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from backend.core.times import wire_time
from backend.events.models import Event, EventAction
from backend.fastpath.bulk import make


def _when(moment: datetime | None) -> str:
    return "" if moment is None else wire_time(moment)


# The fields a hash covers, in order; bulk writers (the demo history) use it too.
HASHED_FIELDS = (
    "event_id",
    "seq",
    "action",
    "actor_id",
    "actor_role",
    "device_ref",
    "from_state",
    "to_state",
    "note",
    "data",
    "server_at",
    "device_at",
    "prev_hash",
)


def content_hash(values: dict) -> str:
    content = [
        str(values["event_id"]),
        values["seq"],
        values["action"],
        values["actor_id"],
        values["actor_role"],
        values["device_ref"],
        values["from_state"],
        values["to_state"],
        values["note"],
        values["data"],
        _when(values["server_at"]),
        _when(values["device_at"]),
        values["prev_hash"],
    ]
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def action_hash(action: EventAction) -> str:
    return content_hash({name: getattr(action, name) for name in HASHED_FIELDS})


def build_action(event: Event, **fields) -> EventAction:
    """The next row of ``event``'s chain (not saved); advances the chain head on the
    event, which the caller saves in the same transaction."""
    row = make(EventAction, event=event, seq=event.action_count + 1, prev_hash=event.last_action_hash, **fields)
    row.hash = action_hash(row)
    event.action_count = row.seq
    event.last_action_hash = row.hash
    return row


def verify_chain(event: Event) -> list[str]:
    """Problems found in the event's chain; empty when intact."""
    problems = []
    previous = ""
    expected_seq = 1
    for row in EventAction.objects.filter(event=event).order_by("seq").iterator():
        if row.seq != expected_seq:
            problems.append(f"#{row.seq}: expected sequence {expected_seq}")
        if row.prev_hash != previous:
            problems.append(f"#{row.seq}: does not link to the row before it")
        if action_hash(row) != row.hash:
            problems.append(f"#{row.seq}: content does not match its hash")
        previous = row.hash
        expected_seq = row.seq + 1
    if previous != event.last_action_hash:
        problems.append("the event's chain head does not match its last row (a row is missing)")
    return problems
