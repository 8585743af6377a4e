from datetime import datetime

from ninja import Field, Schema

DEVICE_ID = Field(..., min_length=4, max_length=128, description="客户端生成的设备唯一标识")


class CodeRequestIn(Schema):
    phone: str = Field(..., min_length=1, max_length=20, description="中国大陆手机号，可带 +86")
    device_id: str = DEVICE_ID


class CodeRequestOut(Schema):
    sent: bool = True
    expires_in: int = Field(..., description="验证码有效秒数")
    resend_after: int = Field(..., description="多少秒后可重新获取")


class CodeVerifyIn(Schema):
    phone: str = Field(..., min_length=1, max_length=20)
    code: str = Field(..., pattern=r"^\d{6}$", description="短信中的 6 位验证码")
    device_id: str = DEVICE_ID
    device_description: str = Field("", max_length=200)
    platform: str = Field("", max_length=32, description="android / ios / web / miniprogram")
    app_version: str = Field("", max_length=32)
    privacy_notice_version: str | None = Field(
        None,
        max_length=32,
        description="同意的隐私政策版本；新号码首次登录必填且须为当前版本（GET /residents/privacy-notice）",
    )


class PrivacyNoticeOut(Schema):
    version: str
    language: str
    title: str
    text: str


class PersonalDataReadOut(Schema):
    at: datetime
    reader_name: str = Field(..., description="访问者姓名")
    reader_roles: list[str] = Field(..., description="访问者角色")
    endpoint: str = Field(..., description="访问途径")
    fields: str


class AdminPersonalDataReadOut(Schema):
    id: int
    at: datetime
    reader_id: int
    reader_username: str
    reader_name: str
    subject_kind: str
    subject_id: str
    endpoint: str
    fields: str


class AdminPersonalDataReadPage(Schema):
    items: list[AdminPersonalDataReadOut]
    page: int
    page_size: int
    has_more: bool


class DeleteIn(Schema):
    confirm: bool = Field(..., description="必须为 true：注销不可撤销")
