"""Admin pages for the district's configuration. Django's admin records every change
made here in its history (``LogEntry``), the same list the API's changes go to."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction

from backend.administration import calendar
from backend.administration.models import (
    AdmissionRequest,
    AdmissionStatus,
    CalendarDay,
    CalendarYear,
    DutyAssignment,
)
from backend.core.errors import ApiError
from backend.events.models import Category


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    extra = 3
    fields = ["date", "kind", "name"]


@admin.register(CalendarYear)
class CalendarYearAdmin(admin.ModelAdmin):
    list_display = ["year", "source", "note", "updated_at"]
    inlines = [CalendarDayInline]

    def changelist_view(self, request, extra_context=None):
        for warning in calendar.calendar_warnings():
            messages.warning(request, warning.split(": ", 1)[-1])
        return super().changelist_view(request, extra_context)


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "name", "year"]
    list_filter = ["year", "kind"]
    date_hierarchy = "date"


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    """The catalogue. ``grid_admissible`` is read-only here: the admission list
    changes only through an approved request (准入清单申请)."""

    list_display = [
        "code",
        "name",
        "name_en",
        "platform_kind",
        "default_handler",
        "deadline_amount",
        "deadline_unit",
        "grid_admissible",
        "anonymous_allowed",
        "duplicate_radius_m",
        "active",
    ]
    list_filter = ["active", "platform_kind", "grid_admissible", "default_handler"]
    search_fields = ["code", "name", "name_en"]
    readonly_fields = ["grid_admissible"]
    actions = ["deactivate"]

    @admin.action(description="停用所选分类（已有事件不受影响）")
    def deactivate(self, request, queryset):
        for category in queryset.filter(active=True):
            category.active = False
            category.save(update_fields=["active"])
            self.log_change(request, category, [{"changed": {"fields": ["启用"]}}])

    def has_delete_permission(self, request, obj=None):
        # A category in use is deactivated, never deleted (its events keep it).
        if obj is not None and (obj.events.exists() or obj.children.exists()):
            return False
        return super().has_delete_permission(request, obj)


@admin.register(AdmissionRequest)
class AdmissionRequestAdmin(admin.ModelAdmin):
    list_display = ["category", "admit", "status", "requested_by", "requested_at", "decided_by", "decided_at"]
    list_filter = ["status", "admit"]
    fields = ["category", "admit", "reason", "status", "requested_by", "decided_by", "decided_at", "decision_note"]
    readonly_fields = ["status", "requested_by", "decided_by", "decided_at", "decision_note"]
    autocomplete_fields = ["category"]
    actions = ["approve", "refuse"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # a request is not edited once made
            return ["category", "admit", "reason", *self.readonly_fields]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.requested_by = request.user
        super().save_model(request, obj, form, change)

    def _decide(self, request, queryset, approve: bool):
        from backend.administration.services import admission_decide

        for item in queryset.filter(status=AdmissionStatus.PENDING):
            try:
                with transaction.atomic():
                    admission_decide(request.user, item, approve=approve, note="（管理后台）")
            except ApiError as error:
                messages.error(request, f"{item}: {error.message()}")
            else:
                messages.success(request, f"{item}: {'已批准' if approve else '未批准'}")

    @admin.action(description="批准所选申请（不能审批自己的申请）")
    def approve(self, request, queryset):
        self._decide(request, queryset, True)

    @admin.action(description="不批准所选申请")
    def refuse(self, request, queryset):
        self._decide(request, queryset, False)

    def has_delete_permission(self, request, obj=None):
        return False  # the reasons are kept


@admin.register(DutyAssignment)
class DutyAssignmentAdmin(admin.ModelAdmin):
    list_display = ["category", "street", "handler", "platform_kind", "department", "note"]
    list_filter = ["handler", "street"]
    search_fields = ["category__code", "category__name"]
    autocomplete_fields = ["category"]
