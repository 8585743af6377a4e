"""Accounts, roles and stationed units as data: the writes behind the admin API.

Every change is recorded with ``audit_change`` (who, when, what) and bumps what it
must: a role added or removed bumps the user's ``scope_version`` (the
``RoleAssignment`` signal), so the next request computes the new scope and no cached
permission survives; deactivation also revokes every device at once (refresh tokens,
access tokens by their generation, open websockets, push registrations).
docs/administration.md, "Units and people".
"""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from backend.accounts.models import ROLE_UNIT_FIELDS, GridPost, Role, RoleAssignment, User
from backend.accounts.scope import invalidate_scope_of
from backend.accounts.services import device_revoke
from backend.core.audit import audit_change
from backend.core.errors import ApiError, register
from backend.territory.models import Community, Department, District, Grid, Platform, StationedUnit, Street

register("username_taken", 409, "用户名已存在", "This username is taken")
register("role_exists", 409, "该用户已有此角色", "The user already has this role on this unit")

UNIT_MODELS = {
    "grid": Grid,
    "community": Community,
    "street": Street,
    "district": District,
    "platform": Platform,
    "department": Department,
    "stationed_unit": StationedUnit,
}


def _password_ok(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ApiError("validation_error", detail={"password": error.messages}) from None


def account_create(*, by: User, username: str, display_name: str, phone: str, password: str) -> User:
    if User.objects.filter(username__iexact=username).exists():
        raise ApiError("username_taken", detail={"username": username})
    user = User(username=username, display_name=display_name, phone=phone)
    _password_ok(password, user)
    user.set_password(password)
    with transaction.atomic():
        user.save()
        audit_change(by, user, "add", "新建账号", username=username)
    return user


def account_update(*, by: User, user: User, changes: dict) -> User:
    """``changes``: any of display_name, phone, password (set only when given)."""
    fields = []
    for name in ("display_name", "phone"):
        if name in changes and changes[name] is not None and changes[name] != getattr(user, name):
            setattr(user, name, changes[name])
            fields.append(name)
    if changes.get("password"):
        _password_ok(changes["password"], user)
        user.set_password(changes["password"])
        fields.append("password")
    if fields:
        with transaction.atomic():
            user.save(update_fields=fields)
            audit_change(by, user, "change", "修改账号", fields=fields)
    return user


def role_assign(*, by: User, user: User, role: str, unit_kind: str | None, unit_id: int | None, grid_post: str = ""):
    allowed = ROLE_UNIT_FIELDS[role]
    if allowed and unit_kind not in allowed:
        raise ApiError("validation_error", detail={"unit_kind": f"one of {', '.join(allowed)}"})
    if not allowed and unit_kind:
        raise ApiError("validation_error", detail={"unit_kind": "this role binds to no unit"})
    if grid_post and role != Role.GRID_WORKER:
        raise ApiError("validation_error", detail={"grid_post": "grid workers only"})
    if grid_post and grid_post not in GridPost.values:
        raise ApiError("validation_error", detail={"grid_post": f"one of {', '.join(GridPost.values)}"})
    unit = {}
    if unit_kind:
        found = UNIT_MODELS[unit_kind].objects.filter(pk=unit_id).first()
        if found is None:
            raise ApiError("validation_error", detail={"unit_id": f"unknown {unit_kind}"})
        if unit_kind == "grid" and found.retired_at is not None:
            raise ApiError("grid_retired", detail={"grid": found.code})
        if unit_kind == "stationed_unit" and not found.active:
            raise ApiError("validation_error", detail={"unit_id": "this stationed unit is not active"})
        unit = {unit_kind: found}
    if RoleAssignment.objects.filter(user=user, role=role, **unit).exists():
        raise ApiError("role_exists")
    assignment = RoleAssignment(user=user, role=role, grid_post=grid_post, **unit)
    with transaction.atomic():
        assignment.save()  # the signal bumps the user's scope_version
        audit_change(by, user, "change", f"授予角色 {assignment}", role=role, unit=unit_kind, unit_id=unit_id)
    return assignment


def role_remove(*, by: User, assignment: RoleAssignment) -> None:
    user = assignment.user
    with transaction.atomic():
        label = str(assignment)
        assignment.delete()  # the signal bumps the user's scope_version
        audit_change(by, user, "change", f"撤销角色 {label}", role=assignment.role)


def account_deactivate(*, by: User, user: User, reason: str) -> User:
    """停用: no login, and every device revoked now (its tokens die with it)."""
    from push.models import PushToken

    if user.pk == by.pk:
        raise ApiError("validation_error", detail={"user": "an admin cannot deactivate their own account"})
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        for device in user.devices.filter(revoked_at__isnull=True):
            device_revoke(device=device, by=by)
        PushToken.objects.filter(device__user=user).delete()
        invalidate_scope_of(user.pk)
        audit_change(by, user, "change", "停用账号", reason=reason)
    return user


def account_reactivate(*, by: User, user: User) -> User:
    """The account may log in again: from a new device at once; the devices deactivation
    revoked are admin-revoked and answer ``device_revoked`` until an admin restores each."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=True)
        user.is_active = True
        invalidate_scope_of(user.pk)
        audit_change(by, user, "change", "恢复账号")
    return user


def unit_save(*, by: User, unit: StationedUnit | None, values: dict) -> StationedUnit:
    """Create a stationed unit (``unit`` None) or change one; a unit is deactivated,
    never deleted (its events keep it)."""
    created = unit is None
    unit = unit or StationedUnit()
    for name, value in values.items():
        if value is not None:
            setattr(unit, f"{name}_id" if name in ("department", "street", "platform") else name, value)
    try:
        unit.full_clean()
    except ValidationError as error:
        raise ApiError("validation_error", detail=error.message_dict) from None
    with transaction.atomic():
        unit.save()  # the signal bumps every cached scope
        audit_change(by, unit, "add" if created else "change", "新建下沉单位" if created else "修改下沉单位", **values)
    return unit
