from typing import Any

from ninja import Schema


class ErrorOut(Schema):
    """The one error shape of the API."""

    code: str
    message: str
    detail: Any = None


class HealthOut(Schema):
    status: str
    checks: dict[str, str]
