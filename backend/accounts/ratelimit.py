"""The one password check of every sign-in (API login and the admin's login form),
with its failure limits, kept in the shared cache (Redis in production, so every
process counts together; the local-memory cache in development and tests).

Failures are counted by account *and* client, so that someone guessing elsewhere
cannot lock the owner out (docs/accounts.md has the whole story):

- a **known device** (one the account has signed in from before, not revoked by an
  admin) has a bucket of its own: ``LOGIN_FAILURES_PER_DEVICE`` for that account
  on that device id. Failures elsewhere never touch it, and it ignores the totals
  below, so an office's phones behind one address keep signing in;
- any **other client** (a new device, or the admin's login form, which has no device
  id) counts in three buckets and is refused when any is full:
  ``LOGIN_FAILURES_PER_CLIENT`` for that account from that address,
  ``LOGIN_FAILURES_PER_ACCOUNT`` for that account from all such clients together
  (bounds guessing from many addresses), ``LOGIN_FAILURES_PER_ADDRESS`` for all
  accounts from that address (bounds one address trying many accounts).

Buckets are keyed by the username as typed (normalised), not by whether the account
exists, so the limits answer the same for accounts that do not exist. Without the
right password every failure answers ``invalid_credentials``; only the right password
learns that an account is disabled.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from backend.accounts.models import Device, User
from backend.core.errors import ApiError


@dataclass(frozen=True)
class Bucket:
    key: str
    limit: int


def _digest(text: str) -> str:
    # Keys stay short and free of whatever characters a username or device id holds.
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _account(username: str) -> str:
    return _digest(username.strip().lower())


def is_known_device(username: str, device_id: str | None) -> bool:
    """Signed in from before (device rows are made only by a successful login) and
    not shut out by an admin."""
    if not device_id:
        return False
    return Device.objects.filter(user__username=username, device_id=device_id, admin_revoked=False).exists()


def buckets(*, username: str, address: str, device_id: str | None, known: bool) -> list[Bucket]:
    limits = settings.LOGIN_LIMITS
    account = _account(username)
    if known:
        return [Bucket(f"login-fail:device:{account}:{_digest(device_id or '')}", limits["PER_DEVICE"])]
    return [
        Bucket(f"login-fail:client:{account}:{_digest(address)}", limits["PER_CLIENT"]),
        Bucket(f"login-fail:account:{account}", limits["PER_ACCOUNT"]),
        Bucket(f"login-fail:address:{_digest(address)}", limits["PER_ADDRESS"]),
    ]


def count(key: str, delta: int, window: int | None = None) -> int:
    """Add ``delta`` to a counter that lives ``window`` seconds from its first count
    (the login window by default; the resident sign-in's limits pass their own)."""
    window = window or settings.LOGIN_LIMITS["WINDOW_SECONDS"]
    # add() starts the window; incr() keeps its expiry (local memory and Redis alike).
    if delta > 0 and cache.add(key, delta, timeout=window):
        return delta
    try:
        return cache.incr(key, delta)
    except ValueError:  # expired meanwhile
        if delta > 0:
            cache.set(key, delta, timeout=window)
        return max(delta, 0)


def _take_attempt(chosen: list[Bucket]) -> None:
    """Count the attempt in every bucket *before* the password is checked, atomically
    (incr), so that attempts in flight at once cannot all slip under a limit. Refused,
    it is given back: being refused costs no bucket anything."""
    counts = [count(bucket.key, 1) for bucket in chosen]
    if any(count > bucket.limit for count, bucket in zip(counts, chosen, strict=True)):
        _give_back(chosen)
        window = settings.LOGIN_LIMITS["WINDOW_SECONDS"]
        raise ApiError("rate_limited", detail={"retry_after_s": window}, headers={"Retry-After": str(window)})


def _give_back(chosen: list[Bucket]) -> None:
    for bucket in chosen:
        count(bucket.key, -1)


def _check_password(username: str, password: str) -> User | None:
    """The user when the password is right (active or not), else None; the same
    hashing work whether or not the account exists."""
    try:
        user = User._default_manager.get_by_natural_key(username)
    except User.DoesNotExist:
        User().set_password(password)  # as long as a real check: no timing tells it apart
        return None
    return user if user.check_password(password) else None


def sign_in(*, username: str, password: str, address: str, device_id: str | None = None) -> User:
    """Every password sign-in goes through here. Returns the active user or raises
    ``rate_limited`` (429, without looking at the password), ``invalid_credentials``
    (401: no such account, or the wrong password, alike) or ``account_disabled``
    (403, only with the right password)."""
    known = is_known_device(username, device_id)
    chosen = buckets(username=username, address=address, device_id=device_id, known=known)
    _take_attempt(chosen)  # a failure stays counted
    user = _check_password(username, password)
    if user is None:
        raise ApiError("invalid_credentials")
    # The right password is no failure: the attempt is given back.
    _give_back(chosen)
    if not user.is_active:
        raise ApiError("account_disabled")
    # The owner is back: their own client's count starts again. The account's and the
    # address's totals keep the failures until they expire, or the owner's logins would
    # reset an attacker's allowance.
    cache.delete(chosen[0].key)
    return user


def client_address(request) -> str:
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]  # the one our proxy added; anything before it the client could forge
    return request.META.get("REMOTE_ADDR", "unknown")
