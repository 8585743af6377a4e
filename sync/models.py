"""The push side of offline sync: a ledger of (device, mutation id) → result, written
in the same transaction as the change, so a replayed push is answered from the
ledger and never applied twice (Replicache)."""

from __future__ import annotations

from django.db import models


class SyncDevice(models.Model):
    """What the server knows of a phone's sync: the last mutation id it applied, the
    device's clock offset, the protocol it speaks."""

    device = models.OneToOneField("accounts.Device", on_delete=models.CASCADE, related_name="sync_state")
    last_mutation_id = models.PositiveBigIntegerField(default=0)
    protocol_version = models.PositiveSmallIntegerField(default=0)
    clock_offset_ms = models.BigIntegerField(
        null=True, blank=True, help_text="server time minus the device's clock at its last push"
    )
    last_push_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "同步设备"


class LedgerEntry(models.Model):
    # No index of its own: the unique (device, mutation_id) index leads with it. No
    # database constraint: devices are never deleted by the application (revoked
    # instead), and Django's CASCADE still removes the rows with a deleted user.
    device = models.ForeignKey(
        "accounts.Device", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    mutation_id = models.PositiveBigIntegerField()
    name = models.CharField(max_length=48)
    args = models.JSONField(help_text="what the phone sent: nothing recorded on a phone is lost, even if rejected")
    result = models.JSONField()
    device_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "同步账本"
        constraints = [models.UniqueConstraint(fields=["device", "mutation_id"], name="one_result_per_device_mutation")]


class Change(models.Model):
    """The pull side's change log (PowerSync): one row per (bucket, entity), rewritten
    whenever the entity changes, so a bucket's rows are its current membership plus
    tombstones of what left it. Rows are written with no stamp in the writer's own
    transaction; ``stamp_changes`` numbers committed rows in rounds, so the pull's
    order (stamp, id) never lets a slow transaction commit behind a cursor."""

    stamp = models.PositiveBigIntegerField(null=True, blank=True)
    bucket = models.CharField(max_length=40)
    kind = models.CharField(max_length=16)
    entity_id = models.CharField(max_length=40)
    deleted = models.BooleanField(default=False)

    class Meta:
        verbose_name = verbose_name_plural = "同步变更"
        # The unique index leads with (kind, entity_id): it also finds an entity's rows.
        constraints = [
            models.UniqueConstraint(fields=["kind", "entity_id", "bucket"], name="one_change_per_entity_bucket")
        ]
        indexes = [
            models.Index(fields=["bucket", "stamp", "id"], name="change_bucket_order"),
            models.Index(fields=["id"], name="change_unstamped", condition=models.Q(stamp__isnull=True)),
        ]


class SyncClock(models.Model):
    """One row: the last stamp round, the log's epoch (a rebuild starts a new one and
    every older cursor resets) and the horizon below which tombstones were purged."""

    stamp = models.PositiveBigIntegerField(default=0)
    epoch = models.CharField(max_length=16, default="1")
    horizon = models.PositiveBigIntegerField(default=0, help_text="tombstones up to this stamp are purged")

    class Meta:
        verbose_name = verbose_name_plural = "同步时钟"


class ConflictStatus(models.TextChoices):
    OPEN = "open", "待处理"
    RESOLVED = "resolved", "已处理"


class Conflict(models.Model):
    """The same field changed on the server and on a phone since the phone's base
    version (ODK Central): both values are kept until a person chooses."""

    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="conflicts")
    field = models.CharField("字段", max_length=32)
    base_version = models.PositiveIntegerField("手机所依据的版本")
    base_value = models.JSONField("原值", null=True)
    server_value = models.JSONField("服务器值", null=True)
    phone_value = models.JSONField("手机值", null=True)
    user = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name="手机用户")
    device = models.ForeignKey("accounts.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    mutation_id = models.PositiveBigIntegerField(null=True, blank=True)
    status = models.CharField("状态", max_length=8, choices=ConflictStatus.choices, default=ConflictStatus.OPEN)
    resolution = models.CharField("处理结果", max_length=8, blank=True, help_text="server | phone | value")
    resolved_value = models.JSONField("最终值", null=True, blank=True)
    resolved_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "同步冲突"
        indexes = [models.Index(fields=["status", "created_at"], name="conflict_status")]


class StampRound(models.Model):
    """When each stamp round was numbered: purging tombstones older than N days finds
    its horizon here."""

    stamp = models.PositiveBigIntegerField(primary_key=True)
    at = models.DateTimeField()
