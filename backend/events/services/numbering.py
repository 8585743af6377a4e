"""Event numbers: SC<year><7 digits>, gap-free per year."""

from __future__ import annotations

from django.db import connection

from backend.events.models import (
    EventCounter,
)

NUMBER_PREFIX = "SC"


def next_event_numbers(year: int, count: int = 1) -> list[str]:
    """SC<year><7 digits>, gap-free per year: the counter row is locked until commit
    (one statement: it makes the year's row or adds to it, and says where it is)."""
    table = connection.ops.quote_name(EventCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (year, last) VALUES (%s, %s) ON CONFLICT (year) "
            f"DO UPDATE SET last = {table}.last + excluded.last RETURNING last",
            [year, count],
        )
        last = cursor.fetchone()[0]
    return [f"{NUMBER_PREFIX}{year}{number:07d}" for number in range(last - count + 1, last + 1)]


def next_event_number(year: int) -> str:
    return next_event_numbers(year)[0]
