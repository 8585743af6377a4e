from django.contrib import admin

from backend.open311.models import Open311Client


@admin.register(Open311Client)
class Open311ClientAdmin(admin.ModelAdmin):
    list_display = ("name", "active", "created_at")
    readonly_fields = ("api_key", "account", "created_at")
    fields = ("name", "active", "api_key", "account", "created_at")
