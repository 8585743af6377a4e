"""Residents: sign-in codes, the resident account's consent to the privacy notice, and
the messages the console SMS sender "sent" (development only)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SignInCode(models.Model):
    """A one-time code sent to a mobile number (短信验证码). Only its keyed hash is kept;
    it is spent by its first right use, void after ``SIGNIN_ATTEMPTS_PER_CODE`` tries
    (``attempts_made``, the right one included), and expires five minutes after it was sent."""

    phone = models.CharField("手机号", max_length=20)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField("发送时间", default=timezone.now)
    expires_at = models.DateTimeField("失效时间")
    used_at = models.DateTimeField("使用时间", null=True, blank=True)
    attempts_made = models.PositiveSmallIntegerField("尝试次数", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "登录验证码"
        indexes = [models.Index(fields=["phone", "-created_at"], name="signin_code_phone")]


class Resident(models.Model):
    """The resident side of an account made by signing in with a mobile number."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="resident", verbose_name="用户"
    )
    signed_up_at = models.DateTimeField("注册时间", auto_now_add=True)
    deleted_at = models.DateTimeField("注销时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "居民账号"

    def __str__(self) -> str:
        return str(self.user)


class Consent(models.Model):
    """The resident agreed to this version of the privacy notice (隐私政策同意记录). Kept
    after the account is deleted: it is the record that the data was held with consent."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="用户")
    notice_version = models.CharField("隐私政策版本", max_length=32)
    agreed_at = models.DateTimeField("同意时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "隐私政策同意记录"
        ordering = ["-agreed_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "notice_version"], name="one_consent_per_version")]


class ConsoleSms(models.Model):
    """A message the console sender wrote to the log instead of sending (development).
    The admin lists the recent ones so a developer can sign in; a real provider writes none."""

    phone = models.CharField("手机号", max_length=20)
    text = models.CharField("内容", max_length=200)
    sent_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = verbose_name_plural = "模拟短信（控制台发送）"
        ordering = ["-sent_at", "-id"]
