"""``backend.fastpath.arrays``: every kind of array packed here is, byte for byte,
what psycopg's own binary dumper sends, and on PostgreSQL reads back as it was."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from psycopg.adapt import PyFormat, Transformer
from psycopg.types.numeric import Int4, Int8

from backend.fastpath import arrays
from backend.fastpath import intake as statements

LOCAL = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 12, 1, 8, tzinfo=LOCAL)
CASES = [
    (arrays.Int8Array, [1, -2, 2**40, 0], [Int8(v) for v in (1, -2, 2**40, 0)]),
    (arrays.Int8Array, [7, None], [Int8(7), None]),
    (arrays.Int4Array, [0, -1, 2**31 - 1], [Int4(v) for v in (0, -1, 2**31 - 1)]),
    (arrays.Float8Array, [0.25, -0.0, 1e-300, 1000.0], None),
    (arrays.Float8Array, [0.3, None], None),
    (arrays.TimestamptzArray, [AT, AT, AT + timedelta(hours=1), datetime(1999, 1, 1, 0, 0, 0, 5, tzinfo=UTC)], None),
    (arrays.TimestamptzArray, [None, AT], None),
    (arrays.ByteaArray, [b"ab", b"", bytes(range(256)), None], None),
    (arrays.TextArray, ["a", "中文", "", None], None),
    (arrays.UuidArray, [uuid.UUID(int=1), uuid.UUID(int=2**127)], None),
    (arrays.UuidArray, [None, uuid.UUID(int=5)], None),
]
EMPTY = (arrays.Int8Array, [], None)


@pytest.mark.parametrize(("kind", "values", "typed"), CASES, ids=lambda v: getattr(v, "__name__", None))
def test_a_packed_array_is_what_psycopg_sends(kind, values, typed):
    dumper = Transformer().get_dumper(typed or values, PyFormat.BINARY)
    assert arrays.pack(kind, values).data == bytes(dumper.dump(typed or values))
    assert kind.oid == dumper.oid


def test_an_array_with_nan_and_an_empty_array_pack():
    packed = arrays.pack(arrays.Float8Array, [math.nan])
    assert packed.data.endswith(b"\x00\x00\x00\x08\x7f\xf8" + bytes(6))
    no_dimensions, no_nulls, int8 = 0, 0, 20
    assert arrays.pack(arrays.Int8Array, []).data == b"".join(
        n.to_bytes(4, "big") for n in (no_dimensions, no_nulls, int8)
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's arrays")
@pytest.mark.parametrize(("kind", "values", "typed"), [*CASES, EMPTY], ids=lambda v: getattr(v, "__name__", None))
def test_a_packed_array_reads_back_as_it_was(db, kind, values, typed):
    name = next(name for name, k in statements.ARRAY_KINDS.items() if k is kind)
    (found,) = statements._run(f"SELECT %b::{name}[]", [values])
    assert found[0] == [bytes(v) if isinstance(v, memoryview) else v for v in values]
