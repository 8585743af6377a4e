from typing import Any

from ninja import Field, Schema


class ErrorOut(Schema):
    """The one error shape of the API."""

    code: str
    message: str
    detail: Any = Field(..., description="more about the error (the fields at fault, limits…); null when there is none")


class HealthOut(Schema):
    status: str
    checks: dict[str, str]
    warnings: list[str] = Field(
        default_factory=list, description="需要尽快处理但不影响服务的事项，例如下一年的工作日历尚未录入"
    )
