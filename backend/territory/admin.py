from django.contrib import admin

from backend.territory.models import Community, Department, District, Grid, GridChange, Platform, StationedUnit, Street


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Street)
class StreetAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "district"]
    search_fields = ["code", "name"]
    list_filter = ["district"]


@admin.register(Community)
class CommunityAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "street"]
    search_fields = ["code", "name"]
    list_filter = ["street"]


@admin.register(Grid)
class GridAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "community", "retired_at"]
    search_fields = ["code", "name"]
    list_filter = ["community__street", ("retired_at", admin.EmptyFieldListFilter)]
    list_select_related = ["community"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "district"]
    search_fields = ["code", "name"]


@admin.register(Platform)
class PlatformAdmin(admin.ModelAdmin):
    list_display = ["street", "kind"]
    list_filter = ["kind", "street"]
    list_select_related = ["street"]


@admin.register(StationedUnit)
class StationedUnitAdmin(admin.ModelAdmin):
    """下沉单位: deactivate (``active``), never delete: its events keep it."""

    list_display = ["name", "department", "street", "platform", "active"]
    list_filter = ["active", "department", "street"]
    search_fields = ["name", "department__name", "street__name"]
    list_select_related = ["department", "street", "platform__street"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GridChange)
class GridChangeAdmin(admin.ModelAdmin):
    """Splits and redraws are made through the admin API (docs/administration.md);
    here they are read."""

    list_display = ["made_at", "kind", "grid", "made_by", "reason"]
    list_filter = ["kind"]
    list_select_related = ["grid", "made_by"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
