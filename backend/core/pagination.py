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


def paginate(queryset: QuerySet, *, page: int, page_size: int, rows_by_id: QuerySet | None = None) -> dict[str, Any]:
    """One page, whether more remain (one extra row fetched) and the total: exact up
    to ``TOTAL_CAP`` rows, else ``TOTAL_CAP`` with ``total_exact`` false (a bounded
    count: a full COUNT(*) over a district-year is too costly for every page).

    ``rows_by_id`` is for a selective filter that an index other than the order's serves
    (a text search: the trigram indexes). The matching ids and their order's fields, up
    to ``TOTAL_CAP`` + 1 rows, are read first and unordered, which is also the bounded
    count; when that is all of them, they are ordered here and the page's rows are read
    from ``rows_by_id`` by id. Paging in order would walk the order's index testing each
    row until a page of rare matches is found. When there are more, matches are common
    and the ordered page is found quickly the usual way."""
    from backend.core.errors import ApiError

    if not 1 <= page <= MAX_PAGE or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ApiError("validation_error", detail={"page": f"1..{MAX_PAGE}", "page_size": f"1..{MAX_PAGE_SIZE}"})
    start = (page - 1) * page_size
    if rows_by_id is not None:
        order = [field.lstrip("-") for field in queryset.query.order_by]
        keys = list(queryset.order_by().select_related(None).values_list("pk", *order)[: TOTAL_CAP + 1])
        total = len(keys)
        if total <= TOTAL_CAP:
            for position, field in reversed(list(enumerate(queryset.query.order_by, start=1))):
                keys.sort(key=lambda row: row[position], reverse=field.startswith("-"))  # stable: last key first
            ids = [row[0] for row in keys[start : start + page_size + 1]]
            found = {row.pk: row for row in rows_by_id.filter(pk__in=ids)} if ids else {}
            rows = [found[pk] for pk in ids if pk in found]
            return _page(rows, page, page_size, total)
        rows = list(queryset[start : start + page_size + 1])
        return _page(rows, page, page_size, total)
    rows = list(queryset[start : start + page_size + 1])
    if page == 1 and len(rows) <= page_size:
        total = len(rows)  # the whole list is on this page: no count needed
    else:
        # Only the ids, without the joined rows or the order: the count reads the
        # filter's indexes and stops after TOTAL_CAP + 1 rows.
        total = _ids(queryset)[: TOTAL_CAP + 1].count()
    return _page(rows, page, page_size, total)


def _ids(queryset: QuerySet) -> QuerySet:
    return queryset.order_by().select_related(None).values_list("pk", flat=True)


def _page(rows: list, page: int, page_size: int, total: int) -> dict[str, Any]:
    return {
        "items": rows[:page_size],
        "page": page,
        "page_size": page_size,
        "has_more": len(rows) > page_size,
        "total": min(total, TOTAL_CAP),
        "total_exact": total <= TOTAL_CAP,
    }
