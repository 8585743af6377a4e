"""巡查与走访: a grid worker's patrol sessions (GPS track recorded offline) and visits
to the key persons and places (重点人员、重点场所) of their grid."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from backend.territory.models import Grid


class SubjectKind(models.TextChoices):
    PERSON = "person", "重点人员"
    PLACE = "place", "重点场所"


class Attention(models.TextChoices):
    NORMAL = "normal", "一般关注"
    CLOSE = "close", "重点关注"


class Finding(models.TextChoices):
    NORMAL = "normal", "情况正常"
    CONCERN = "concern", "发现异常"
    ABSENT = "absent", "未见到人/场所关闭"


class KeySubject(models.Model):
    """A key person or place of a grid, visited on a schedule by its grid workers."""

    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="key_subjects", verbose_name="网格")
    kind = models.CharField("类别", max_length=8, choices=SubjectKind.choices)
    name = models.CharField("名称", max_length=64)
    address_text = models.CharField("地址", max_length=200, blank=True)
    attention = models.CharField("关注等级", max_length=8, choices=Attention.choices, default=Attention.NORMAL)
    visit_every_days = models.PositiveSmallIntegerField("走访周期（天）", default=30)
    note = models.TextField("说明", blank=True)
    active = models.BooleanField("在册", default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "重点人员与场所"
        indexes = [models.Index(fields=["grid", "kind"], name="key_subject_grid")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"


class PatrolSession(models.Model):
    """One patrol (巡查): made on the phone with its own UUID, pushed in one or more
    parts as the track grows. Times are the device's claims; ``clock_offset_ms`` is
    the device's measured offset when the last part arrived."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, help_text="the phone's UUID")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="patrols", verbose_name="网格员"
    )
    device = models.ForeignKey("accounts.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    grid = models.ForeignKey(
        Grid, null=True, blank=True, on_delete=models.PROTECT, related_name="patrols", verbose_name="网格"
    )
    started_at = models.DateTimeField("开始（设备时间）")
    ended_at = models.DateTimeField("结束（设备时间）", null=True, blank=True)
    points = models.JSONField(
        "轨迹点", default=list, help_text="[[lat, lng, device time ISO], …] in WGS-84, time-ordered"
    )
    point_count = models.PositiveIntegerField("轨迹点数", default=0)
    distance_m = models.FloatField("里程（米）", default=0)
    note = models.TextField(
        "说明", blank=True, help_text="the parts' notes in part order, one a line (from part_notes)"
    )
    part_notes = models.JSONField(
        "各段说明",
        default=list,
        blank=True,
        help_text='[{"part": index or null, "at": the part\'s device time, "note": …}, …] in part order',
    )
    clock_offset_ms = models.BigIntegerField("设备时钟偏差（毫秒）", null=True, blank=True)
    received_at = models.DateTimeField("服务器接收时间")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "巡查记录"
        indexes = [models.Index(fields=["user", "started_at"], name="patrol_user")]


class Visit(models.Model):
    """走访 of a key person or place, made offline with the phone's UUID."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, help_text="the phone's UUID")
    subject = models.ForeignKey(KeySubject, on_delete=models.PROTECT, related_name="visits", verbose_name="走访对象")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visits", verbose_name="走访人"
    )
    device = models.ForeignKey("accounts.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    patrol = models.ForeignKey(PatrolSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="visits")
    visited_at = models.DateTimeField("走访时间（设备时间）")
    finding = models.CharField("走访情况", max_length=8, choices=Finding.choices, default=Finding.NORMAL)
    note = models.TextField("走访记录", blank=True)
    photos = models.JSONField("照片引用", default=list, blank=True)
    lat = models.FloatField("纬度 (WGS-84)", null=True, blank=True)
    lng = models.FloatField("经度 (WGS-84)", null=True, blank=True)
    received_at = models.DateTimeField("服务器接收时间")

    class Meta:
        verbose_name = verbose_name_plural = "走访记录"
        indexes = [
            models.Index(fields=["subject", "visited_at"], name="visit_subject"),
            models.Index(fields=["user", "visited_at"], name="visit_user"),
        ]
