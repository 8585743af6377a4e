"""Bearer-token authentication for django-ninja routes."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from backend.accounts.models import Device, User
from backend.core.errors import ApiError
from backend.fastpath.statements import Select
from backend.fastpath.tokens import access_claims

# Every authenticated request asks this: a statement written once, not compiled each time.
DEVICE_WITH_USER = Select(Device, User, joins=["{1}.id = {0}.user_id"], where="{0}.id = %s AND {0}.user_id = %s")


def user_for_access_token(token: str) -> tuple[User, Device]:
    """Decode (once per process: ``fastpath.tokens``), then check the device is live and
    the token's generation current. One query: the device with its user."""
    claims = access_claims(token)
    found = DEVICE_WITH_USER.one([claims.device_pk, claims.user_id])
    device = found[0] if found else None
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
