"""Users, their roles bound to territory, their devices and refresh tokens."""

from __future__ import annotations

import secrets
import uuid

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models

from backend.territory.models import Community, Department, District, Grid, Platform, StationedUnit, Street


def first_scope_version() -> int:
    """A new account's scope version is random, like every bump (accounts.scope): an id
    used again (SQLite reuses the highest id once its row is gone, and a rolled-back
    account's id comes back) must not meet a scope cached for the account that had it."""
    return secrets.randbelow(2**31 - 2) + 1


class User(AbstractUser):
    display_name = models.CharField("姓名", max_length=64, blank=True)
    phone = models.CharField("手机号", max_length=20, blank=True)
    # Bumped whenever the user's roles or the territory they name change, so a
    # process-local cache keyed by (id, scope_version) is never stale.
    scope_version = models.PositiveIntegerField(default=first_scope_version, editable=False)

    class Meta:
        verbose_name = verbose_name_plural = "用户"

    def __str__(self) -> str:
        return self.display_name or self.username


class Role(models.TextChoices):
    GRID_WORKER = "grid_worker", "网格员"
    RESIDENT = "resident", "居民"
    SECRETARY = "secretary", "社区书记"
    DISPATCHER = "dispatcher", "街道指挥室调度员"
    HANDLER = "handler", "平台/部门处置人员"
    COMMANDER = "commander", "区指挥中心"
    ADMIN = "admin", "管理员"


# Which territory field a role binds to. A handler binds to a platform or a department.
ROLE_UNIT_FIELDS: dict[str, tuple[str, ...]] = {
    Role.GRID_WORKER: ("grid",),
    Role.RESIDENT: (),
    Role.SECRETARY: ("community",),
    Role.DISPATCHER: ("street",),
    Role.HANDLER: ("platform", "department", "stationed_unit"),
    Role.COMMANDER: ("district",),
    Role.ADMIN: (),
}
UNIT_FIELDS = ("grid", "community", "street", "district", "platform", "department", "stationed_unit")


class GridPost(models.TextChoices):
    """A grid worker's post in the grid team (网格团队)."""

    LEADER = "leader", "网格长"
    FULL_TIME = "full_time", "专职网格员"
    PART_TIME = "part_time", "兼职网格员"


class RoleAssignment(models.Model):
    """One role of a user, bound to exactly the territory unit its role names."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments", verbose_name="用户")
    role = models.CharField("角色", max_length=16, choices=Role.choices)
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, null=True, blank=True, verbose_name="网格")
    community = models.ForeignKey(Community, on_delete=models.PROTECT, null=True, blank=True, verbose_name="社区")
    street = models.ForeignKey(Street, on_delete=models.PROTECT, null=True, blank=True, verbose_name="街道")
    district = models.ForeignKey(District, on_delete=models.PROTECT, null=True, blank=True, verbose_name="区")
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, null=True, blank=True, verbose_name="平台")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, null=True, blank=True, verbose_name="部门")
    stationed_unit = models.ForeignKey(
        StationedUnit, on_delete=models.PROTECT, null=True, blank=True, verbose_name="下沉单位"
    )
    # Only for grid workers: 网格长, 专职 or 兼职 (blank: not said).
    grid_post = models.CharField("网格岗位", max_length=16, choices=GridPost.choices, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "角色"

    def __str__(self) -> str:
        unit = self.unit()
        return f"{self.get_role_display()} · {unit}" if unit else self.get_role_display()

    def unit(self):
        for field in UNIT_FIELDS:
            value = getattr(self, field)
            if value is not None:
                return value
        return None

    def clean(self) -> None:
        allowed = ROLE_UNIT_FIELDS[self.role]
        present = [field for field in UNIT_FIELDS if getattr(self, f"{field}_id") is not None]
        if allowed and len(present) != 1 or any(field not in allowed for field in present):
            expected = " 或 ".join(allowed) if allowed else "无"
            raise ValidationError(f"角色 {self.get_role_display()} 必须绑定: {expected}")
        if self.grid_post and self.role != Role.GRID_WORKER:
            raise ValidationError("网格岗位只适用于网格员 (grid_post is for grid workers only)")


class Device(models.Model):
    """A phone or browser a user logged in from. Revoking it (logout, or the user or an
    admin revoking it) bumps ``token_generation``, which kills its access tokens.

    A revoke by an admin (anyone but the device's owner) also sets ``admin_revoked``:
    password logins on that device id are refused until an admin restores it, so a
    lost phone stays out even if its finder knows the password. docs/accounts.md."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices", verbose_name="用户")
    device_id = models.CharField("设备标识", max_length=128)
    platform = models.CharField("平台", max_length=32, blank=True)
    description = models.CharField("设备描述", max_length=200, blank=True)
    app_version = models.CharField("应用版本", max_length=32, blank=True)
    token_generation = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField("首次登录", auto_now_add=True)
    last_seen_at = models.DateTimeField("最近活动", null=True, blank=True)
    revoked_at = models.DateTimeField("吊销时间", null=True, blank=True)
    admin_revoked = models.BooleanField("管理员吊销（需恢复后才能登录）", default=False)
    revoked_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name="吊销人"
    )

    class Meta:
        verbose_name = verbose_name_plural = "设备"
        constraints = [models.UniqueConstraint(fields=["user", "device_id"], name="unique_device_per_user")]

    def __str__(self) -> str:
        return f"{self.user} · {self.description or self.device_id}"


class RefreshToken(models.Model):
    """Opaque refresh token, stored only as its SHA-256. Tokens descending from one
    login share a ``family``; presenting a rotated one again revokes the family."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="refresh_tokens")
    family = models.UUIDField(default=uuid.uuid4, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "刷新令牌"
