"""Reads for accounts, with the fetch-and-authorize helpers."""

from __future__ import annotations

from django.db.models import QuerySet

from backend.accounts.models import Device, Role, User
from backend.accounts.scope import scope_of
from backend.core.errors import ApiError


def is_admin(user: User) -> bool:
    return user.is_superuser or scope_of(user).has(Role.ADMIN)


def devices_visible_to(user: User) -> QuerySet[Device]:
    devices = Device.objects.select_related("user").order_by("-last_seen_at", "pk")
    if is_admin(user):
        return devices
    return devices.filter(user=user)


def access_device(user: User, device_pk: int) -> Device:
    device = devices_visible_to(user).filter(pk=device_pk).first()
    if device is None:
        raise ApiError("not_found")
    return device


def admin_device(user: User, device_pk: int) -> Device:
    """For what only an admin may do to a device (restore it): the owner sees their
    device but may not lift an admin's revoke."""
    device = access_device(user, device_pk)
    if not is_admin(user):
        raise ApiError("forbidden")
    return device
