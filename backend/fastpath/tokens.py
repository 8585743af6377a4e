"""Access tokens decoded once per process (``step_p50_ms``: every request decodes its
bearer token, and PyJWT parses the header twice and checks every claim each time).

A token is a fixed string: once its signature and claims have been checked, the same
string always decodes to the same claims. What can change is time (the expiry, which
is checked here on every use, with PyJWT's leeway) and the configuration (keys,
issuer, audience: an entry made under another ``settings.JWT`` is decoded again).
Revocation and token generations are not part of the token: they are checked against
the device row on every request as before (``backend.accounts.auth``). Held equal to
``tokens.decode_access_token`` by backend/fastpath/tests/test_tokens.py."""

from __future__ import annotations

import time

from django.conf import settings

from backend.accounts.tokens import LEEWAY_SECONDS, AccessClaims, decode_access_token
from backend.core.errors import ApiError

LIMIT = 4096  # tokens kept; then the memo starts again (an access token lives minutes)
_decoded: dict[str, tuple[object, AccessClaims]] = {}


def access_claims(token: str) -> AccessClaims:
    """``decode_access_token(token)``, from memory when this process decoded it before
    under the same configuration and it has not expired since."""
    configuration = settings.JWT
    found = _decoded.get(token)
    if found is not None and found[0] is configuration:
        claims = found[1]
        if claims.expires_at > time.time() - LEEWAY_SECONDS:  # PyJWT: expired when exp <= now - leeway
            return claims
        _decoded.pop(token, None)
        raise ApiError("token_expired")
    claims = decode_access_token(token)
    if len(_decoded) >= LIMIT:
        _decoded.clear()
    _decoded[token] = (configuration, claims)
    return claims
