"""Intake from other systems (not people): the camera analytics platform's video
alerts (视频智能分析告警) and the power company's meter readings (电力数据).

Each source system has its own credential (``SourceSystem``: a public key id and a
secret shown once in the admin, kept only as its SHA-256) and signs every request
(``backend/intake/signing.py``, ``docs/intake.md``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.addresses.models import UnitAddress
from backend.events.models import Category, Event
from backend.patrols.models import KeySubject
from backend.territory.models import Grid


class SourceKind(models.TextChoices):
    VIDEO = "video", "视频智能分析平台"
    POWER = "power", "电力公司"


class SourceSystem(models.Model):
    name = models.CharField("名称", max_length=64)
    kind = models.CharField("类型", max_length=8, choices=SourceKind.choices)
    key_id = models.CharField("密钥标识", max_length=40, unique=True, help_text="sent as X-Intake-Key")
    secret_hash = models.CharField(
        "密钥摘要", max_length=64, editable=False, help_text="SHA-256 of the secret (hex): the HMAC key"
    )
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="上报账号",
        help_text="the account events raised from this source are reported in (a 群租 suspicion)",
    )
    requests_per_minute = models.PositiveIntegerField("每分钟请求上限", default=600)
    active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "接入系统"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"


class IntakeMessage(models.Model):
    """A signed request's message id, kept for the replay window: the same id again is refused."""

    source = models.ForeignKey(SourceSystem, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=64)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "message_id"], name="intake_message_once")]


class AlertType(models.Model):
    """A kind of video alert, the category its events take, and how it is filtered."""

    code = models.CharField("类型编码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=64)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+", verbose_name="事件类别")
    threshold = models.FloatField("置信度阈值", default=0.6, help_text="alerts below it are dropped and counted")
    suppress_minutes = models.PositiveIntegerField(
        "抑制窗口（分钟）", default=30, help_text="repeats of one camera and type within it join the open alert"
    )

    class Meta:
        verbose_name = verbose_name_plural = "告警类型"

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Camera(models.Model):
    source = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="cameras", verbose_name="接入系统")
    code = models.CharField("通道编码", max_length=64)
    name = models.CharField("名称", max_length=100)
    lat = models.FloatField("纬度 (WGS-84)")
    lng = models.FloatField("经度 (WGS-84)")
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="+", verbose_name="网格")
    active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "视频通道"
        constraints = [models.UniqueConstraint(fields=["source", "code"], name="camera_code_per_source")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class AlertState(models.TextChoices):
    OPEN = "open", "待审核"
    CONFIRMED = "confirmed", "已确认立案"
    DISMISSED = "dismissed", "误报"


class VideoAlert(models.Model):
    source = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="+")
    camera = models.ForeignKey(Camera, on_delete=models.PROTECT, related_name="alerts", verbose_name="视频通道")
    type = models.ForeignKey(AlertType, on_delete=models.PROTECT, related_name="+", verbose_name="告警类型")
    item_id = models.CharField("来源告警编号", max_length=64, help_text="the source's id of the first item")
    confidence = models.FloatField("置信度", help_text="the highest of its items")
    first_at = models.DateTimeField("首次告警时间")
    last_at = models.DateTimeField("最近告警时间")
    repeats = models.PositiveIntegerField("重复次数", default=0)
    snapshot = models.ForeignKey(
        "evidence.Photo",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="抓拍图",
        help_text="kept through media; attached to the event as evidence on confirmation",
    )
    state = models.CharField("状态", max_length=10, choices=AlertState.choices, default=AlertState.OPEN)
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField("审核说明", max_length=300, blank=True)
    received_at = models.DateTimeField("接收时间")

    class Meta:
        verbose_name = verbose_name_plural = "视频告警"
        constraints = [models.UniqueConstraint(fields=["source", "item_id"], name="video_alert_item_once")]
        indexes = [
            models.Index(
                fields=["camera", "type", "last_at"], name="video_alert_open", condition=models.Q(state="open")
            ),
            models.Index(fields=["state", "first_at"], name="video_alert_state"),
        ]


class AlertCounter(models.Model):
    """Counts per camera and type: what arrived, was dropped below the threshold,
    joined an open alert, and how reviewers judged the alerts (precision)."""

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="+")
    type = models.ForeignKey(AlertType, on_delete=models.CASCADE, related_name="+")
    received = models.PositiveBigIntegerField(default=0)
    dropped = models.PositiveBigIntegerField(default=0)
    suppressed = models.PositiveBigIntegerField(default=0)
    confirmed = models.PositiveBigIntegerField(default=0)
    dismissed = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "告警统计"
        constraints = [models.UniqueConstraint(fields=["camera", "type"], name="alert_counter_once")]


class HouseholdKind(models.TextChoices):
    ELDER_ALONE = "elder_alone", "独居老人"
    RENTAL = "rental", "出租房"
    OTHER = "other", "一般住户"


class Household(models.Model):
    """A monitored meter, linked to the address library by its meter address (an alias)."""

    source = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="households")
    meter_no = models.CharField("电表号", max_length=32)
    kind = models.CharField("类型", max_length=12, choices=HouseholdKind.choices)
    meter_address = models.CharField("电力地址", max_length=200)
    unit = models.ForeignKey(
        UnitAddress, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="标准地址"
    )
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="+", verbose_name="网格")
    subject = models.ForeignKey(
        KeySubject,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="重点人员",
        help_text="the elder living alone, visited by the grid worker",
    )
    baseline_kwh_day = models.FloatField("基线日用电（千瓦时）", null=True, blank=True)
    active = models.BooleanField("监测中", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "监测住户"
        constraints = [models.UniqueConstraint(fields=["source", "meter_no"], name="household_meter_once")]

    def __str__(self) -> str:
        return f"{self.meter_no} {self.get_kind_display()}"


class PowerReading(models.Model):
    """One hour's use of one meter (kWh), ``hour`` the hour's start."""

    id = models.BigAutoField(primary_key=True)
    # No index of its own: the unique (household, hour) serves every look-up by household,
    # and a batch of 1,000 readings would update a third index for nothing.
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="readings", db_index=False)
    hour = models.DateTimeField("时段")
    kwh = models.FloatField("用电量（千瓦时）")

    class Meta:
        verbose_name = verbose_name_plural = "用电读数"
        constraints = [models.UniqueConstraint(fields=["household", "hour"], name="reading_once")]


class RuleKind(models.TextChoices):
    NEAR_ZERO = "near_zero", "持续接近零"
    PATTERN_BREAK = "pattern_break", "偏离日常规律"
    ABOVE_BASELINE = "above_baseline", "持续远高于基线"


class PowerRule(models.Model):
    """A rule for one household type; ``params`` per kind (docs/intake.md):
    near_zero {hours, max_kwh}; pattern_break {hours, days, max_ratio, min_usual_kwh};
    above_baseline {days, factor}."""

    code = models.CharField("规则编码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=64)
    household_kind = models.CharField("住户类型", max_length=12, choices=HouseholdKind.choices)
    kind = models.CharField("规则类型", max_length=16, choices=RuleKind.choices)
    params = models.JSONField("参数", default=dict)
    active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "用电规则"

    def __str__(self) -> str:
        return self.name


class PowerAlert(models.Model):
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="alerts")
    rule = models.ForeignKey(PowerRule, on_delete=models.PROTECT, related_name="+", verbose_name="规则")
    raised_at = models.DateTimeField("告警时间")
    summary = models.CharField("说明", max_length=300)
    readings = models.JSONField(
        "依据读数", default=list, help_text='[["hour ISO", kWh], …] or daily [["date", kWh], …]'
    )
    open = models.BooleanField("未关闭", default=True)
    due = models.ForeignKey(
        "care.VisitDue", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="关怀走访"
    )
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = verbose_name_plural = "用电告警"
        constraints = [
            models.UniqueConstraint(
                fields=["household", "rule"], condition=models.Q(open=True), name="power_alert_open_once"
            )
        ]


class MeterState(models.Model):
    """A household's running state for the rules: its latest reading's hour and the
    hourly kWh of the hours up to it, packed (``backend.intake.meters``). Kept by
    each batch in bulk with its readings, so the rules read one row per household
    rather than days of readings (docs/intake.md, "Speed")."""

    household = models.OneToOneField(Household, primary_key=True, on_delete=models.CASCADE, related_name="+")
    last_hour = models.DateTimeField()
    kwh = models.BinaryField(help_text="float64 little-endian per hour, newest first; NaN: no reading")

    class Meta:
        verbose_name = verbose_name_plural = "用电运行状态"
