"""Write and read the access log of personal data (see models.PersonalDataRead)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection
from django.utils import timezone

from backend.fastpath.statements import Plain
from backend.privacy.models import PersonalDataRead, SubjectKind


@functools.cache
def _insert(rows: int) -> Plain:
    """The insert of ``rows`` access-log rows (``INSERT_COLUMNS``), written once per count: a step's answer
    records one reporter, and the ORM's ``bulk_create`` cost more to compile than to run
    (``step_p50_ms``). Held equal to ``record_reads_orm`` by tests/test_log.py."""
    return Plain(insert_sql(rows), PersonalDataRead=PersonalDataRead)


def insert_sql(rows: int) -> str:
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * rows)
    return f"INSERT INTO {{PersonalDataRead}} ({', '.join(INSERT_COLUMNS)}) VALUES {values}"


INSERT_COLUMNS = ("reader_id", "subject_kind", "subject_id", "endpoint", "fields", "at")


class _Collecting(threading.local):
    def __init__(self) -> None:
        self.stack: list[list[list]] = []  # per ``reads_collected`` block: its rows' values


_collecting = _Collecting()


@contextmanager
def reads_collected() -> Iterator[list[list]]:
    """The reads recorded in the block are not written by ``record_reads`` but left in
    the list it yields (each row's values in ``INSERT_COLUMNS``' order), for the caller
    to write when the block ends (``write_reads``, or with other rows in one statement:
    ``backend.events.writes``). A nested block hands its rows to the outer one when it
    ends without an error; nothing is kept of a block that raises."""
    rows: list[list] = []
    _collecting.stack.append(rows)
    try:
        yield rows
    finally:
        _collecting.stack.pop()
    if _collecting.stack:
        _collecting.stack[-1].extend(rows)
        rows.clear()


def record_reads(reader, kind: SubjectKind | str, subject_ids: Iterable, endpoint: str, fields: str = "") -> int:
    """Record that ``reader`` read the personal data of each subject, in one statement.

    Call it from the endpoint that shows the data, with the endpoint's route as
    ``endpoint`` (for example ``"GET /api/v1/events/{id}"``). Repeated ids count once."""
    ids = sorted({str(i) for i in subject_ids if i is not None})
    if not ids:
        return 0
    at = connection.ops.adapt_datetimefield_value(timezone.now())
    kind = getattr(kind, "value", kind)
    rows = [[reader.pk, kind, i, endpoint, fields, at] for i in ids]
    if _collecting.stack:
        _collecting.stack[-1].extend(rows)
    else:
        write_reads(rows)
    return len(ids)


def write_reads(rows: list[list]) -> None:
    """Access-log rows (``reads_collected``'s) in one statement."""
    if rows:
        _insert(len(rows)).rows([value for row in rows for value in row])


def record_reads_orm(reader, kind: SubjectKind | str, subject_ids: Iterable, endpoint: str, fields: str = "") -> int:
    """``record_reads`` through the ORM (the plain version its statement is held to)."""
    ids = sorted({str(i) for i in subject_ids if i is not None})
    PersonalDataRead.objects.bulk_create(
        [
            PersonalDataRead(reader_id=reader.pk, subject_kind=kind, subject_id=i, endpoint=endpoint, fields=fields)
            for i in ids
        ]
    )
    return len(ids)


def reads_of(kind: SubjectKind | str, subject_id):
    """Who read this person's data, newest first."""
    return PersonalDataRead.objects.filter(subject_kind=kind, subject_id=str(subject_id)).select_related("reader")
