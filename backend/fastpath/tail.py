"""A step's collected writes in one statement on PostgreSQL (``step_p50_ms``): the
change-log rewrite of what it changed (``changelog``), its notifications
(``notifications``) and the access-log rows of its answer (``backend.privacy.log``),
three statements a step before, as the named parts of one ``WITH``.

The parts of one statement share one snapshot and run in no set order, so only writes
that touch different tables and read none of each other's rows may be parts: these
three write the change log and the KPIs' dirty marks, the notifications with their
counters, outbox rows and request ids, and the access log. Held equal to writing them
one statement each by tests/test_tail.py (PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from backend.fastpath import changelog, notifications
from backend.fastpath.statements import Plain

_statements: dict[tuple, Plain] = {}


def applies() -> bool:
    return connection.vendor == "postgresql"


def _statement(shape: tuple) -> Plain:
    """The statement of one shape: the dirty mark of each rewrite, whether there are
    notifications, the count of access-log rows. Written once per shape."""
    from backend.privacy.log import insert_sql
    from backend.privacy.models import PersonalDataRead

    statement = _statements.get(shape)
    if statement is None:
        marks, notifying, reads = shape
        # The first rewrite's names unsuffixed: the statement shows as one in a query log
        # (``changelog.REWRITE_BEGINS``).
        parts = [changelog.ctes(f"_{n}" if n else "", dirty=mark) for n, mark in enumerate(marks)]
        tables = changelog.tables() if marks else {}
        if notifying:
            parts.append(notifications.CTES)
            tables |= notifications.tables()
        if reads:
            parts.append(f"reads AS ({insert_sql(reads)})")
            tables["PersonalDataRead"] = PersonalDataRead
        result = notifications.RESULT if notifying else "SELECT 1"
        statement = _statements[shape] = Plain(f"WITH {', '.join(parts)} {result}", **tables)
    return statement


def write(rewrites: list[tuple], messages: list, reads: list[list], *, now: datetime, request_id: str) -> list:
    """``rewrites`` (``(kind, ids, buckets, dirty)``: ``changelog.rewrite``'s arguments),
    ``messages`` (``push.services.Message``) and access-log ``reads`` (each row's values
    in ``privacy.log.INSERT_COLUMNS``' order) in one statement; answers the
    notifications made, as ``notifications.write`` does."""
    marks = tuple(changelog.marked(dirty) for *_, dirty in rewrites)
    params: list = []
    for (kind, ids, buckets, _), mark in zip(rewrites, marks):
        params += changelog.params(kind, ids, buckets, marked=mark)
    rows: list = []
    if messages:
        values, rows = notifications.prepare(messages, now=now, request_id=request_id)
        params += values
    for row in reads:
        params += row
    result = _statement((marks, bool(messages), len(reads))).rows(params)
    return notifications.made(rows, result, now=now) if messages else []
