from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ninja import Field, Schema

from backend.core.limits import INT_MAX, Instant
from backend.core.pagination import PageParams
from backend.patrols.models import SubjectKind


class SubjectParams(PageParams):
    grid_id: int | None = Field(None, ge=1, le=INT_MAX)
    kind: SubjectKind | None = None


class KeySubjectOut(Schema):
    """The minimum a visit needs: who or what, where, how often, why (no ID numbers,
    phones or family details: the district's own registers keep those)."""

    id: int
    grid_id: int
    kind: str
    kind_label: str
    name: str
    address_text: str
    attention: str
    visit_every_days: int
    note: str
    last_visited_at: datetime | None = None
    next_due_at: datetime | None = None


class KeySubjectPage(Schema):
    items: list[KeySubjectOut]
    page: int
    page_size: int
    has_more: bool


class VisitOut(Schema):
    id: UUID
    subject_id: int
    user_id: int
    visited_at: datetime
    finding: str
    finding_label: str
    note: str
    photos: list[str]


class VisitPage(Schema):
    items: list[VisitOut]
    page: int
    page_size: int
    has_more: bool


class DueOut(Schema):
    id: int
    subject_id: int
    subject_name: str
    subject_kind: str
    grid_id: int
    reason: str
    reason_label: str
    priority: str
    due_at: datetime
    overdue: bool
    notified_at: datetime | None
    escalated_at: datetime | None
    note: str


class DuePage(Schema):
    items: list[DueOut]
    page: int
    page_size: int
    has_more: bool


class CoverageParams(Schema):
    start: Instant
    end: Instant


class CoverageRow(Schema):
    key: str
    due: int
    on_time: int
    late: int
    missing: int
    rate: float | None


class CoverageOut(Schema):
    start: datetime
    end: datetime
    total: CoverageRow
    by_grid: list[CoverageRow]
    by_worker: list[CoverageRow]
    by_kind: list[CoverageRow]
