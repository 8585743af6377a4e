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
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from django.core import signing
from django.db import connection
from django.db.models import CharField, DateTimeField, F, Func
from django.utils import timezone

from backend.accounts.models import Device, User
from backend.accounts.scope import Scope, scope_of
from sync.changes import stamp_changes
from sync.entities import KINDS, buckets_for
from sync.models import Change, SyncDevice

DEFAULT_PAGE = 500
MAX_PAGE = 1000
CURSOR_SALT = "sync.cursor.v1"
SKIP_AHEAD_ID = 2**62


@dataclass
class Cursor:
    epoch: str
    user: int
    buckets: list[str]
    stamp: int = 0
    id: int = 0
    full_start: int | None = None           # set while a full resync runs
    backfill: dict | None = field(default=None)  # {"buckets", "stamp", "id", "until_stamp", "until_id"}

    def encode(self) -> str:
        return signing.dumps(asdict(self), salt=CURSOR_SALT, compress=True)


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


def json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal, date)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def canonical_json(value) -> str:
    """Sorted keys, no spaces, UTF-8: what the checksum covers, and what is sent."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=json_default)


def page_checksum(changes: list[dict]) -> str:
    """SHA-256 over the canonical JSON of the page's changes: a phone recomputes it
    over what it parsed to detect a damaged page."""
    return hashlib.sha256(canonical_json(changes).encode()).hexdigest()


class IsoTime(Func):
    """A timestamp as ISO-8601 text in UTC, made by the database: a page of events holds
    thousands of them, and parsing each into a ``datetime`` only to print it again
    was a third of a page's cost."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="""to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')""", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Stored in UTC as "YYYY-MM-DD HH:MM:SS[.ffffff]"; pad the fraction so both databases agree.
        return self.as_sql(compiler, connection, template="""(substr(replace(%(expressions)s, ' ', 'T') || '.000000', 1, 26) || '+00:00')""", **extra)


def entity_rows(kind, queryset):
    """A kind's rows as a phone receives them (``values()`` with the sent names;
    timestamps as ISO-8601 text in UTC)."""
    renames = dict(kind.rename)
    model = kind.model
    expressions = {sent: F(name) for name, sent in renames.items()}
    plain = []
    for name in kind.fields:
        if name in renames:
            continue
        field = model._meta.get_field(name.removesuffix("_id")) if "__" not in name else None
        if isinstance(field, DateTimeField):
            expressions[f"{name}"] = IsoTime(F(name))
        else:
            plain.append(name)
    # values() refuses an alias equal to a field name: select under a temporary alias, rename after.
    aliased = {(f"_iso_{k}" if isinstance(v, IsoTime) else k): v for k, v in expressions.items()}
    return _Renamed(queryset.values(*plain, **aliased))


class _Renamed:
    """Iterates a ``values()`` query, dropping the temporary ``_iso_`` prefix."""

    def __init__(self, queryset):
        self.queryset = queryset

    def __iter__(self):
        for row in self.queryset:
            yield {(key[5:] if key.startswith("_iso_") else key): value for key, value in row.items()}


def _page_rows(buckets: list[str], after: tuple[int, int], limit: int, *, until: tuple[int, int] | None = None,
               live_only: bool = False, tombstones_after: int | None = None) -> list[tuple]:
    """(stamp, id, kind, entity id) of the log rows after ``after`` in these buckets,
    in server order, at most ``limit + 1``. Raw SQL: on the empty pull's path the
    ORM's compiling would cost more than the query (index change_bucket_order)."""
    sql = [f"SELECT stamp, id, kind, entity_id FROM {Change._meta.db_table} WHERE stamp IS NOT NULL",
           f"AND bucket IN ({', '.join(['%s'] * len(buckets))})", "AND (stamp > %s OR (stamp = %s AND id > %s))"]
    params: list = [*buckets, after[0], after[0], after[1]]
    if until is not None:
        sql.append("AND (stamp < %s OR (stamp = %s AND id <= %s))")
        params += [until[0], until[0], until[1]]
    if live_only:
        sql.append("AND NOT deleted")
    if tombstones_after is not None:  # a full resync skips what was deleted before it began
        sql.append("AND (NOT deleted OR stamp > %s)")
        params.append(tombstones_after)
    sql.append("ORDER BY stamp, id LIMIT %s")
    params.append(limit + 1)
    with connection.cursor() as cursor:
        cursor.execute(" ".join(sql), params)
        return cursor.fetchall()


def read_entities(scope: Scope, touched: list[tuple[str, str]]) -> list[dict]:
    """Upserts for what the user may see now, tombstones for the rest, in the order touched."""
    by_kind: dict[str, list[str]] = {}
    for kind_name, entity_id in touched:
        by_kind.setdefault(kind_name, []).append(entity_id)
    found: dict[tuple[str, str], dict] = {}
    for kind_name, ids in by_kind.items():
        kind = KINDS[kind_name]
        if kind.visible_row is not None:
            visible = kind.visible_row(scope)
            for row in entity_rows(kind, kind.model.objects.filter(pk__in=ids).order_by()):
                if visible(row):
                    found[(kind_name, str(row["id"]))] = row
            continue
        for row in entity_rows(kind, kind.model.objects.filter(kind.visible(scope), pk__in=ids).order_by()):
            found[(kind_name, str(row["id"]))] = row
    changes = []
    for key in touched:
        data = found.get(key)
        if data is None:
            changes.append({"kind": key[0], "id": key[1], "op": "delete"})
        else:
            changes.append({"kind": key[0], "id": key[1], "op": "upsert", "data": data})
    return changes


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
        still = {str(pk) for pk in kind.model.objects.filter(kind.visible(scope), pk__in=ids).values_list("pk", flat=True)}
        drops.extend({"kind": kind_name, "id": entity_id} for entity_id in sorted(ids - still))
    return drops


def _answer(**fields) -> dict:
    base = {"changes": [], "cursor": None, "has_more": False, "reset": None, "drop": [], "push_first": False,
            "server_time": timezone.now().isoformat()}
    base.update(fields)
    return base


def render_page(page: dict) -> str:
    """The page as the response body, its changes serialised once: the same canonical
    text is what the checksum covers."""
    changes = canonical_json(page["changes"])
    rest = {key: value for key, value in page.items() if key != "changes"}
    rest["checksum"] = hashlib.sha256(changes.encode()).hexdigest()
    return '{"changes":' + changes + "," + canonical_json(rest)[1:]


def sync_pull(*, user: User, device: Device, cursor: str | None, limit: int = DEFAULT_PAGE,
              pending_mutation_id: int = 0) -> dict:
    limit = max(1, min(limit, MAX_PAGE))
    state = stamp_changes()
    last_stamp = state.stamp
    scope = scope_of(user)
    buckets = buckets_for(scope)
    if cursor is None:
        position = Cursor(epoch=state.epoch, user=user.pk, buckets=buckets, full_start=last_stamp)
    else:
        position = decode_cursor(cursor, user=user, epoch=state.epoch, last_stamp=last_stamp, horizon=state.horizon)
        if isinstance(position, str):
            return _answer(reset=position, has_more=True)

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
            position.backfill = {"buckets": sorted(set(added) | (set(earlier) & set(buckets))), "stamp": 0, "id": 0,
                                 "until_stamp": position.stamp, "until_id": position.id}
        elif position.backfill:
            position.backfill["buckets"] = sorted(set(position.backfill["buckets"]) & set(buckets))
        position.buckets = buckets

    fill = position.backfill
    if fill:
        rows = _page_rows(fill["buckets"], (fill["stamp"], fill["id"]), limit, until=(fill["until_stamp"], fill["until_id"]),
                          live_only=True)
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
        if position.stamp < last_stamp:
            # Nothing of ours up to ``last_stamp``, and later rows get later stamps:
            # skip ahead, so an idle phone's cursor does not age into expiry.
            position.stamp, position.id = last_stamp, SKIP_AHEAD_ID
    return _answer(changes=changes, cursor=position.encode(), has_more=more, drop=drops)
