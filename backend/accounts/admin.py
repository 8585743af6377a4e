from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError

from backend.accounts.models import Device, RoleAssignment, User
from backend.accounts.ratelimit import client_address, sign_in
from backend.accounts.services import device_restore, device_revoke
from backend.core.errors import ApiError


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """The admin's login form checks the password through the API's limiter
    (ratelimit.sign_in), so /admin/ is no way around the login limits. A browser has
    no device id: it always counts as a new client."""

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = sign_in(username=username, password=password, address=client_address(self.request))
            except ApiError as error:
                if error.code == "rate_limited":
                    raise ValidationError(error.message(), code="rate_limited") from None
                if error.code == "account_disabled":  # only said with the right password
                    raise ValidationError(self.error_messages["inactive"], code="inactive") from None
                raise self.get_invalid_login_error() from None
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


admin.site.login_form = ThrottledAdminLoginForm


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    extra = 0
    autocomplete_fields = ["grid", "community", "street", "stationed_unit"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [RoleAssignmentInline]
    list_display = ["username", "display_name", "phone", "is_active"]
    fieldsets = BaseUserAdmin.fieldsets + (("基层治理", {"fields": ("display_name", "phone")}),)
    actions = ["deactivate"]

    @admin.action(description="停用所选账号（立即吊销全部设备） Deactivate, revoking every device")
    def deactivate(self, request, queryset):
        from backend.accounts.people import account_deactivate

        for user in queryset.exclude(pk=request.user.pk):
            account_deactivate(by=request.user, user=user, reason="管理后台停用")


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "device_id", "platform", "app_version", "last_seen_at", "revoked_at", "admin_revoked"]
    list_filter = ["platform", "admin_revoked"]
    search_fields = ["user__username", "device_id"]
    readonly_fields = ["admin_revoked", "revoked_by", "revoked_at", "token_generation"]
    actions = ["revoke", "restore"]

    @admin.action(description="吊销所选设备 Revoke selected devices")
    def revoke(self, request, queryset):
        for device in queryset:
            device_revoke(device=device, by=request.user)

    @admin.action(description="恢复所选设备（允许再次登录） Restore selected devices")
    def restore(self, request, queryset):
        for device in queryset:
            device_restore(device=device)
