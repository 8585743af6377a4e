"""The statements of the intake's batches (``bench/intake.py``: ``video_alerts_per_s``,
``power_readings_per_s``): one statement per kind of look-up or write for a batch of
up to 1,000 items, its values sent as a few arrays.

On PostgreSQL the arrays go as parameters bound by the server, in binary, and rows
are joined with ``unnest(…)``: the ORM's ``IN`` lists and ``bulk_create`` of a
thousand rows, and psycopg splitting a statement of thousands of ``%s``, cost more
than the database's work (backend/fastpath/README.md). Elsewhere (SQLite, the test
suite's in-memory layer) the same work is done with plain ``IN`` lists and
``executemany``. ``tests/test_intake.py`` beside this file holds both equal to the
ORM's reads and writes. Every statement goes through Django's cursor wrapper
(``through_django``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache

import psycopg
from django.db import connection

from backend.fastpath import arrays
from backend.fastpath.bulk import present
from backend.fastpath.statements import through_django
from backend.intake.models import AlertCounter, Camera, Household, MeterState, PowerAlert, PowerReading, VideoAlert

COUNTER_COLUMNS = ("received", "dropped", "suppressed", "confirmed", "dismissed")


def _postgres() -> bool:
    return connection.vendor == "postgresql"


ARRAY_KINDS = {
    "bigint": arrays.Int8Array,
    "int": arrays.Int4Array,
    "float8": arrays.Float8Array,
    "timestamptz": arrays.TimestamptzArray,
    "bytea": arrays.ByteaArray,
    "text": arrays.TextArray,
    "uuid": arrays.UuidArray,
}
_PLACEHOLDER = re.compile(r"%b(?:::(\w+)\[\])?")


@cache
def _array_kinds(sql: str) -> tuple:
    """Each parameter's array kind (``%b::bigint[]``), None for a plain value (``%b``)."""
    return tuple(ARRAY_KINDS[name] if name else None for name in _PLACEHOLDER.findall(sql))


def _run(sql: str, params: Sequence) -> list[tuple]:
    """PostgreSQL: the statement with its parameters (``%b``) bound by the server and
    sent in binary, and its rows in binary. A list given for ``%b::<type>[]`` goes as
    an array packed by ``backend.fastpath.arrays`` (psycopg's own dumper packs each
    element in Python)."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        arrays.register(cursor)

        def run(sql, params):
            cursor.execute(sql, params, binary=True)
            return cursor.fetchall() if cursor.description else []

        params = list(params)
        # Logged (DEBUG, CaptureQueriesContext) as Django logs its own: the values in place.
        shown = connection.ops.compose_sql(sql.replace("%b", "%s"), params) if connection.queries_logged else None
        kinds = _array_kinds(sql)
        packed = [
            value if kind is None else arrays.pack(kind, value) for kind, value in zip(kinds, params, strict=True)
        ]
        return through_django(cursor, sql, packed, run, shown=shown)


def _plain(sql: str, params: Sequence = (), *, many: bool = False) -> list[tuple]:
    with connection.cursor() as cursor:
        if many:
            cursor.executemany(sql, params)
            return []
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _marks(values: Sequence) -> str:
    return ", ".join(["%s"] * len(values))


# Video alerts


def cameras_and_open_alerts(
    *, source_id: int, codes: Sequence[str], since: datetime
) -> tuple[dict[str, int], dict[tuple[int, int], tuple]]:
    """The source's active cameras among ``codes`` (code → id) and, per camera and
    type, its latest open alert last seen at or after ``since``:
    ``(camera_id, type_id) → (id, first_at, last_at, confidence, repeats)``."""
    camera, alert = Camera._meta.db_table, VideoAlert._meta.db_table
    cameras: dict[str, int] = {}
    open_alerts: dict[tuple[int, int], tuple] = {}
    if not codes:
        return cameras, open_alerts
    if _postgres():
        rows = _run(
            f"SELECT c.code, c.id, a.type_id, a.id, a.first_at, a.last_at, a.confidence, a.repeats "
            f"FROM {camera} c LEFT JOIN LATERAL ("
            f"  SELECT DISTINCT ON (type_id) type_id, id, first_at, last_at, confidence, repeats FROM {alert}"
            f"  WHERE camera_id = c.id AND state = 'open' AND last_at >= %b ORDER BY type_id, last_at DESC, id DESC"
            f") a ON true WHERE c.source_id = %b AND c.active AND c.code IN (SELECT unnest(%b::text[]))",
            [since, source_id, list(codes)],
        )
        for code, camera_id, type_id, *open_alert in rows:
            cameras[code] = camera_id
            if type_id is not None:
                open_alerts[(camera_id, type_id)] = tuple(open_alert)
        return cameras, open_alerts
    codes = list(codes)
    cameras = dict(
        _plain(
            f"SELECT code, id FROM {camera} WHERE source_id = %s AND active AND code IN ({_marks(codes)})",
            [source_id, *codes],
        )
    )
    if cameras:
        ids = list(cameras.values())
        for camera_id, type_id, *open_alert in (
            VideoAlert.objects.filter(state="open", camera_id__in=ids, last_at__gte=since)
            .order_by("last_at", "id")
            .values_list("camera_id", "type_id", "id", "first_at", "last_at", "confidence", "repeats")
        ):
            open_alerts[(camera_id, type_id)] = tuple(open_alert)
    return cameras, open_alerts


def items_kept(*, source_id: int, item_ids: Sequence[str]) -> set[str]:
    """Those of ``item_ids`` that the source's alerts already hold (``bulk.present``
    elsewhere: on PostgreSQL one text array joined, not a thousand values printed into
    the statement and planned one by one)."""
    if not item_ids:
        return set()
    if _postgres():
        rows = _run(
            f"SELECT a.item_id FROM {VideoAlert._meta.db_table} a "
            "WHERE a.source_id = %b AND a.item_id IN (SELECT unnest(%b::text[]))",
            [source_id, list(item_ids)],
        )
        return {item_id for (item_id,) in rows}
    return present(VideoAlert, "item_id", item_ids, source_id=source_id)


def alerts_insert(rows: Sequence[tuple]) -> dict[str, int]:
    """New open alerts, each ``(source_id, camera_id, type_id, item_id, confidence,
    first_at, last_at, repeats, snapshot_id, received_at)``; their ids by item id."""
    if not rows:
        return {}
    table = VideoAlert._meta.db_table
    columns = "source_id, camera_id, type_id, item_id, confidence, first_at, last_at, repeats, snapshot_id, received_at"
    if _postgres():
        arrays = [list(column) for column in zip(*rows, strict=True)]
        found = _run(
            f"INSERT INTO {table} ({columns}, state, review_note) "
            "SELECT *, 'open', '' FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::text[], %b::float8[], "
            "%b::timestamptz[], %b::timestamptz[], %b::int[], %b::uuid[], %b::timestamptz[]) "
            "RETURNING item_id, id",
            arrays,
        )
        return dict(found)
    adapt = connection.ops.adapt_datetimefield_value
    params: list = []
    for row in rows:
        values = list(row)
        for at in (5, 6, 9):
            values[at] = adapt(values[at])
        if values[8] is not None:
            values[8] = values[8].hex
        params += values
    marks = ", ".join([f"({_marks(rows[0])}, 'open', '')"] * len(rows))
    return dict(
        _plain(f"INSERT INTO {table} ({columns}, state, review_note) VALUES {marks} RETURNING item_id, id", params)
    )


def alerts_join(rows: Sequence[tuple]) -> None:
    """Repeats joining alerts saved before this batch, each ``(id, repeats added,
    last_at, confidence)``: added to the stored count (a concurrent batch's are not
    lost), the later time and the higher confidence kept. The rows are locked in id
    order first, so concurrent batches joining the same alerts do not deadlock."""
    if not rows:
        return
    table = VideoAlert._meta.db_table
    rows = sorted(rows)
    if _postgres():
        ids, added, last, confidence = (list(column) for column in zip(*rows, strict=True))
        _run(f"SELECT id FROM {table} WHERE id = ANY(%b::bigint[]) ORDER BY id FOR NO KEY UPDATE", [ids])
        _run(
            f"UPDATE {table} a SET repeats = a.repeats + v.added, last_at = GREATEST(a.last_at, v.last_at), "
            "confidence = GREATEST(a.confidence, v.confidence) "
            "FROM unnest(%b::bigint[], %b::int[], %b::timestamptz[], %b::float8[]) AS v(id, added, last_at, confidence) "
            "WHERE a.id = v.id",
            [ids, added, last, confidence],
        )
        return
    adapt = connection.ops.adapt_datetimefield_value
    _plain(
        f"UPDATE {table} SET repeats = repeats + %s, last_at = CASE WHEN last_at < %s THEN %s ELSE last_at END, "
        "confidence = CASE WHEN confidence < %s THEN %s ELSE confidence END WHERE id = %s",
        [(n, adapt(at), adapt(at), c, c, pk) for pk, n, at, c in rows],
        many=True,
    )


def counters_add(deltas: dict[tuple[int, int], dict[str, int]]) -> None:
    """Add to the per camera-and-type counters in one statement (an upsert that adds),
    in key order (concurrent batches lock the same rows in the same order)."""
    if not deltas:
        return
    table = AlertCounter._meta.db_table
    rows = [
        (camera_id, type_id, *(delta.get(c, 0) for c in COUNTER_COLUMNS))
        for (camera_id, type_id), delta in sorted(deltas.items())
    ]
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in COUNTER_COLUMNS)
    insert = f"INSERT INTO {table} (camera_id, type_id, {', '.join(COUNTER_COLUMNS)}) "
    conflict = f" ON CONFLICT (camera_id, type_id) DO UPDATE SET {updates}"
    if _postgres():
        arrays = [list(column) for column in zip(*rows, strict=True)]
        _run(insert + f"SELECT * FROM unnest({', '.join(['%b::bigint[]'] * len(arrays))})" + conflict, arrays)
        return
    values = ", ".join(f"({_marks(row)})" for row in rows)
    _plain(insert + f"VALUES {values}" + conflict, [value for row in rows for value in row])


# Electricity


def households_locked(*, source_id: int, meters: Sequence[str]) -> list[tuple]:
    """The source's active households among ``meters``, ``(meter_no, id, kind,
    baseline_kwh_day)``, each locked (in id order, as every batch takes them) until
    the batch commits: a household's readings and running state are written by one
    batch at a time."""
    if not meters:
        return []
    table = Household._meta.db_table
    columns = "meter_no, id, kind, baseline_kwh_day"
    if _postgres():
        return _run(  # joined with the array: planning `= ANY(<1,000 values>)` took longer than the look-up
            f"SELECT h.meter_no, h.id, h.kind, h.baseline_kwh_day FROM unnest(%b::text[]) AS v(meter_no) "
            f"JOIN {table} h ON h.meter_no = v.meter_no WHERE h.source_id = %b AND h.active "
            "ORDER BY h.id FOR NO KEY UPDATE OF h",
            [list(meters), source_id],
        )
    meters = list(meters)
    return _plain(
        f"SELECT {columns} FROM {table} WHERE source_id = %s AND active AND meter_no IN ({_marks(meters)}) ORDER BY id",
        [source_id, *meters],
    )


def readings_upsert(rows: Sequence[tuple[int, datetime, float]]) -> None:
    """``(household_id, hour, kwh)`` stored; a meter's hour sent again replaces its kWh."""
    if not rows:
        return
    table = PowerReading._meta.db_table
    conflict = " ON CONFLICT (household_id, hour) DO UPDATE SET kwh = excluded.kwh"
    if _postgres():
        ids, hours, kwh = (list(column) for column in zip(*rows, strict=True))
        _run(
            f"INSERT INTO {table} (household_id, hour, kwh) "
            "SELECT * FROM unnest(%b::bigint[], %b::timestamptz[], %b::float8[])" + conflict,
            [ids, hours, kwh],
        )
        return
    adapt = connection.ops.adapt_datetimefield_value
    _plain(
        f"INSERT INTO {table} (household_id, hour, kwh) VALUES (%s, %s, %s)" + conflict,
        [(pk, adapt(hour), kwh) for pk, hour, kwh in rows],
        many=True,
    )


def states_read(household_ids: Sequence[int]) -> dict[int, tuple[datetime, bytes]]:
    """Each household's running state: the hour of its latest reading and the packed
    hourly kWh before it (``backend.intake.meters``)."""
    if not household_ids:
        return {}
    table = MeterState._meta.db_table
    if _postgres():
        rows = _run(
            f"SELECT s.household_id, s.last_hour, s.kwh FROM unnest(%b::bigint[]) AS v(id) "
            f"JOIN {table} s ON s.household_id = v.id",
            [list(household_ids)],
        )
        return {pk: (last, bytes(kwh)) for pk, last, kwh in rows}
    return {
        pk: (last, bytes(kwh))
        for pk, last, kwh in MeterState.objects.filter(household_id__in=list(household_ids)).values_list(
            "household_id", "last_hour", "kwh"
        )
    }


def states_write(rows: Sequence[tuple[int, datetime, bytes]]) -> None:
    """``(household_id, last_hour, packed kWh)`` saved over what was there."""
    if not rows:
        return
    table = MeterState._meta.db_table
    conflict = " ON CONFLICT (household_id) DO UPDATE SET last_hour = excluded.last_hour, kwh = excluded.kwh"
    if _postgres():
        # The states there are updated, the others inserted: an upsert of a row that is
        # there locks it before updating it, one more write-ahead record a row.
        ids, last, kwh = (list(column) for column in zip(*rows, strict=True))
        _run(
            "WITH v AS (SELECT * FROM unnest(%b::bigint[], %b::timestamptz[], %b::bytea[]) AS v(id, last_hour, kwh)), "
            f"updated AS (UPDATE {table} s SET last_hour = v.last_hour, kwh = v.kwh FROM v WHERE s.household_id = v.id "
            "RETURNING s.household_id) "
            f"INSERT INTO {table} (household_id, last_hour, kwh) "
            "SELECT * FROM v WHERE v.id NOT IN (SELECT household_id FROM updated)" + conflict,
            [ids, last, kwh],
        )
        return
    adapt = connection.ops.adapt_datetimefield_value
    _plain(
        f"INSERT INTO {table} (household_id, last_hour, kwh) VALUES (%s, %s, %s)" + conflict,
        [(pk, adapt(last), kwh) for pk, last, kwh in rows],
        many=True,
    )


def alerts_close(pairs: Sequence[tuple[int, int]]) -> None:
    """Close the open alerts of these ``(household_id, rule_id)``: their rule no longer fires."""
    if not pairs:
        return
    if _postgres():
        households, rules = (list(column) for column in zip(*sorted(pairs), strict=True))
        _run(
            f"UPDATE {PowerAlert._meta.db_table} SET open = false WHERE open AND (household_id, rule_id) IN "
            "(SELECT * FROM unnest(%b::bigint[], %b::bigint[]))",
            [households, rules],
        )
        return
    pairs = sorted(pairs)
    _plain(
        f"UPDATE {PowerAlert._meta.db_table} SET open = false WHERE open AND (household_id, rule_id) IN "
        f"(VALUES {', '.join(['(%s, %s)'] * len(pairs))})",
        [value for pair in pairs for value in pair],
    )
