from django.contrib import admin

from backend.patrols.models import KeySubject, PatrolSession, Visit


@admin.register(KeySubject)
class KeySubjectAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "grid", "attention", "visit_every_days", "active")
    list_filter = ("kind", "attention", "active")
    search_fields = ("name", "address_text")


@admin.register(PatrolSession)
class PatrolSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "grid", "started_at", "ended_at", "point_count", "distance_m")
    exclude = ("points",)


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
    list_display = ("id", "subject", "user", "visited_at", "finding")
