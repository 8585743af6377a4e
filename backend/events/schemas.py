from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict

from backend.core.limits import Instant, RowId
from backend.events.models import Source

NOTE = Field("", max_length=2000, description="说明，最多 2000 字")
REASON = Field(..., min_length=1, max_length=2000, description="理由（必填），最多 2000 字")
DEVICE_TIME = Field(None, description="设备声称的操作时间（仅作记录，排序以服务器时间为准）")
PHOTO_REFS = Field(default_factory=list, max_length=20, description="照片引用（SHA-256 摘要或客户端照片 UUID）")


class Location(Schema):
    lat: float = Field(..., ge=-90, le=90)
    lng: float = Field(..., ge=-180, le=180)
    crs: Literal["wgs84", "gcj02"] = Field(..., description="坐标系：wgs84（GPS 原始）或 gcj02（国内地图 SDK）")


class ReportIn(Schema):
    id: UUID | None = Field(None, description="客户端生成的事件 UUID（离线上报），重复提交返回同一事件")
    source: Literal[tuple(Source.values)] = Field(..., description="来源；各角色可报的来源不同")
    category: str = Field(..., max_length=16, description="小类编码")
    description: str = Field(..., min_length=1, max_length=2000)
    location: Location | None = None
    address_text: str = Field("", max_length=200)
    grid_id: RowId | None = None
    severity: Literal["low", "normal", "high", "critical"] | None = None
    before_photos: list[str] = PHOTO_REFS
    after_photos: list[str] = PHOTO_REFS
    handled_on_spot: bool = Field(False, description="小事不出网格：网格员当场处置后上报")
    result_note: str = NOTE
    device_time: Instant | None = DEVICE_TIME


class StepIn(Schema):
    note: str = NOTE
    device_time: Instant | None = DEVICE_TIME


class AcceptIn(StepIn):
    category: str | None = Field(
        None, max_length=16, description="小类编码：受理时改分类（居民选择“不确定”的爆料必填）"
    )


class ReasonIn(Schema):
    reason: str = REASON
    device_time: Instant | None = DEVICE_TIME


class MergeIn(StepIn):
    into: UUID


class DispatchIn(StepIn):
    platform_id: RowId | None = None
    department_id: RowId | None = None
    grid_worker_id: RowId | None = None
    unit_id: RowId | None = Field(None, description="下沉单位（驻该街道的部门单位）")
    deadline_at: Instant | None = Field(None, description="不填则按事项分类的时限规则计算")
    reason: str = Field("", max_length=2000, description="派遣对象与事项办理职责清单不符时必填的理由")


class HandleIn(Schema):
    result_note: str = Field(..., min_length=1, max_length=2000)
    before_photos: list[str] = PHOTO_REFS
    after_photos: list[str] = PHOTO_REFS
    device_time: Instant | None = DEVICE_TIME


class ExtensionIn(ReasonIn):
    until: Instant


class EvaluateIn(Schema):
    satisfaction: Literal["satisfied", "basic", "unsatisfied"]
    comment: str = NOTE
    device_time: Instant | None = DEVICE_TIME


class CommentIn(StepIn):
    note: str = Field(..., min_length=1, max_length=2000)
    before_photos: list[str] = PHOTO_REFS
    after_photos: list[str] = PHOTO_REFS


class CategoryOut(Schema):
    code: str
    name: str
    parent_code: str | None
    platform_kind: str
    default_handler: str
    severity: str
    severity_label: str
    deadline_unit: str
    deadline_amount: int
    grid_admissible: bool
    before_photos_required: int
    after_photos_required: int
    anonymous_allowed: bool = Field(..., description="可匿名爆料 Residents may tip it anonymously")
    duplicate_radius_m: int = Field(..., description="附近同类事件的范围（米）Radius of nearby and me-too, metres")


# Plain pydantic for the answers that carry events: ninja's ``Schema`` wraps every item
# in a Django-object getter and converts each field in Python (about half the CPU of a
# page of 50 events); pydantic validates the dicts (and objects, ``from_attributes``)
# in its core. The OpenAPI document is the same.
class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    version: int = Field(..., description="the number of rows in its history: the base_version of an offline edit")
    number: str
    source: str
    source_label: str
    category: str
    category_name: str
    description: str
    lat: float | None
    lng: float | None
    address_text: str
    grid_id: int
    grid_name: str
    community_id: int
    street_id: int
    severity: str
    severity_label: str
    state: str
    state_label: str
    level: int
    level_label: str
    holder_platform_id: int | None
    holder_department_id: int | None
    holder_unit_id: int | None = None
    holder_user_id: int | None
    deadline_at: datetime | None
    overdue: bool
    urge_count: int
    rework_count: int
    return_count: int
    extension_count: int
    reopen_count: int
    extension_requested_until: datetime | None
    park_requested: bool
    handled_on_spot: bool
    result_note: str
    photos: dict
    satisfaction: str
    reported_at: datetime
    device_reported_at: datetime | None
    closed_at: datetime | None
    merged_into_id: UUID | None
    reporter_kind: Literal["resident", "staff"] | None = Field(
        ..., description="上报人类型：居民 resident 或工作人员 staff（系统来源为 null）"
    )
    reporter_name: str | None = Field(
        ...,
        description="上报人姓名。居民的姓名与手机号仅向调度员、区指挥中心及（上报人允许联系时）承办人显示，每次显示均记入个人信息访问记录",
    )
    reporter_phone: str | None = Field(..., description="居民上报人的手机号（规则同上）；工作人员为 null")


class EventDetailOut(EventOut):
    allowed_steps: list[str]


class EventPage(BaseModel):
    items: list[EventOut]
    page: int
    page_size: int
    has_more: bool
    total: int = Field(..., description="总数（超过 1000 时为 1000，total_exact 为 false）")
    total_exact: bool


class ActionOut(Schema):
    seq: int
    action: str
    actor_id: int | None
    actor_name: str
    actor_role: str
    device_ref: str
    from_state: str
    to_state: str
    note: str
    data: dict
    server_at: datetime
    device_at: datetime | None
    hash: str
    prev_hash: str
    public: bool = Field(False, description="居民可见的公开步骤（公开记录，backend/tips/public.py）；其余为内部记录")


class EditIn(StepIn):
    fields: dict[str, Any] = Field(..., description="description / address_text / severity → new value")
