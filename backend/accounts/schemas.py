from datetime import datetime

from ninja import Field, Schema


class LoginIn(Schema):
    username: str = Field(..., min_length=1, max_length=150)
    password: str = Field(..., min_length=1, max_length=256)
    device_id: str = Field(..., min_length=4, max_length=128, description="客户端生成的设备唯一标识")
    device_description: str = Field("", max_length=200)
    platform: str = Field("", max_length=32, description="android / ios / web")
    app_version: str = Field("", max_length=32)


class RefreshIn(Schema):
    refresh_token: str = Field(..., min_length=10, max_length=200)
    device_id: str = Field(..., min_length=4, max_length=128)


class DeviceOut(Schema):
    id: int
    device_id: str
    platform: str
    description: str
    app_version: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    admin_revoked: bool = Field(
        ..., description="管理员吊销：恢复前不能用密码登录 revoked by an admin: no login until restored"
    )
    username: str = Field(..., alias="user.username")


class TokenOut(Schema):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime
    device: DeviceOut


class UnitOut(Schema):
    kind: str
    id: int
    code: str
    name: str


class RoleOut(Schema):
    role: str
    role_label: str
    unit: UnitOut | None


class ScopeOut(Schema):
    district_wide: bool
    grid_ids: list[int]
    community_ids: list[int]
    street_ids: list[int]
    platform_ids: list[int]
    department_ids: list[int]
    unit_ids: list[int] = []


class MeOut(Schema):
    id: int
    username: str
    display_name: str
    roles: list[RoleOut]
    scope: ScopeOut
    device: DeviceOut


class OkOut(Schema):
    ok: bool = True
