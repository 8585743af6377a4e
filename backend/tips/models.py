"""Residents' tips beside the event: who follows an event, and the anonymous tips'
tracking codes. The event itself is an ordinary ``events.Event`` with source
``public_tip``; nothing here is a second copy of it."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class FollowReason(models.TextChoices):
    ME_TOO = "me_too", "我也遇到"
    MERGED = "merged", "所报事件被合并"


class Follow(models.Model):
    """A resident following an event they did not report themselves (a reporter follows
    their own event through ``Event.reporter``). ``me_too`` rows are the event's me-too count."""

    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    reason = models.CharField("关注原因", max_length=8, choices=FollowReason.choices)
    created_at = models.DateTimeField("关注时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "关注"
        constraints = [models.UniqueConstraint(fields=["event", "user"], name="one_follow_per_user")]
        indexes = [models.Index(fields=["user", "event"], name="tips_follow_user")]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.event_id}"


class AnonymousTip(models.Model):
    """An anonymous tip's tracking code and the hash of its secret (the secret itself is
    shown once, in the answer to the submission)."""

    event = models.OneToOneField("events.Event", on_delete=models.CASCADE, related_name="+")
    code = models.CharField("查询码", max_length=16, unique=True)
    secret_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "匿名爆料"

    def __str__(self) -> str:
        return self.code
