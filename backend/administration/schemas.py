from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Schema

from backend.core.limits import RowId
from backend.events.models import DeadlineUnit, HandlerKind, Severity
from backend.territory.models import PlatformKind

Kind = Literal["holiday", "workday"]
Handler = Literal[tuple(HandlerKind.values)]
PlatformKindIn = Literal[tuple(PlatformKind.values)]
CategoryCode = Field(..., pattern=r"^\d{2}(\.\d{2})?$", description="编码：大类 `06`，小类 `06.01`")


class CalendarDayIO(Schema):
    date: date
    kind: Kind = Field(..., description="holiday：法定节假日（休）；workday：调休上班（班）")
    name: str = Field("", max_length=64, description="例如：元旦、春节")


class CalendarYearIn(Schema):
    note: str = Field("", max_length=200, description="例如：国务院办公厅通知文号")
    days: list[CalendarDayIO] = Field(..., max_length=120, description="该年全部节假日与调休日（整体替换）")


class CalendarYearOut(Schema):
    year: int
    source: str
    note: str
    updated_at: datetime
    holidays: int
    workdays: int


class CalendarOut(Schema):
    years: list[CalendarYearOut]
    warnings: list[str]


class CalendarYearDetailOut(CalendarYearOut):
    days: list[CalendarDayIO]


class CategoryFields(Schema):
    name_en: str = Field("", max_length=64)
    default_handler: Handler = HandlerKind.PLATFORM
    default_department_code: str = Field("", max_length=32)
    severity: Literal[tuple(Severity.values)] = Severity.NORMAL
    deadline_unit: Literal[tuple(DeadlineUnit.values)] = DeadlineUnit.WORKING_DAYS
    deadline_amount: int = Field(3, ge=1, le=365)
    before_photos_required: int = Field(1, ge=0, le=9)
    after_photos_required: int = Field(1, ge=0, le=9)
    anonymous_allowed: bool = False
    duplicate_radius_m: int = Field(250, ge=0, le=5000)


class CategoryIn(CategoryFields):
    code: str = CategoryCode
    name: str = Field(..., min_length=1, max_length=64)
    parent_code: str | None = Field(None, description="小类所属大类的编码；不填为大类")
    platform_kind: PlatformKindIn


class CategoryPatch(Schema):
    """Only the fields sent change. ``grid_admissible`` is not here: the admission list
    changes only through an approved request (``/admin/admission-requests``)."""

    name: str | None = Field(None, min_length=1, max_length=64)
    name_en: str | None = Field(None, max_length=64)
    platform_kind: PlatformKindIn | None = None
    default_handler: Handler | None = None
    default_department_code: str | None = Field(None, max_length=32)
    severity: Literal[tuple(Severity.values)] | None = None
    deadline_unit: Literal[tuple(DeadlineUnit.values)] | None = None
    deadline_amount: int | None = Field(None, ge=1, le=365)
    before_photos_required: int | None = Field(None, ge=0, le=9)
    after_photos_required: int | None = Field(None, ge=0, le=9)
    anonymous_allowed: bool | None = None
    duplicate_radius_m: int | None = Field(None, ge=0, le=5000)
    active: bool | None = Field(None, description="停用：不再可报，已有事件不受影响")


class AdminCategoryOut(CategoryFields):
    code: str
    name: str
    parent_code: str | None
    platform_kind: str
    grid_admissible: bool
    active: bool


class AdmissionIn(Schema):
    category: str = CategoryCode
    admit: bool = Field(..., description="true：纳入网格事务准入清单；false：移出")
    reason: str = Field(..., min_length=1, max_length=2000)


class DecisionIn(Schema):
    note: str = Field("", max_length=2000)


class AdmissionOut(Schema):
    id: int
    category: str
    category_name: str
    admit: bool
    reason: str
    status: str
    status_label: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str


class DutyIn(Schema):
    category: str = CategoryCode
    street_code: str | None = Field(None, max_length=15, description="不填：全区适用")
    handler: Handler
    platform_kind: PlatformKindIn | Literal[""] = ""
    department_id: RowId | None = None
    note: str = Field("", max_length=200)


class DutyOut(Schema):
    id: int
    category: str
    street_code: str | None
    handler: str
    platform_kind: str
    department_id: int | None
    department_name: str | None
    note: str


class SuggestionOut(Schema):
    handler: str
    platform_id: int | None
    department_id: int | None
    label: str
    source: str = Field(..., description="street：本街道条目；district：全区条目；catalogue：事项目录默认（仅供参考）")
    binding: bool = Field(..., description="是否为职责清单条目（偏离须填写理由）")


class DispatchTargetOut(Schema):
    kind: str = Field(..., description="platform、stationed_unit、department 或 grid_worker")
    id: int
    name: str
    department_id: int | None = Field(None, description="下沉单位所属的职能部门")
    open_events: int = Field(..., description="当前承办中的未办结事件数")
    field: str = Field(..., description="派遣时填写的字段：platform_id、unit_id、department_id 或 grid_worker_id")
    suggested: bool


class DispatchTargetsOut(Schema):
    event_id: UUID
    suggestion: SuggestionOut | None
    targets: list[DispatchTargetOut]


class AuditOut(Schema):
    id: int
    at: datetime
    user: str | None
    action: str
    model: str
    object_id: str
    object_repr: str
    message: str
