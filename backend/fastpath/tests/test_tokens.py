"""``fastpath.tokens.access_claims`` answers what ``tokens.decode_access_token`` answers:
the same claims for a good token, the same refusal for every bad one, an expiry that
passes while the token is remembered, and a change of configuration."""

from __future__ import annotations

import time

import jwt
import pytest

from backend.accounts.tokens import LEEWAY_SECONDS, decode_access_token, issue_access_token
from backend.core.errors import ApiError
from backend.fastpath import tokens as memo


def outcome(decode, token):
    try:
        return decode(token)
    except ApiError as error:
        return error.code


def forge(claims: dict, settings, **header) -> str:
    kid = next(iter(settings.JWT["KEYS"]))
    return jwt.encode(claims, settings.JWT["KEYS"][kid], algorithm="HS256", headers={"kid": kid, **header})


def test_every_token_decodes_or_is_refused_as_the_plain_decode_does(settings):
    good, _ = issue_access_token(user_id=7, device_pk=3, generation=2)
    claims = jwt.decode(good, options={"verify_signature": False})
    now = int(time.time())
    header, payload, signature = good.split(".")
    tokens = [
        good,
        forge({**claims, "iat": now - 7200, "exp": now - 3600}, settings),  # expired
        forge({**claims, "exp": now - LEEWAY_SECONDS + 5}, settings),  # expired, within the leeway
        f"{header}.{payload}.{signature[:-4]}AAAA",  # tampered
        forge({**claims, "aud": "someone-else"}, settings),
        forge({k: v for k, v in claims.items() if k != "iat"}, settings),
        jwt.encode(claims, "k" * 40, algorithm="HS256", headers={"kid": "ghost"}),
        forge({**claims, "gen": "x"}, settings),
        "not-a-jwt",
    ]
    for token in tokens:
        expected = outcome(decode_access_token, token)
        assert outcome(memo.access_claims, token) == expected, token
        assert outcome(memo.access_claims, token) == expected, token  # again, from memory where it was kept
    assert outcome(memo.access_claims, good).user_id == 7


def test_a_remembered_token_expires_when_the_plain_decode_would_refuse_it(settings, monkeypatch):
    now = int(time.time())
    claims = {"sub": "5", "dev": 1, "gen": 0, "iat": now, "exp": now + 60}
    claims |= {"iss": settings.JWT["ISSUER"], "aud": settings.JWT["AUDIENCE"]}
    token = forge(claims, settings)
    assert memo.access_claims(token).user_id == 5
    monkeypatch.setattr(memo.time, "time", lambda: now + 60 + LEEWAY_SECONDS - 1)
    assert memo.access_claims(token).user_id == 5  # PyJWT too: exp > now - leeway
    monkeypatch.setattr(memo.time, "time", lambda: now + 60 + LEEWAY_SECONDS)
    with pytest.raises(ApiError) as refused:
        memo.access_claims(token)
    assert refused.value.code == "token_expired"  # PyJWT: exp <= now - leeway


def test_a_remembered_token_is_decoded_again_under_new_keys(settings):
    token, _ = issue_access_token(user_id=9, device_pk=4, generation=0)
    assert memo.access_claims(token).user_id == 9
    settings.JWT = {**settings.JWT, "KEYS": {"new": "n" * 40}}  # its kid retired
    assert outcome(memo.access_claims, token) == outcome(decode_access_token, token) == "token_invalid"
