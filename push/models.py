"""Notifications are data first: a row per recipient, written in the same
transaction as the change that causes it, with a per-user increasing sequence.
Delivery (websocket, FCM) happens after commit and may be retried or replayed."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class NotificationKind(models.TextChoices):
    ASSIGNMENT = "assignment", "派单"
    RETURN = "return", "退回"
    URGE = "urge", "催办"
    ESCALATION = "escalation", "升级"
    CLOSURE_APPROVED = "closure_approved", "结案通过"
    REWORK = "rework", "返工"
    EVALUATION = "evaluation", "评价"
    CONFLICT = "conflict", "冲突待处理"
    SYNC_HINT = "sync_hint", "同步提示"
    TIP_PROGRESS = "tip_progress", "爆料进展"
    RATE_REQUEST = "rate_request", "请评价"
    VISIT_OVERDUE = "visit_overdue", "走访超期"
    VISIT_ESCALATED = "visit_escalated", "走访超期转书记"
    WELFARE_CHECK = "welfare_check", "独居老人关怀"
    COLOUR_CHANGE = "colour_change", "五色预警变化"


# Kinds that wake a phone in the background through FCM (always: a task or an urge
# must not wait for the app to be opened).
PUSHED_KINDS = {
    NotificationKind.ASSIGNMENT,
    NotificationKind.URGE,
    NotificationKind.TIP_PROGRESS,
    NotificationKind.RATE_REQUEST,
    NotificationKind.WELFARE_CHECK,
}


class NotificationCounter(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+")
    last = models.PositiveBigIntegerField(default=0)


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    seq = models.PositiveBigIntegerField("序号")
    kind = models.CharField("类型", max_length=24, choices=NotificationKind.choices)
    event = models.ForeignKey("events.Event", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    title = models.CharField("标题", max_length=100)
    body = models.CharField("内容", max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="acked over the websocket")
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "通知"
        ordering = ["user", "seq"]
        constraints = [models.UniqueConstraint(fields=["user", "seq"], name="one_notification_per_user_seq")]


class PushToken(models.Model):
    """A device's FCM registration token."""

    device = models.OneToOneField("accounts.Device", on_delete=models.CASCADE, related_name="push_token")
    token = models.CharField(max_length=4096)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "推送令牌"


class OutboxState(models.TextChoices):
    PENDING = "pending", "待发送"
    SENT = "sent", "已发送"
    DROPPED = "dropped", "已放弃"


class PushOutbox(models.Model):
    """One FCM send to do, written with its notification; a worker sends it outside
    the request path and retries quota and availability errors with backoff."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="pushes")
    push_token = models.ForeignKey(PushToken, null=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=8, choices=OutboxState.choices, default=OutboxState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=200, blank=True)
    message_id = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "推送发件箱"
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="push_outbox_due")]


class SentPush(models.Model):
    """What the fake sender would have sent (development and tests), listed in the admin."""

    token = models.CharField(max_length=4096)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "模拟推送记录 (fake FCM)"
        ordering = ["-created_at"]
