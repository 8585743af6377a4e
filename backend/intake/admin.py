"""The intake's configuration in the admin: source systems (their credential is
issued here, the secret shown once), cameras, alert types, households and rules.
Django's admin records every change in its log (``LogEntry``)."""

from __future__ import annotations

from django.contrib import admin, messages

from backend.intake.models import AlertCounter, AlertType, Camera, Household, PowerAlert, PowerRule, SourceSystem
from backend.intake.signing import issue_secret


@admin.register(SourceSystem)
class SourceSystemAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "key_id", "requests_per_minute", "active", "created_at")
    readonly_fields = ("secret_hash",)
    actions = ["issue_new_secret"]

    def save_model(self, request, obj, form, change):
        if not change:
            secret, obj.secret_hash = issue_secret()
            super().save_model(request, obj, form, change)
            self._show_once(request, obj, secret)
        else:
            super().save_model(request, obj, form, change)

    def _show_once(self, request, obj, secret: str) -> None:
        messages.warning(
            request,
            f"{obj.key_id} 的密钥（仅显示这一次，请交给对接方妥善保存）The secret, shown once: {secret}",
        )

    @admin.action(description="重新签发密钥（旧密钥立即失效）Issue a new secret")
    def issue_new_secret(self, request, queryset):
        for source in queryset:
            secret, source.secret_hash = issue_secret()
            source.save(update_fields=["secret_hash"])
            self.log_change(request, source, "重新签发密钥 issued a new secret")
            self._show_once(request, source, secret)


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "grid", "source", "active")
    search_fields = ("code", "name")
    list_filter = ("source",)


@admin.register(AlertType)
class AlertTypeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "category", "threshold", "suppress_minutes")


@admin.register(AlertCounter)
class AlertCounterAdmin(admin.ModelAdmin):
    list_display = ("camera", "type", "received", "dropped", "suppressed", "confirmed", "dismissed")


@admin.register(Household)
class HouseholdAdmin(admin.ModelAdmin):
    list_display = ("meter_no", "kind", "meter_address", "unit", "grid", "baseline_kwh_day", "active")
    search_fields = ("meter_no", "meter_address")
    list_filter = ("kind",)
    raw_id_fields = ("unit", "subject")


@admin.register(PowerRule)
class PowerRuleAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "household_kind", "kind", "params", "active")


@admin.register(PowerAlert)
class PowerAlertAdmin(admin.ModelAdmin):
    list_display = ("household", "rule", "raised_at", "open", "summary")
    raw_id_fields = ("household", "due", "event")
