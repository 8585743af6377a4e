"""Photo evidence. The original bytes are kept untouched in private storage under a
key derived from their SHA-256; what the device claims (capture time, GPS, make and
model) is stored beside what the server knows (receipt time, uploader, device)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Phase(models.TextChoices):
    BEFORE = "before", "处置前"
    DURING = "during", "处置中"
    AFTER = "after", "处置后"
    REVIEW = "review", "审核"


class Photo(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, help_text="the client's photo UUID")
    event = models.ForeignKey("events.Event", null=True, blank=True, on_delete=models.PROTECT, related_name="photo_set")
    phase = models.CharField("阶段", max_length=8, choices=Phase.choices)
    sha256 = models.CharField(max_length=64, db_index=True)
    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    device = models.ForeignKey("accounts.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    format = models.CharField(max_length=8)
    size_bytes = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    orientation = models.PositiveSmallIntegerField(default=1)
    captured_at = models.DateTimeField("拍摄时间（设备声称）", null=True, blank=True)
    capture_offset = models.CharField(max_length=8, blank=True)
    gps_lat = models.FloatField(null=True, blank=True)
    gps_lng = models.FloatField(null=True, blank=True)
    gps_accuracy_m = models.FloatField(null=True, blank=True)
    camera_make = models.CharField(max_length=64, blank=True)
    camera_model = models.CharField(max_length=64, blank=True)
    reported_lat = models.FloatField("应用上报位置", null=True, blank=True)
    reported_lng = models.FloatField(null=True, blank=True)
    received_at = models.DateTimeField("服务器接收时间", auto_now_add=True)
    flags = models.JSONField("待审核的不一致", default=list, blank=True)
    original_key = models.CharField(max_length=200)
    thumb_key = models.CharField(max_length=200)
    display_key = models.CharField(max_length=200)

    class Meta:
        verbose_name = verbose_name_plural = "照片"
        constraints = [
            models.UniqueConstraint(fields=["event", "sha256"], name="one_photo_per_digest_per_event"),
        ]


class ExpectedPhoto(models.Model):
    """A digest an offline mutation referenced before the photo itself arrived
    (attachments travel separately, CouchDB): its upload attaches it to the event."""

    sha256 = models.CharField(max_length=64)  # looked up through the unique (sha256, event) index
    # Always looked up with its digest too (the unique index serves both): no index of its own.
    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="+", db_index=False)
    phase = models.CharField(max_length=8, choices=Phase.choices)
    # Only ever looked up with its digest (the unique index): no index of its own, and
    # no database constraint (users are deactivated, not deleted; Django's CASCADE
    # still applies to a delete).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "待到达的照片"
        constraints = [models.UniqueConstraint(fields=["sha256", "event"], name="one_expected_photo_per_event")]
