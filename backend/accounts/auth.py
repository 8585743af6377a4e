"""Bearer-token authentication for django-ninja routes."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from backend.accounts.models import Device, User
from backend.accounts.tokens import decode_access_token
from backend.core.errors import ApiError


def user_for_access_token(token: str) -> tuple[User, Device]:
    """Decode, then check the device is live and the token's generation current.
    One query: the device with its user."""
    claims = decode_access_token(token)
    rows = Device.objects.select_related("user").filter(pk=claims.device_pk, user_id=claims.user_id)[:1]
    device = rows[0] if rows else None
    if device is None or device.revoked_at is not None or device.token_generation != claims.generation:
        raise ApiError("token_revoked")
    if not device.user.is_active:
        raise ApiError("account_disabled")
    return device.user, device


class JWTAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User:
        user, device = user_for_access_token(token)
        request.device = device
        request.user = user
        return user
