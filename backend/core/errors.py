"""One error type for the whole API (Zulip ``JsonableError`` style).

Every 4xx/5xx body has the same shape::

    {"code": "event_not_found", "message": "事件不存在", "detail": {...}}

``code`` is stable and machine-readable; ``message`` is in the request's language
(Chinese unless the client asks for English with ``Accept-Language: en``).
"""

from __future__ import annotations

from typing import Any

from django.utils import translation

# code: (HTTP status, 中文, English)
CATALOGUE: dict[str, tuple[int, str, str]] = {
    "bad_request": (400, "请求无效", "Bad request"),
    "validation_error": (422, "请求参数有误", "The request has invalid fields"),
    "not_authenticated": (401, "请先登录", "Authentication required"),
    "invalid_credentials": (401, "用户名或密码错误", "Wrong username or password"),
    "account_disabled": (403, "账号已停用", "This account is disabled"),
    "token_invalid": (401, "令牌无效", "The token is invalid"),
    "token_expired": (401, "令牌已过期", "The token has expired"),
    "token_revoked": (401, "令牌已被吊销", "The token has been revoked"),
    "refresh_reused": (
        401,
        "刷新令牌被重复使用，该设备的登录已全部注销",
        "A rotated refresh token was reused; the whole token family is revoked",
    ),
    "rate_limited": (429, "尝试次数过多，请稍后再试", "Too many attempts; try again later"),
    "forbidden": (403, "无权执行此操作", "You may not do this"),
    "not_found": (404, "未找到", "Not found"),
    "method_not_allowed": (405, "不支持该请求方法", "Method not allowed"),
    "conflict": (409, "状态冲突", "Conflict with the current state"),
    "illegal_transition": (409, "当前状态不允许此操作", "This step is not allowed in the current state"),
    "payload_too_large": (413, "请求内容过大", "The request is too large"),
    "dependency_down": (503, "依赖服务不可用", "A dependency is unavailable"),
    "internal_error": (500, "服务器内部错误", "Internal server error"),
}


class ApiError(Exception):
    """Raise anywhere below a route; the API's exception handler renders it."""

    def __init__(
        self,
        code: str,
        *,
        status: int | None = None,
        message: str | None = None,
        message_en: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ):
        if code not in CATALOGUE and status is None:
            raise ValueError(f"unknown error code {code!r}: add it to CATALOGUE or pass status")
        default_status, default_zh, default_en = CATALOGUE.get(code, (status, code, code))
        self.code = code
        self.status = status or default_status
        self.message_zh = message or default_zh
        self.message_en = message_en or (default_en if message is None else message)
        self.detail = detail
        self.headers = headers or {}
        super().__init__(f"{code}: {self.message_en}")

    def message(self) -> str:
        return self.message_en if prefers_english() else self.message_zh

    def body(self) -> dict[str, Any]:
        # ``detail`` is always there (null when there is nothing to add): clients read
        # one shape without asking whether a key exists.
        return {"code": self.code, "message": self.message(), "detail": self.detail}


def prefers_english() -> bool:
    return (translation.get_language() or "zh-hans").lower().startswith("en")


def register(code: str, status: int, message_zh: str, message_en: str) -> None:
    """Apps add their own codes at import time; a clash is a programming error."""
    existing = CATALOGUE.get(code)
    if existing is not None and existing != (status, message_zh, message_en):
        raise ValueError(f"error code {code!r} registered twice with different meanings")
    CATALOGUE[code] = (status, message_zh, message_en)
