"""The limits the API holds at its edge (docs/limits.md states them; tests hold each).

Integers are bounded by the column that stores or is compared with them: a number the
database cannot hold answered 500 (SQLite raises ``OverflowError``, PostgreSQL a
``DataError``). The annotated types below carry the bound into the schema, so such a
number is a 422 naming the field, and the OpenAPI document states the range.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field

# Column ranges (PostgreSQL's; SQLite's INTEGER holds the bigint range).
BIGINT_MAX = 2**63 - 1  # every primary key (BigAutoField), notification and mutation sequence numbers
INT_MAX = 2**31 - 1  # integer columns: an event's version (action count), a conflict's base version
SMALLINT_MAX = 2**15 - 1  # smallint columns: a sync protocol version

# Offset paging: ``page_size`` rows at most, and a page number whose offset stays far
# inside the bigint range (200 × 100,000 = 20 million rows skipped at most).
MAX_PAGE_SIZE = 200
MAX_PAGE = 100_000

# Request bodies. JSON is read into memory: Django refuses more than
# DATA_UPLOAD_MAX_MEMORY_SIZE (413). A photo is multipart and streamed to a temporary
# file, so its route has its own, larger limit (media.services.MAX_BYTES plus the
# multipart envelope). docker/nginx.conf states both (a test compares them).
JSON_BODY_MAX_BYTES = 2560 * 1024  # 2.5 MiB: nginx ``client_max_body_size 2560k``

# Instants a client sends (device clocks, deadlines, filters). Python's datetime ends at
# the years 1 and 9999: '9999-12-31T23:59-12:00' overflowed when converted to UTC for
# the database (500), and one such mutation failed its whole sync push. A phone whose
# clock was reset reads 1970 or 1980, well inside.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
LOCAL = ZoneInfo("Asia/Shanghai")  # settings.TIME_ZONE: how Django reads a time without an offset


def within_range(value: datetime) -> bool:
    return EARLIEST <= (value if value.tzinfo else value.replace(tzinfo=LOCAL)) <= LATEST


def in_local_time(value: datetime) -> datetime:
    """The same instant at +08:00. ISO 8601 allows offsets up to ±23:59 and PostgreSQL
    refuses those beyond ±15:59 ('…-17:13' was a 500 there, found by tests/test_fuzz.py);
    in local time every instant of the range is stored, and answers echo it as before."""
    return value.astimezone(LOCAL) if value.tzinfo else value.replace(tzinfo=LOCAL)


def _in_range(value: datetime) -> datetime:
    if not within_range(value):
        raise ValueError(f"a time between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
    return in_local_time(value)


INSTANT_RANGE = {"formatMinimum": EARLIEST.isoformat(), "formatMaximum": LATEST.isoformat()}
Instant = Annotated[datetime, AfterValidator(_in_range), Field(json_schema_extra=INSTANT_RANGE)]

RowId = Annotated[int, Field(ge=1, le=BIGINT_MAX, description="a row id (bigint: 1 … 2^63 − 1)")]
Seq = Annotated[int, Field(ge=0, le=BIGINT_MAX, description="a sequence number (0 … 2^63 − 1)")]
Page = Annotated[int, Field(ge=1, le=MAX_PAGE, description=f"page number, 1 … {MAX_PAGE}")]
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE, description=f"rows per page, 1 … {MAX_PAGE_SIZE}")]
