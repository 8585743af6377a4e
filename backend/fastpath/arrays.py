"""Arrays of a batch's values packed in PostgreSQL's binary array format here, for
statements that join ``unnest(%b::bigint[], …)`` (``backend/fastpath/intake.py``).

psycopg dumps a Python list parameter element by element in Python (its binary list
dumper looks up each element's dumper and packs it alone): for a batch of 1,000
readings, the five arrays of a few statements cost a third of the batch's Python
(docs/intake.md, "Speed"). Packed here, a fixed-width array is a handful of C calls
whatever its length (``array`` gives the machine values, extended slices put each
one behind its 4-byte length); text, bytea and arrays with NULLs are one join.

``params(cursor, …)`` registers the dumpers on a cursor of ours: a packed array goes
to the server as the array type it names (``%b::bigint[]`` casts to itself).
``tests/test_arrays.py`` holds every kind equal to what psycopg's own dumper sends,
read back by the server."""

from __future__ import annotations

import struct
import sys
import uuid
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # timestamptz counts microseconds from it
MICROSECOND = timedelta(microseconds=1)
_HEADER = struct.Struct(">iiiii")  # dimensions, has NULLs, element type, length, lower bound
_LENGTH = struct.Struct(">i")
_SWAP = sys.byteorder == "little"


class Packed:
    """An array already in the wire format (``data``); a subclass per element type names it."""

    __slots__ = ("data",)
    oid = 0  # the array type

    def __init__(self, data: bytes):
        self.data = data

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.data == self.data


def _kind(name: str, array_oid: int) -> type[Packed]:
    packed = type(name, (Packed,), {"__slots__": (), "oid": array_oid})
    dumper = type(f"{name}Dumper", (_PackedDumper,), {"oid": array_oid})
    _DUMPERS.append((packed, dumper))
    return packed


class _PackedDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Packed) -> bytes:
        return obj.data


_DUMPERS: list[tuple[type, type]] = []
Int8Array = _kind("Int8Array", 1016)
Int4Array = _kind("Int4Array", 1007)
Float8Array = _kind("Float8Array", 1022)
TimestamptzArray = _kind("TimestamptzArray", 1185)
ByteaArray = _kind("ByteaArray", 1001)
TextArray = _kind("TextArray", 1009)
UuidArray = _kind("UuidArray", 2951)

# element type oid, array typecode and width of the fixed-width kinds
_FIXED = {
    Int8Array: (20, "q", 8),
    Int4Array: (23, "i", 4),
    Float8Array: (701, "d", 8),
    TimestamptzArray: (1184, "q", 8),
    UuidArray: (2950, None, 16),
}
_VARIABLE = {ByteaArray: 17, TextArray: 25}


def register(cursor: psycopg.Cursor) -> None:
    """The packed arrays' dumpers on this cursor (not the connection's: Django's
    connections are not ours to change)."""
    adapters = cursor.adapters
    for packed, dumper in _DUMPERS:
        adapters.register_dumper(packed, dumper)


def _fixed(kind: type[Packed], raw: bytes, count: int) -> Packed:
    """``raw``: ``count`` big-endian values of the kind's width, each put behind its length."""
    element, _, width = _FIXED[kind]
    step = 4 + width
    body = bytearray(count * step)
    body[3::step] = bytes([width]) * count  # each length, 0 0 0 width
    for byte in range(width):
        body[4 + byte :: step] = raw[byte::width]
    return kind(_HEADER.pack(1, 0, element, count, 1) + body)


def _with_nulls(kind: type[Packed], element: int, encoded: list[bytes | None]) -> Packed:
    parts = [_HEADER.pack(1, 1 if None in encoded else 0, element, len(encoded), 1)]
    length = _LENGTH.pack
    for value in encoded:
        if value is None:
            parts.append(b"\xff\xff\xff\xff")
        else:
            parts.append(length(len(value)))
            parts.append(value)
    return kind(b"".join(parts))


def pack(kind: type[Packed], values: Sequence) -> Packed:
    """``values`` (ints, floats, aware datetimes, bytes, str or UUIDs as the kind
    says; None is NULL) as a one-dimensional array of that kind."""
    count = len(values)
    if kind in _VARIABLE:
        element = _VARIABLE[kind]
        if kind is TextArray:
            values = [None if v is None else v.encode() for v in values]
        return _with_nulls(kind, element, list(values))
    element, typecode, width = _FIXED[kind]
    if count == 0:
        return kind(_HEADER.pack(0, 0, element, 0, 0)[:12])
    if None in values:
        return _with_nulls(kind, element, [None if v is None else _one(kind, v) for v in values])
    if kind is TimestamptzArray:  # a batch's hours are few: each converted once
        micros = {at: (at - PG_EPOCH) // MICROSECOND for at in set(values)}
        values = [micros[at] for at in values]
    if typecode is None:  # UUIDs: their 16 bytes are already in network order
        return _fixed(kind, b"".join(v.bytes for v in values), count)
    machine = array(typecode, values)
    if _SWAP:
        machine.byteswap()
    return _fixed(kind, machine.tobytes(), count)


def _one(kind: type[Packed], value) -> bytes:
    if kind is UuidArray:
        return value.bytes if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).bytes
    if kind is TimestamptzArray:
        value = (value - PG_EPOCH) // MICROSECOND
    _, typecode, _ = _FIXED[kind]
    return struct.pack(f">{typecode}", value)
