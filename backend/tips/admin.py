from django.contrib import admin

from backend.tips.models import AnonymousTip, Follow


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ("event", "user", "reason", "created_at")
    list_filter = ("reason",)
    raw_id_fields = ("event", "user")


@admin.register(AnonymousTip)
class AnonymousTipAdmin(admin.ModelAdmin):
    list_display = ("code", "event", "created_at")
    readonly_fields = ("code", "event", "secret_hash", "created_at")
    search_fields = ("code",)
