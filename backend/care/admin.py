from django.contrib import admin

from backend.care.models import VisitDue


@admin.register(VisitDue)
class VisitDueAdmin(admin.ModelAdmin):
    list_display = ("subject", "reason", "priority", "due_at", "fulfilled_at", "notified_at", "escalated_at")
    list_filter = ("reason", "priority")
    raw_id_fields = ("subject", "fulfilled_by")
