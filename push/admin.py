from django.contrib import admin

from push.models import Notification, PushOutbox, PushToken, SentPush


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "seq", "kind", "title", "created_at", "delivered_at", "read_at"]
    list_filter = ["kind"]
    search_fields = ["user__username", "title"]


@admin.register(PushOutbox)
class PushOutboxAdmin(admin.ModelAdmin):
    list_display = ["notification", "state", "attempts", "next_attempt_at", "last_error"]
    list_filter = ["state"]


@admin.register(PushToken)
class PushTokenAdmin(admin.ModelAdmin):
    list_display = ["device", "updated_at"]


@admin.register(SentPush)
class SentPushAdmin(admin.ModelAdmin):
    list_display = ["created_at", "token", "payload"]
    readonly_fields = ["token", "payload", "created_at"]
