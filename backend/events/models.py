"""The catalogue (事项目录) and the event with its append-only, hash-chained history."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from backend.territory.models import Community, Department, Grid, Platform, PlatformKind, StationedUnit, Street


class Severity(models.TextChoices):
    LOW = "low", "一般"
    NORMAL = "normal", "较重"
    HIGH = "high", "严重"
    CRITICAL = "critical", "特别严重"


class DeadlineUnit(models.TextChoices):
    WORKING_HOURS = "working_hours", "工作时"
    WORKING_DAYS = "working_days", "工作日"
    NATURAL_HOURS = "natural_hours", "自然小时"


class HandlerKind(models.TextChoices):
    PLATFORM = "platform", "四平台"
    DEPARTMENT = "department", "职能部门"
    GRID = "grid", "网格"


class Category(models.Model):
    """Two levels: a 大类 (``parent`` empty) holds 小类; events use 小类."""

    code = models.CharField("编码", max_length=16, unique=True)
    name = models.CharField("名称", max_length=64)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name="大类"
    )
    platform_kind = models.CharField("所属平台", max_length=16, choices=PlatformKind.choices)
    default_handler = models.CharField(
        "默认处置", max_length=16, choices=HandlerKind.choices, default=HandlerKind.PLATFORM
    )
    default_department_code = models.CharField("默认部门编码", max_length=32, blank=True)
    severity = models.CharField("严重程度", max_length=16, choices=Severity.choices, default=Severity.NORMAL)
    deadline_unit = models.CharField(
        "时限单位", max_length=16, choices=DeadlineUnit.choices, default=DeadlineUnit.WORKING_DAYS
    )
    deadline_amount = models.PositiveIntegerField("处置时限", default=3)
    grid_admissible = models.BooleanField("网格事务准入清单", default=False)
    before_photos_required = models.PositiveSmallIntegerField("结案需处置前照片数", default=1)
    after_photos_required = models.PositiveSmallIntegerField("结案需处置后照片数", default=1)
    name_en = models.CharField(
        "英文名称",
        max_length=64,
        blank=True,
        help_text="English name; empty falls back to the built-in list, then to the Chinese name",
    )
    anonymous_allowed = models.BooleanField("允许匿名爆料", default=False)
    duplicate_radius_m = models.PositiveIntegerField("重复判定半径(米)", default=250)
    active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "事项分类"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Source(models.TextChoices):
    GRID_PATROL = "grid_patrol", "网格巡查"
    PUBLIC_TIP = "public_tip", "公众爆料"
    VIDEO_ALERT = "video_alert", "视频智能发现"
    POWER_ALERT = "power_alert", "电力监测预警"
    DEPARTMENT_REFERRAL = "department_referral", "部门移交"


class State(models.TextChoices):
    REPORTED = "reported", "已上报"
    ACCEPTED = "accepted", "已受理"
    REJECTED = "rejected", "已驳回"
    MERGED = "merged", "已合并"
    DISPATCHED = "dispatched", "已派遣"
    RETURNED = "returned", "已退回"
    IN_PROGRESS = "in_progress", "处置中"
    AWAITING_EVIDENCE = "awaiting_evidence", "待补证据"
    HANDLED = "handled", "已处置待审核"
    CLOSED = "closed", "已结案"
    EVALUATED = "evaluated", "已评价"
    PARKED = "parked", "已挂账"


class Level(models.IntegerChoices):
    """Who is answerable for the event now; escalation moves it up one at a time."""

    GRID = 0, "网格"
    COMMUNITY = 1, "社区"
    STREET = 2, "街道"
    DISTRICT = 3, "区"


class Satisfaction(models.TextChoices):
    SATISFIED = "satisfied", "满意"
    BASIC = "basic", "基本满意"
    UNSATISFIED = "unsatisfied", "不满意"


class Event(models.Model):
    id = models.UUIDField(
        "标识", primary_key=True, default=uuid.uuid4, help_text="phones create events offline with their own UUID"
    )
    number = models.CharField("事件编号", max_length=20)  # unique: see Meta (no LIKE index)
    source = models.CharField("来源", max_length=24, choices=Source.choices)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="events", verbose_name="分类")
    description = models.TextField("描述")
    lat = models.FloatField("纬度 (WGS-84)", null=True, blank=True)
    lng = models.FloatField("经度 (WGS-84)", null=True, blank=True)
    address_text = models.CharField("地址", max_length=200, blank=True)
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="events", verbose_name="网格", db_index=False)
    # The grid's community and street, copied for the queues' indexes. No database
    # constraint of their own: they are always the grid's (``prepare_report``), the
    # grid's constraint holds it, and territory is never deleted under a grid (each
    # level protects the one below). A constraint would be checked again at every
    # commit of every report.
    community = models.ForeignKey(
        Community,
        on_delete=models.PROTECT,
        related_name="events",
        verbose_name="社区",
        db_index=False,
        db_constraint=False,
    )
    street = models.ForeignKey(
        Street,
        on_delete=models.PROTECT,
        related_name="events",
        verbose_name="街道",
        db_index=False,
        db_constraint=False,
    )
    severity = models.CharField("严重程度", max_length=16, choices=Severity.choices)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reported_events",
        verbose_name="上报人",
        db_index=False,
    )
    # The reporter's consent to be contacted by the handler (a resident's tip); staff
    # other than the dispatcher and the commander see the reporter's phone only with it.
    contact_allowed = models.BooleanField("允许联系上报人", default=False)
    state = models.CharField("状态", max_length=20, choices=State.choices, default=State.REPORTED)
    level = models.PositiveSmallIntegerField("责任层级", choices=Level.choices, default=Level.STREET)

    holder_platform = models.ForeignKey(
        Platform,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="承办平台",
        db_index=False,
    )
    holder_department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="承办部门",
        db_index=False,
    )
    holder_unit = models.ForeignKey(
        StationedUnit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="承办下沉单位",
        db_index=False,
    )
    holder_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="held_events",
        verbose_name="承办人",
        db_index=False,
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="签收人",
        db_index=False,
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="duplicates",
        verbose_name="合并至",
        db_index=False,
    )

    deadline_at = models.DateTimeField("处置时限", null=True, blank=True)
    overdue = models.BooleanField("已超期", default=False)
    overdue_at = models.DateTimeField("超期时间", null=True, blank=True)
    auto_escalations = models.PositiveSmallIntegerField("自动升级次数", default=0)
    last_escalated_at = models.DateTimeField("最近升级时间", null=True, blank=True)
    urge_count = models.PositiveSmallIntegerField("催办次数", default=0)
    rework_count = models.PositiveSmallIntegerField("返工次数", default=0)
    return_count = models.PositiveSmallIntegerField("退回次数", default=0)
    extension_count = models.PositiveSmallIntegerField("延期次数", default=0)
    reopen_count = models.PositiveSmallIntegerField("重启次数", default=0)
    extension_requested_until = models.DateTimeField("申请延期至", null=True, blank=True)
    park_requested = models.BooleanField("挂账待审批", default=False)
    handled_on_spot = models.BooleanField("网格内自处置", default=False)

    result_note = models.TextField("处置结果", blank=True)
    photos = models.JSONField("照片引用", default=dict, blank=True, help_text='{"before": [...], "after": [...]}')
    satisfaction = models.CharField("评价", max_length=16, choices=Satisfaction.choices, blank=True)
    evaluation_comment = models.TextField("评价意见", blank=True)

    reported_at = models.DateTimeField("上报时间")
    device_reported_at = models.DateTimeField("设备声称的上报时间", null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The head of the hash chain, kept on the (locked) event row so appending an
    # action needs no extra read.
    action_count = models.PositiveIntegerField(default=0, editable=False)
    last_action_hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = verbose_name_plural = "事件"
        ordering = ["-reported_at"]
        # Each index costs every insert, and a batch of offline reports inserts a
        # hundred events at once. The foreign keys that lead one of these have no
        # index of their own (db_index=False), and an index of a column that a new
        # report leaves empty (a holder, a deadline, overdue) is partial: it holds
        # only the rows where it is set, which are the only ones looked up by it
        # ("holder = x" and "deadline < t" imply "is not null" to the planner).
        indexes = [
            # One index per role queue: filter columns first, the sort column last.
            models.Index(fields=["street", "state", "reported_at"], name="event_street_queue"),
            models.Index(fields=["community", "state", "reported_at"], name="event_community_queue"),
            models.Index(fields=["grid", "state", "reported_at"], name="event_grid_queue"),
            models.Index(
                fields=["holder_platform", "state", "reported_at"],
                name="event_platform_queue",
                condition=Q(holder_platform__isnull=False),
            ),
            models.Index(
                fields=["holder_department", "state", "reported_at"],
                name="event_department_queue",
                condition=Q(holder_department__isnull=False),
            ),
            models.Index(
                fields=["holder_unit", "state", "reported_at"],
                name="event_unit_queue",
                condition=Q(holder_unit__isnull=False),
            ),
            models.Index(
                fields=["holder_user", "state", "reported_at"],
                name="event_holder_queue",
                condition=Q(holder_user__isnull=False),
            ),
            models.Index(fields=["reporter", "reported_at"], name="event_reporter"),
            models.Index(fields=["street", "reported_at"], name="event_overdue", condition=Q(overdue=True)),
            models.Index(fields=["street", "satisfaction", "reported_at"], name="event_street_satisfaction"),
            # The district centre's queues (to_triage, to_approve: events/access.py) pick the
            # few district-level events and parking requests out of a whole year; partial,
            # so a report (never district-level, never parked) writes neither.
            models.Index(
                fields=["state", "reported_at"], name="event_district_queue", condition=Q(level=Level.DISTRICT)
            ),
            models.Index(
                fields=["state", "reported_at"], name="event_park_requested", condition=Q(park_requested=True)
            ),
            models.Index(
                fields=["state", "deadline_at"], name="event_deadline", condition=Q(deadline_at__isnull=False)
            ),
            models.Index(fields=["reported_at"], name="event_reported_at"),
            models.Index(fields=["signed_by"], name="event_signed_by", condition=Q(signed_by__isnull=False)),
            models.Index(fields=["merged_into"], name="event_merged_into", condition=Q(merged_into__isnull=False)),
            # Only the few events whose photos are on their way: the supervision job's look-up.
            models.Index(fields=["handled_at"], name="event_awaiting_evidence", condition=Q(state="awaiting_evidence")),
        ]
        # A constraint, not unique=True: that adds a second, LIKE-pattern index on
        # PostgreSQL, and numbers are only ever looked up whole.
        constraints = [models.UniqueConstraint(fields=["number"], name="one_event_per_number")]

    def __str__(self) -> str:
        return self.number


class EventCounter(models.Model):
    """Last issued number per year, for human-readable numbers SC<year><7 digits>."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)


class EventAction(models.Model):
    """One step of an event's history. Append-only: rows are never updated; each row
    stores the hash of the previous one, so an edit anywhere breaks the chain."""

    event = models.ForeignKey(
        Event, on_delete=models.PROTECT, related_name="actions", db_index=False
    )  # one_action_per_seq (event, seq) serves it
    seq = models.PositiveIntegerField("序号")
    action = models.CharField("操作", max_length=32)
    # Who and which phone: no database constraint and no index (see "Writing at volume"
    # in docs/architecture.md). Users and devices are never deleted by the application
    # (accounts are deactivated, devices revoked); Django's PROTECT still guards a delete.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="操作人",
        db_constraint=False,
        db_index=False,
    )
    actor_role = models.CharField("操作角色", max_length=16, blank=True)
    device = models.ForeignKey(
        "accounts.Device",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    device_ref = models.CharField("设备标识", max_length=128, blank=True)
    from_state = models.CharField("原状态", max_length=20, blank=True)
    to_state = models.CharField("新状态", max_length=20, blank=True)
    note = models.TextField("说明", blank=True)
    data = models.JSONField("附加数据", default=dict, blank=True)
    server_at = models.DateTimeField("服务器时间")
    device_at = models.DateTimeField("设备声称时间", null=True, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = verbose_name_plural = "事件操作记录"
        ordering = ["event", "seq"]
        constraints = [models.UniqueConstraint(fields=["event", "seq"], name="one_action_per_seq")]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise RuntimeError("event actions are append-only")
        super().save(*args, **kwargs)
