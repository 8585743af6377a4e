"""Access tokens (JWT, PyJWT) and opaque refresh tokens.

The algorithm is pinned on decode (a token claiming ``none`` or RS256 is refused),
the key is chosen by ``kid`` among the configured keys (the first one signs, all
verify, so keys can rotate), and ``exp``, ``iat``, ``iss``, ``aud`` are required.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt
from django.conf import settings
from django.utils import timezone

from backend.core.errors import ApiError

LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    device_pk: int
    generation: int
    expires_at: float = 0.0


def _keys() -> dict[str, str]:
    return settings.JWT["KEYS"]


def issue_access_token(*, user_id: int, device_pk: int, generation: int) -> tuple[str, int]:
    """Returns the token and its lifetime in seconds."""
    kid, key = next(iter(_keys().items()))
    now = timezone.now()
    lifetime = settings.JWT["ACCESS_MINUTES"] * 60
    claims = {
        "sub": str(user_id),
        "dev": device_pk,
        "gen": generation,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime,
        "iss": settings.JWT["ISSUER"],
        "aud": settings.JWT["AUDIENCE"],
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=settings.JWT["ALGORITHM"], headers={"kid": kid}), lifetime


def decode_access_token(token: str) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise ApiError("token_invalid") from None
    key = _keys().get(header.get("kid", ""))
    if key is None or header.get("alg") != settings.JWT["ALGORITHM"]:
        raise ApiError("token_invalid")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[settings.JWT["ALGORITHM"]],
            audience=settings.JWT["AUDIENCE"],
            issuer=settings.JWT["ISSUER"],
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise ApiError("token_expired") from None
    except jwt.PyJWTError:
        raise ApiError("token_invalid") from None
    try:
        return AccessClaims(
            user_id=int(claims["sub"]),
            device_pk=int(claims["dev"]),
            generation=int(claims["gen"]),
            expires_at=float(claims["exp"]),
        )
    except (KeyError, TypeError, ValueError):
        raise ApiError("token_invalid") from None


def new_refresh_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def refresh_expiry():
    return timezone.now() + timedelta(days=settings.JWT["REFRESH_DAYS"])
