"""sync_pull: the changes of a user's scope since a cursor, in server order, paged.

The cursor is opaque to the phone and signed by the server. It holds the log's
epoch, the user, the buckets it was issued for and the position (stamp, id) in the
log; during a full resync also the stamp the resync started at (older tombstones are
skipped), and during a backfill the buckets being filled and where to stop.

Each page reports the *current* truth for every entity its log rows touch: read
through the kind's scope filter, an entity is an upsert if the user may see it now,
otherwise a tombstone. So a page never shows anything out of scope, and the order in
which a phone applies pages cannot resurrect or lose an entity.
"""

from __future__ import annotations

import hashlib
import heapq
import zlib
from dataclasses import dataclass, field
from itertools import islice

from django.core import signing
from django.utils import timezone

from backend.accounts.models import Device, User
from backend.accounts.scope import Scope, scope_of
from backend.core.db_router import REPLICA, primary_reads, read_alias, read_connection
from backend.core.times import wire_time
from backend.fastpath.canonical import canonical_bytes
from backend.fastpath.rows import reader
from backend.fastpath.statements import run_prepared
from sync.changes import stamp_changes
from sync.entities import KINDS, buckets_for, public_rows
from sync.models import Change, SyncClock, SyncDevice

DEFAULT_PAGE = 500
MAX_PAGE = 1000
CURSOR_SALT = "sync.cursor.v1"
SKIP_AHEAD_ID = 2**62
PROBE_OVER = 8  # buckets; see _page_rows


@dataclass
class Cursor:
    epoch: str
    user: int
    buckets: list[str]
    stamp: int = 0
    id: int = 0
    full_start: int | None = None  # set while a full resync runs
    backfill: dict | None = field(default=None)  # {"buckets", "stamp", "id", "until_stamp", "until_id"}

    def encode(self) -> str:
        return signing.dumps(vars(self), salt=CURSOR_SALT, compress=True)

    def state(self) -> tuple:
        """What the cursor says, copied (``asdict``'s deep copy cost a millisecond a page)."""
        fill = self.backfill and {**self.backfill, "buckets": tuple(self.backfill["buckets"])}
        return self.epoch, self.user, tuple(self.buckets), self.stamp, self.id, self.full_start, fill


def _stamp_of(token: str) -> int:
    """The stamp a cursor stands at (0 for one that does not read: decode_cursor answers it)."""
    try:
        return int(signing.loads(token, salt=CURSOR_SALT)["stamp"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return 0


def decode_cursor(token: str, *, user: User, epoch: str, last_stamp: int, horizon: int) -> Cursor | str:
    """The cursor, or why it must reset: ``unknown_cursor`` (not ours, malformed, from
    an older log or from the future), ``foreign_cursor`` (another user's),
    ``expired_cursor`` (its tombstones were purged)."""
    try:
        cursor = Cursor(**signing.loads(token, salt=CURSOR_SALT))
    except (signing.BadSignature, TypeError, ValueError):
        return "unknown_cursor"
    if cursor.user != user.pk:
        return "foreign_cursor"
    if cursor.epoch != epoch or cursor.stamp > last_stamp:
        return "unknown_cursor"
    if cursor.stamp < horizon and cursor.full_start is None:
        return "expired_cursor"
    return cursor


def _page_rows(
    buckets: list[str],
    after: tuple[int, int],
    limit: int,
    *,
    until: tuple[int, int] | None = None,
    live_only: bool = False,
    tombstones_after: int | None = None,
) -> list[tuple]:
    """(stamp, id, kind, entity id) of the log rows after ``after`` in these buckets,
    in server order, at most ``limit + 1``.

    One ordered branch per bucket, merged: each branch walks the index
    (bucket, stamp, id) from the cursor, and the merge stops after ``limit + 1`` rows,
    so a page costs the page, not the scope (``bucket IN (…)`` made PostgreSQL read and
    sort every row of a wide scope after the cursor, for every page). Raw SQL: on the
    empty pull's path the ORM's compiling would cost more than the query."""
    where = ["bucket = %s", "(stamp, id) > (%s, %s)"]
    tail: list = [after[0], after[1]]
    if until is not None:
        where.append("(stamp, id) <= (%s, %s)")
        tail += [until[0], until[1]]
    if live_only:
        where.append("NOT deleted")
    if tombstones_after is not None:  # a full resync skips what was deleted before it began
        where.append("(NOT deleted OR stamp > %s)")
        tail.append(tombstones_after)
    table = Change._meta.db_table
    db = read_connection()  # the replica inside reads_may_lag
    if db.vendor == "sqlite":
        return _merged_in_process(buckets, where, tail, limit)
    with db.cursor() as cursor:
        if len(buckets) > PROBE_OVER and until is None and tombstones_after is None:
            # Planning costs about 0.1 ms a branch (5 ms for a street's 45 grids), more than
            # the page when nothing is new: first ask whether anything lies after the cursor.
            # (Not during a full resync or a backfill: those read toward rows that exist.)
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM {table} WHERE bucket IN ({', '.join(['%s'] * len(buckets))}) "
                "AND (stamp, id) > (%s, %s))",
                [*buckets, *after],
            )
            if not cursor.fetchone()[0]:
                return []
    return run_prepared(
        _merged_sql(len(buckets), where),
        [value for bucket in buckets for value in (bucket, *tail, limit + 1)] + [limit + 1],
    )


def _merged_in_process(buckets: list[str], where: list[str], tail: list, limit: int) -> list[tuple]:
    """SQLite: the same merge, made here over one lazily stepped cursor per bucket. In
    process a step costs what a row costs, while SQLite ran the merged statement by
    reading every branch whole (70 ms a page for a street-wide worker; this: 4 ms).

    Each branch's statement text differs (a numbered comment): Python's sqlite3 reuses
    a cached compiled statement only when no open cursor is using it, so fifty open
    cursors on one text compiled it afresh forty-nine times a page."""
    sql = (
        f"SELECT stamp, id, kind, entity_id FROM {Change._meta.db_table} WHERE {' AND '.join(where)} "
        "ORDER BY stamp, id LIMIT %s /* branch {} */"
    )
    cursors = []
    try:
        for branch, bucket in enumerate(buckets):
            cursors.append(read_connection().cursor())
            cursors[-1].execute(sql.replace("{}", str(branch)), [bucket, *tail, limit + 1])
        return list(islice(heapq.merge(*cursors), limit + 1))
    finally:
        for cursor in cursors:
            cursor.close()


def _merged_sql(count: int, where: list[str]) -> str:
    branch = (
        f"SELECT * FROM (SELECT stamp, id, kind, entity_id FROM {Change._meta.db_table} "
        f"WHERE {' AND '.join(where)} ORDER BY stamp, id LIMIT %s) AS b{{}}"
    )
    return " UNION ALL ".join(branch.format(n) for n in range(count)) + " ORDER BY stamp, id LIMIT %s"


def read_entities(scope: Scope, touched: list[tuple[str, str]]) -> list[dict]:
    """Upserts for what the user may see now, tombstones for the rest, in the order touched."""
    by_kind: dict[str, list[str]] = {}
    for kind_name, entity_id in touched:
        by_kind.setdefault(kind_name, []).append(entity_id)
    found: dict[str, dict] = {}  # kind -> entity id (as the log writes it) -> change
    for kind_name, ids in by_kind.items():
        kind = KINDS[kind_name]
        if kind.visible_row is None:  # small kinds: the scope filter in SQL picks the ids
            ids = [
                str(pk)
                for pk in kind.model.objects.filter(kind.visible(scope), pk__in=ids).values_list("pk", flat=True)
            ]
            visible = None
        else:
            visible = kind.visible_row(scope)
        kind_reader = reader(kind)
        rows = kind_reader.rows(ids)
        if visible is not None:
            rows = filter(visible, rows)
        rows = public_rows(kind, scope, rows)
        text_ids = kind_reader.uuid_pk  # the log writes a UUID as the row reads it, an integer as text
        upserts = found[kind_name] = {}
        for row in rows:
            entity_id = row["id"] if text_ids else str(row["id"])
            upserts[entity_id] = {"data": row, "id": entity_id, "kind": kind_name, "op": "upsert"}
    return [
        found[kind_name].get(entity_id) or {"id": entity_id, "kind": kind_name, "op": "delete"}
        for kind_name, entity_id in touched
    ]


def drop_list(scope: Scope, removed: list[str]) -> list[dict]:
    """What a phone must forget after its scope shrank: entities live in the buckets
    it lost that the user may no longer see."""
    live = Change.objects.filter(bucket__in=removed, deleted=False).values_list("kind", "entity_id").distinct()
    candidates: dict[str, set[str]] = {}
    for kind_name, entity_id in live:
        candidates.setdefault(kind_name, set()).add(entity_id)
    drops = []
    for kind_name, ids in sorted(candidates.items()):
        kind = KINDS[kind_name]
        still = {
            str(pk) for pk in kind.model.objects.filter(kind.visible(scope), pk__in=ids).values_list("pk", flat=True)
        }
        drops.extend({"kind": kind_name, "id": entity_id} for entity_id in sorted(ids - still))
    return drops


def _answer(**fields) -> dict:
    base = {
        "changes": [],
        "cursor": None,
        "has_more": False,
        "reset": None,
        "drop": [],
        "push_first": False,
        "server_time": wire_time(timezone.now()),
    }
    base.update(fields)
    return base


def page_checksum(changes: list[dict] | bytes, protocol_version: int = 2) -> str:
    """The checksum a phone recomputes over the canonical JSON of the page's changes to
    detect a damaged page: ``crc32:`` and 8 hex digits since protocol 2, 64 hex digits of
    SHA-256 for protocol 1. It detects damage, not tampering (TLS and the token guard
    against that), and SHA-256 cost a quarter of the server's instructions per page."""
    canonical = changes if isinstance(changes, bytes) else canonical_bytes(changes)
    if protocol_version < 2:
        return hashlib.sha256(canonical).hexdigest()
    return f"crc32:{zlib.crc32(canonical):08x}"


def render_page(page: dict, protocol_version: int = 2) -> bytes:
    """The page as the response body, its changes serialised once: the same canonical
    bytes are what the checksum covers."""
    changes = canonical_bytes(page["changes"])
    rest = {key: value for key, value in page.items() if key != "changes"}
    rest["checksum"] = page_checksum(changes, protocol_version)
    return b'{"changes":' + changes + b"," + canonical_bytes(rest)[1:]


def sync_pull(
    *, user: User, device: Device, cursor: str | None, limit: int = DEFAULT_PAGE, pending_mutation_id: int = 0
) -> dict:
    limit = max(1, min(limit, MAX_PAGE))
    state = stamp_changes()
    if read_alias() == REPLICA:
        # The replica's log reaches its own clock, not the primary's: a cursor must not
        # skip ahead past rows the replica has not replayed yet, and a cursor from beyond
        # it (a pull the primary answered) is answered by the primary again.
        replayed = SyncClock.objects.get(pk=1)
        if replayed.stamp < state.stamp:
            if cursor is not None and _stamp_of(cursor) > replayed.stamp:
                with primary_reads():
                    return sync_pull(
                        user=user, device=device, cursor=cursor, limit=limit, pending_mutation_id=pending_mutation_id
                    )
            state = replayed
    last_stamp = state.stamp
    scope = scope_of(user)
    buckets = buckets_for(scope)
    if cursor is None:
        position = Cursor(epoch=state.epoch, user=user.pk, buckets=buckets, full_start=last_stamp)
    else:
        position = decode_cursor(cursor, user=user, epoch=state.epoch, last_stamp=last_stamp, horizon=state.horizon)
        if isinstance(position, str):
            return _answer(reset=position, has_more=True)
    received = position.state()

    drops: list[dict] = []
    if position.buckets != buckets:
        removed = sorted(set(position.buckets) - set(buckets))
        added = sorted(set(buckets) - set(position.buckets))
        if removed:
            applied = SyncDevice.objects.filter(device=device).values_list("last_mutation_id", flat=True).first() or 0
            if pending_mutation_id > applied:
                # Data leaves the phone only after what was recorded on it is in (sync.md §5).
                return _answer(cursor=position.encode(), has_more=True, push_first=True)
            drops = drop_list(scope, removed)
        if added:
            earlier = position.backfill["buckets"] if position.backfill else []
            position.backfill = {
                "buckets": sorted(set(added) | (set(earlier) & set(buckets))),
                "stamp": 0,
                "id": 0,
                "until_stamp": position.stamp,
                "until_id": position.id,
            }
        elif position.backfill:
            position.backfill["buckets"] = sorted(set(position.backfill["buckets"]) & set(buckets))
        position.buckets = buckets

    fill = position.backfill
    if fill:
        rows = _page_rows(
            fill["buckets"],
            (fill["stamp"], fill["id"]),
            limit,
            until=(fill["until_stamp"], fill["until_id"]),
            live_only=True,
        )
    elif (position.stamp, position.id) >= (last_stamp, SKIP_AHEAD_ID):
        rows = []  # at the end of the newest complete round: nothing can lie after it (an idle phone's poll)
    else:
        rows = _page_rows(buckets, (position.stamp, position.id), limit, tombstones_after=position.full_start)
    more = len(rows) > limit
    rows = rows[:limit]

    touched, seen = [], set()
    for _, _, kind_name, entity_id in rows:
        if (kind_name, entity_id) not in seen:
            seen.add((kind_name, entity_id))
            touched.append((kind_name, entity_id))
    changes = read_entities(scope, touched)

    if rows:
        last = rows[-1]
        if fill:
            fill["stamp"], fill["id"] = last[0], last[1]
        else:
            position.stamp, position.id = last[0], last[1]
    if fill and not more:
        position.backfill = None
        more = True  # the main stream continues where it was
    if not fill and not more:
        position.full_start = None
        # Nothing more of ours up to ``last_stamp``, whose round is complete (rows that
        # commit later get later stamps): skip ahead, so an idle phone's cursor does not
        # age into expiry and its next poll needs no look at the log.
        position.stamp, position.id = last_stamp, SKIP_AHEAD_ID
    # An unchanged position keeps its token: signing one costs more than an idle poll's query.
    token = cursor if cursor is not None and position.state() == received else position.encode()
    return _answer(changes=changes, cursor=token, has_more=more, drop=drops)
