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
    clock_offset_ms = models.BigIntegerField(null=True, blank=True, help_text="server time minus the device's clock at its last push")
    last_push_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "同步设备"


class LedgerEntry(models.Model):
    device = models.ForeignKey("accounts.Device", on_delete=models.CASCADE, related_name="+")
    mutation_id = models.PositiveBigIntegerField()
    name = models.CharField(max_length=48)
    args = models.JSONField(help_text="what the phone sent: nothing recorded on a phone is lost, even if rejected")
    result = models.JSONField()
    device_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "同步账本"
        constraints = [models.UniqueConstraint(fields=["device", "mutation_id"], name="one_result_per_device_mutation")]
