from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from backend.accounts.models import Device, RoleAssignment, User
from backend.accounts.services import device_revoke


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    extra = 0
    autocomplete_fields = ["grid", "community", "street"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [RoleAssignmentInline]
    list_display = ["username", "display_name", "phone", "is_active"]
    fieldsets = BaseUserAdmin.fieldsets + (("基层治理", {"fields": ("display_name", "phone")}),)


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "device_id", "platform", "app_version", "last_seen_at", "revoked_at"]
    list_filter = ["platform"]
    search_fields = ["user__username", "device_id"]
    actions = ["revoke"]

    @admin.action(description="吊销所选设备 Revoke selected devices")
    def revoke(self, request, queryset):
        for device in queryset:
            device_revoke(device=device)
