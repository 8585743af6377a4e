"""Keyset-free, bounded offset paging shared by list endpoints."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from ninja import Schema

from backend.core.limits import MAX_PAGE, MAX_PAGE_SIZE, Page, PageSize

__all__ = ["MAX_PAGE", "MAX_PAGE_SIZE", "TOTAL_CAP", "PageParams", "paginate"]

# Totals are counted up to this many rows: beyond it the list says "more than
# TOTAL_CAP" (``total_exact`` false), so one count never walks a whole district-year.
TOTAL_CAP = 1_000


class PageParams(Schema):
    # Bounded here, in the schema: a page beyond the bigint range reached the database
    # as an OFFSET it cannot hold (500); now it is a 422 and the OpenAPI states the range.
    page: Page = 1
    page_size: PageSize = 50


def paginate(queryset: QuerySet, *, page: int, page_size: int) -> dict[str, Any]:
    """One page, whether more remain (one extra row fetched) and the total: exact up
    to ``TOTAL_CAP`` rows, else ``TOTAL_CAP`` with ``total_exact`` false (a bounded
    count: a full COUNT(*) over a district-year is too costly for every page)."""
    from backend.core.errors import ApiError

    if not 1 <= page <= MAX_PAGE or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ApiError("validation_error", detail={"page": f"1..{MAX_PAGE}", "page_size": f"1..{MAX_PAGE_SIZE}"})
    start = (page - 1) * page_size
    rows = list(queryset[start : start + page_size + 1])
    if page == 1 and len(rows) <= page_size:
        total = len(rows)  # the whole list is on this page: no count needed
    else:
        # Only the ids, without the joined rows or the order: the count reads the
        # filter's indexes and stops after TOTAL_CAP + 1 rows.
        total = queryset.order_by().select_related(None).values("pk")[: TOTAL_CAP + 1].count()
    return {
        "items": rows[:page_size],
        "page": page,
        "page_size": page_size,
        "has_more": len(rows) > page_size,
        "total": min(total, TOTAL_CAP),
        "total_exact": total <= TOTAL_CAP,
    }
