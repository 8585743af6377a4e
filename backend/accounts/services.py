"""Writes for accounts: login, refresh rotation, logout, device revocation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backend.accounts.models import Device, RefreshToken, User
from backend.accounts.ratelimit import sign_in
from backend.accounts.realtime import close_device_sockets_on_commit
from backend.accounts.tokens import (
    hash_refresh_secret,
    issue_access_token,
    new_refresh_secret,
    refresh_expiry,
)
from backend.core.errors import ApiError, register

register(
    "device_revoked",
    403,
    "该设备已被管理员吊销，请联系管理员恢复",
    "An admin revoked this device; ask an admin to restore it",
)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: object
    device: Device


def _issue_pair(*, user: User, device: Device, family: uuid.UUID) -> TokenPair:
    secret = new_refresh_secret()
    row = RefreshToken.objects.create(
        user=user, device=device, family=family, token_hash=hash_refresh_secret(secret), expires_at=refresh_expiry()
    )
    access, lifetime = issue_access_token(user_id=user.pk, device_pk=device.pk, generation=device.token_generation)
    return TokenPair(access, lifetime, secret, row.expires_at, device)


def auth_login(
    *,
    username: str,
    password: str,
    device_id: str,
    device_description: str = "",
    platform: str = "",
    app_version: str = "",
    address: str,
) -> TokenPair:
    """Check the password (ratelimit.sign_in: limits by account and client), register
    or update the device, and start a new refresh-token family bound to it. A device
    an admin revoked stays out (``device_revoked``, said only after the right password)
    until an admin restores it; a device its owner logged out signs in again."""
    user = sign_in(username=username, password=password, address=address, device_id=device_id)
    return device_sign_in(
        user=user,
        device_id=device_id,
        device_description=device_description,
        platform=platform,
        app_version=app_version,
    )


def device_sign_in(
    *, user: User, device_id: str, device_description: str = "", platform: str = "", app_version: str = ""
) -> TokenPair:
    """After a successful check (a password, a resident's SMS code): register or update
    the device and start a new refresh-token family bound to it."""
    if Device.objects.filter(user=user, device_id=device_id, admin_revoked=True).exists():
        raise ApiError("device_revoked")
    with transaction.atomic():
        device, _ = Device.objects.update_or_create(
            user=user,
            device_id=device_id,
            defaults={
                "description": device_description,
                "platform": platform,
                "app_version": app_version,
                "last_seen_at": timezone.now(),
                "revoked_at": None,
                "revoked_by": None,
            },
        )
        return _issue_pair(user=user, device=device, family=uuid.uuid4())


def auth_refresh(*, refresh_token: str, device_id: str) -> TokenPair:
    """Rotate: the presented token is spent and a new one of the same family issued.
    A spent token presented again means it was copied: the family is revoked."""
    now = timezone.now()
    reused = False
    with transaction.atomic():
        row = (
            RefreshToken.objects.select_for_update()
            .select_related("device", "user")
            .filter(token_hash=hash_refresh_secret(refresh_token))
            .first()
        )
        if row is None or row.device.device_id != device_id:
            raise ApiError("token_invalid")
        if row.revoked_at is not None or row.device.revoked_at is not None:
            raise ApiError("token_revoked")
        if row.rotated_at is not None:
            # Copied: the device is revoked as by its owner's logout (every refresh token of
            # it dies, not only this family's: a second sign-in on the device had its own).
            device_revoke(device=row.device, by=row.user)
            reused = True
        elif row.expires_at <= now:
            raise ApiError("token_expired")
        elif not row.user.is_active:
            raise ApiError("account_disabled")
        else:
            row.rotated_at = now
            row.save(update_fields=["rotated_at"])
            device = row.device
            device.last_seen_at = now
            device.save(update_fields=["last_seen_at"])
            return _issue_pair(user=row.user, device=device, family=row.family)
    # Raised after the atomic block so the revocation commits.
    assert reused
    raise ApiError("refresh_reused")


def device_revoke(*, device: Device, by: User) -> Device:
    """Logout and revocation: refresh tokens die, access tokens die with the generation,
    open websockets close (4004) once this commits. Revoked by someone other than its
    owner (an admin), the device stays shut out of password logins until restored."""
    now = timezone.now()
    with transaction.atomic():
        RefreshToken.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=now)
        changes = {"token_generation": F("token_generation") + 1, "revoked_at": now, "revoked_by": by}
        if by.pk != device.user_id:
            changes["admin_revoked"] = True
        Device.objects.filter(pk=device.pk).update(**changes)
        close_device_sockets_on_commit(device.pk)
    device.refresh_from_db()
    return device


def device_restore(*, device: Device) -> Device:
    """An admin lifts a sticky revoke: the device may sign in again with the password
    (it stays signed out until then)."""
    Device.objects.filter(pk=device.pk).update(admin_revoked=False)
    device.refresh_from_db()
    return device
