"""走访计划: the visits due to each key person and place, from its ``visit_every_days``.

One open ``VisitDue`` per key subject at a time: the visit it waits for. A visit
recorded on the phone (``visit.record``) fulfils it and opens the next one; the worker
job (``care_tick``) opens the first, tells the grid's worker when one is overdue and,
after ``ESCALATE_AFTER_DAYS`` more, puts it in the community secretary's queue."""

from __future__ import annotations

from django.db import models

from backend.patrols.models import KeySubject, Visit


class DueReason(models.TextChoices):
    PLAN = "plan", "定期走访"
    WELFARE = "welfare", "独居老人关怀"  # raised by an electricity rule (backend.intake)


class Priority(models.TextChoices):
    NORMAL = "normal", "一般"
    HIGH = "high", "紧急"


class VisitDue(models.Model):
    subject = models.ForeignKey(KeySubject, on_delete=models.CASCADE, related_name="dues", verbose_name="走访对象")
    reason = models.CharField("原因", max_length=8, choices=DueReason.choices, default=DueReason.PLAN)
    priority = models.CharField("优先级", max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    window_start = models.DateTimeField("周期开始", help_text="a visit at or after this time fulfils it")
    due_at = models.DateTimeField("应走访时间")
    fulfilled_by = models.OneToOneField(
        Visit, null=True, blank=True, on_delete=models.SET_NULL, related_name="fulfils", verbose_name="完成的走访"
    )
    fulfilled_at = models.DateTimeField("完成时间（走访时间）", null=True, blank=True)
    notified_at = models.DateTimeField("超期提醒时间", null=True, blank=True)
    escalated_at = models.DateTimeField("转书记时间", null=True, blank=True)
    note = models.CharField("说明", max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "应走访"
        indexes = [models.Index(fields=["due_at"], name="care_due_open", condition=models.Q(fulfilled_at=None))]
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "reason"], condition=models.Q(fulfilled_at=None), name="care_one_open_due"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject} · {self.due_at:%Y-%m-%d}"

    @property
    def open(self) -> bool:
        return self.fulfilled_at is None
