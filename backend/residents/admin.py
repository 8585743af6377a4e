from django.contrib import admin

from backend.residents.models import Consent, ConsoleSms, Resident, SignInCode
from backend.residents.sms import console_in_use


@admin.register(ConsoleSms)
class ConsoleSmsAdmin(admin.ModelAdmin):
    """Recent codes the console sender wrote to the log, so a developer can sign in.
    Hidden as soon as a real provider is configured (and that sender writes none)."""

    list_display = ("sent_at", "phone", "text")
    search_fields = ("phone",)

    def has_module_permission(self, request):
        return console_in_use() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return console_in_use() and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Resident)
class ResidentAdmin(admin.ModelAdmin):
    list_display = ("user", "signed_up_at", "deleted_at")
    list_filter = ("deleted_at",)
    readonly_fields = ("user", "signed_up_at", "deleted_at")

    def has_add_permission(self, request):
        return False


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ("user", "notice_version", "agreed_at")
    list_filter = ("notice_version",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SignInCode)
class SignInCodeAdmin(admin.ModelAdmin):
    """Codes as stored: their hash only."""

    list_display = ("phone", "created_at", "expires_at", "used_at", "attempts_made")
    exclude = ("code_hash",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
