"""Login failure limits per account and per client address, in the shared cache
(Redis in production, so every worker process counts together)."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

from backend.core.errors import ApiError


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    limits = settings.LOGIN_LIMITS
    return [
        (f"login-fail:account:{username.strip().lower()}", limits["PER_ACCOUNT"]),
        (f"login-fail:address:{address}", limits["PER_ADDRESS"]),
    ]


def guard_login(*, username: str, address: str) -> None:
    counts = cache.get_many([key for key, _ in _keys(username, address)])
    for key, limit in _keys(username, address):
        if counts.get(key, 0) >= limit:
            window = settings.LOGIN_LIMITS["WINDOW_SECONDS"]
            raise ApiError("rate_limited", detail={"retry_after_s": window}, headers={"Retry-After": str(window)})


def record_login_failure(*, username: str, address: str) -> None:
    window = settings.LOGIN_LIMITS["WINDOW_SECONDS"]
    for key, _ in _keys(username, address):
        # add() starts the window; incr() keeps its expiry.
        if not cache.add(key, 1, timeout=window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=window)


def clear_account_failures(*, username: str) -> None:
    cache.delete(f"login-fail:account:{username.strip().lower()}")


def client_address(request) -> str:
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]  # the one our proxy added; anything before it the client could forge
    return request.META.get("REMOTE_ADDR", "unknown")
