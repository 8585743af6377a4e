"""The access log of personal data (个人信息访问记录, PIPL).

Every read of a person's personal data by staff is one row: who read, whose data,
when, and through which endpoint. A subject is a resident (an account) or another
kind of person the district holds data about (a key person, 重点人员), named by kind
and id so one log serves every kind."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SubjectKind(models.TextChoices):
    RESIDENT = "resident", "居民"
    KEY_PERSON = "key_person", "重点人员"


class PersonalDataRead(models.Model):
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="访问者"
    )
    subject_kind = models.CharField("对象类型", max_length=16, choices=SubjectKind.choices)
    subject_id = models.CharField("对象编号", max_length=64)
    endpoint = models.CharField("访问途径", max_length=200)
    fields = models.CharField("字段", max_length=200, blank=True)
    at = models.DateTimeField("访问时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = verbose_name_plural = "个人信息访问记录"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["subject_kind", "subject_id", "-at"], name="privacy_read_subject")]

    def __str__(self) -> str:
        return f"{self.reader} → {self.get_subject_kind_display()} {self.subject_id} @ {self.at:%Y-%m-%d %H:%M}"
