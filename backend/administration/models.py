"""What a district configures as data: the working-day calendar, the admission list's
requests and approvals, and the duty list (事项办理职责清单). The catalogue itself is
``backend.events.models.Category``."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from backend.events.models import Category, HandlerKind
from backend.territory.models import Department, PlatformKind, Street


class CalendarSource(models.TextChoices):
    PACKAGE = "package", "chinesecalendar 软件包"
    IMPORT = "import", "文件导入"
    MANUAL = "manual", "手工录入"


class CalendarYear(models.Model):
    """A year whose statutory arrangement is stored. A year without a row is *unknown*:
    deadlines in it count Monday–Friday and say so loudly (docs/administration.md)."""

    year = models.PositiveSmallIntegerField("年份", unique=True)
    source = models.CharField("来源", max_length=16, choices=CalendarSource.choices)
    note = models.CharField("说明", max_length=200, blank=True, help_text="例如：国务院办公厅通知文号")
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "工作日历（年度）"
        ordering = ["-year"]

    def __str__(self) -> str:
        return f"{self.year}年"


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", "法定节假日（休）"
    WORKDAY = "workday", "调休上班（班）"


class CalendarDay(models.Model):
    """An exception to Monday–Friday: a holiday on a weekday, or a weekend worked (调休)."""

    year = models.ForeignKey(CalendarYear, on_delete=models.CASCADE, related_name="days", verbose_name="年份")
    date = models.DateField("日期", unique=True)
    kind = models.CharField("类型", max_length=8, choices=DayKind.choices)
    name = models.CharField("名称", max_length=64, blank=True, help_text="例如：元旦、春节")

    class Meta:
        verbose_name = verbose_name_plural = "节假日与调休"
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.name}".strip()

    def clean(self) -> None:
        if self.year_id and self.date and self.date.year != self.year.year:
            raise ValidationError({"date": f"日期不在 {self.year.year} 年内"})
        if self.kind == DayKind.WORKDAY and self.date and self.date.weekday() < 5:
            raise ValidationError({"kind": "调休上班日应为周六或周日"})


class AdmissionStatus(models.TextChoices):
    PENDING = "pending", "待审批"
    APPROVED = "approved", "已批准"
    REFUSED = "refused", "未批准"


class AdmissionRequest(models.Model):
    """A request to put a category on the grid admission list (准入清单) or take it off.
    Only an approved request changes ``Category.grid_admissible``."""

    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="admission_requests", verbose_name="事项分类"
    )
    admit = models.BooleanField("纳入清单", help_text="是：纳入网格事务准入清单；否：移出")
    reason = models.TextField("申请理由")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="申请人"
    )
    requested_at = models.DateTimeField("申请时间", auto_now_add=True)
    status = models.CharField(
        "状态", max_length=16, choices=AdmissionStatus.choices, default=AdmissionStatus.PENDING, db_index=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name="审批人",
    )
    decided_at = models.DateTimeField("审批时间", null=True, blank=True)
    decision_note = models.TextField("审批意见", blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "准入清单申请"
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["category"],
                condition=models.Q(status="pending"),
                name="one_pending_admission_request_per_category",
            )
        ]

    def __str__(self) -> str:
        return f"{'纳入' if self.admit else '移出'} {self.category} ({self.get_status_display()})"


class DutyAssignment(models.Model):
    """One line of the duty list (事项办理职责清单): who handles a category, for the
    whole district (``street`` empty) or for one street where it differs. A category
    without a line falls back to its catalogue default (``default_handler``)."""

    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, related_name="duty_assignments", verbose_name="事项分类"
    )
    street = models.ForeignKey(
        Street,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="duty_assignments",
        verbose_name="街道",
        help_text="留空：全区适用",
    )
    handler = models.CharField("承办", max_length=16, choices=HandlerKind.choices)
    platform_kind = models.CharField("平台", max_length=16, choices=PlatformKind.choices, blank=True)
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="职能部门"
    )
    note = models.CharField("说明", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "事项办理职责清单"
        ordering = ["category__code", "street__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "street"], condition=models.Q(street__isnull=False), name="one_duty_per_street"
            ),
            models.UniqueConstraint(
                fields=["category"], condition=models.Q(street__isnull=True), name="one_district_duty_per_category"
            ),
        ]

    def __str__(self) -> str:
        where = self.street.name if self.street_id else "全区"
        return f"{self.category.code} {where}"

    def clean(self) -> None:
        errors = {}
        if self.handler == HandlerKind.PLATFORM and not self.platform_kind:
            errors["platform_kind"] = "由平台承办时须指明平台"
        if self.handler == HandlerKind.DEPARTMENT and not self.department_id:
            errors["department"] = "由部门承办时须指明部门"
        if errors:
            raise ValidationError(errors)
