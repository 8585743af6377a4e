"""An entity's change-log rows rewritten in one statement on PostgreSQL (``step_p50_ms``:
every step rewrote its event's rows in three, the KPIs' dirty mark, a ``DELETE …
RETURNING`` and an insert); new entities' rows with their dirty marks in one
(``push_vs_couchdb_1``: a batch of reports wrote them in two, the marks and a COPY).

``sync.changes.track`` rewrites an entity's rows: an unstamped live row in each bucket
it is in now, an unstamped tombstone in each bucket it had a row in and is not in now.
Here the same rows come of one statement: the rows of the buckets it has left become
unstamped tombstones in place (an ``UPDATE`` in a ``WITH``), and its current buckets
are upserted unstamped and live (``ON CONFLICT`` on the log's unique ``(kind,
entity_id, bucket)``); the two touch different rows. A row rewritten in place keeps
its id where the plain path gave it a new one: the pull orders by (stamp, id), and an
unstamped row is stamped in a round after every cursor already handed out, so where
it falls among the other rows of its new round changes nothing a phone can see.
New entities have no rows to rewrite: theirs are inserted unstamped and live, one per
current bucket, as the plain path's COPY inserts them.
Held equal to the plain path by tests/test_changelog.py (PostgreSQL)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from backend.fastpath.statements import Plain

REWRITE_BEGINS = "WITH left_buckets AS ("  # how the statement shows in a query log
INSERT_BEGINS = "WITH new_rows AS ("  # how the statement shows in a query log
_INSERT = INSERT_BEGINS + (
    " SELECT n.entity_id, n.bucket FROM unnest(%s::text[], %s::text[]) AS n(entity_id, bucket)"
    "){dirty} "
    "INSERT INTO {Change} (stamp, bucket, kind, entity_id, deleted) "
    "SELECT NULL, n.bucket, %s::text, n.entity_id, FALSE FROM new_rows AS n"
)
_DIRTY = ", dirty AS (INSERT INTO {DirtyEvent} (event_id) SELECT unnest(%s::uuid[]))"


def ctes(suffix: str = "", *, dirty: bool = False) -> str:
    """The rewrite as named parts of a ``WITH`` (``left_buckets``, ``dirty``,
    ``changes``, each name followed by ``suffix``), its parameters ``params``'."""
    left = (
        f"left_buckets{suffix} AS ("
        " UPDATE {Change} c SET stamp = NULL, deleted = TRUE"
        " WHERE c.kind = %s::text AND c.entity_id = ANY(%s::text[]) AND NOT EXISTS ("
        "  SELECT 1 FROM unnest(%s::text[], %s::text[]) AS n(entity_id, bucket)"
        "  WHERE n.entity_id = c.entity_id AND n.bucket = c.bucket))"
    )
    marks = f", dirty{suffix} AS (INSERT INTO {{DirtyEvent}} (event_id) SELECT unnest(%s::uuid[]))" if dirty else ""
    upsert = (
        f", changes{suffix} AS (INSERT INTO {{Change}} (stamp, bucket, kind, entity_id, deleted) "
        "SELECT NULL, n.bucket, %s::text, n.entity_id, FALSE FROM unnest(%s::text[], %s::text[]) AS n(entity_id, bucket) "
        "ON CONFLICT (kind, entity_id, bucket) DO UPDATE SET stamp = NULL, deleted = FALSE)"
    )
    return left + marks + upsert


def tables() -> dict:
    """The models ``ctes`` names."""
    from backend.stats.models import DirtyEvent
    from sync.models import Change

    return {"Change": Change, "DirtyEvent": DirtyEvent}


_made: dict[bool, Plain] = {}


def applies() -> bool:
    return connection.vendor == "postgresql"


def marked(dirty: bool) -> bool:
    """Whether a rewrite asked to mark its entities' KPI facts stale does (the facts kept)."""
    return dirty and settings.STATS_FACTS


def params(kind: str, ids: list[str], buckets: list[set[str]], *, marked: bool) -> list:
    """``ctes``' parameters: the rows of entities ``ids`` (of ``kind``) for their current
    ``buckets`` (one set per id), and with ``marked`` the dirty mark of each."""
    entity_ids = [entity_id for entity_id, current in zip(ids, buckets) for _ in current]
    names = [bucket for current in buckets for bucket in sorted(current)]
    return [kind, ids, entity_ids, names, *([ids] if marked else []), kind, entity_ids, names]


def rewrite(kind: str, ids: list[str], buckets: list[set[str]], *, dirty: bool) -> None:
    """The rows of entities ``ids`` (of ``kind``) for their current ``buckets`` (one set
    per id), and with ``dirty`` the KPIs' dirty mark of each (events), in one statement."""
    mark = marked(dirty)
    if mark not in _made:
        _made[mark] = Plain(f"WITH {ctes(dirty=mark)} SELECT 1", **tables())
    _made[mark].rows(params(kind, ids, buckets, marked=mark))


_made_insert: dict[bool, Plain] = {}


def insert(kind: str, ids: list[str], buckets: list[set[str]], *, dirty: bool) -> None:
    """The rows of new entities ``ids`` (of ``kind``), one per bucket of ``buckets`` (one
    set per id), unstamped and live, and with ``dirty`` the KPIs' dirty mark of each
    (events), in one statement."""
    mark = marked(dirty)
    if mark not in _made_insert:
        _made_insert[mark] = Plain(_INSERT.replace("{dirty}", _DIRTY if mark else ""), **tables())
    entity_ids = [entity_id for entity_id, current in zip(ids, buckets) for _ in current]
    names = [bucket for current in buckets for bucket in sorted(current)]
    _made_insert[mark].rows([entity_ids, names, *([ids] if mark else []), kind])
