"""Keyset-free, bounded offset paging shared by list endpoints."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from ninja import Schema

from backend.core.limits import MAX_PAGE, MAX_PAGE_SIZE, Page, PageSize

__all__ = ["MAX_PAGE", "MAX_PAGE_SIZE", "PageParams", "paginate"]


class PageParams(Schema):
    # Bounded here, in the schema: a page beyond the bigint range reached the database
    # as an OFFSET it cannot hold (500); now it is a 422 and the OpenAPI states the range.
    page: Page = 1
    page_size: PageSize = 50


def paginate(queryset: QuerySet, *, page: int, page_size: int) -> dict[str, Any]:
    """One page plus whether more remain; counts only when asked is too costly at
    the seed's scale, so we fetch one extra row instead of running COUNT(*)."""
    from backend.core.errors import ApiError

    if not 1 <= page <= MAX_PAGE or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ApiError("validation_error", detail={"page": f"1..{MAX_PAGE}", "page_size": f"1..{MAX_PAGE_SIZE}"})
    start = (page - 1) * page_size
    rows = list(queryset[start : start + page_size + 1])
    return {"items": rows[:page_size], "page": page, "page_size": page_size, "has_more": len(rows) > page_size}
