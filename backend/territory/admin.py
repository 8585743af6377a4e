from django.contrib import admin

from backend.territory.models import Community, Department, District, Grid, Platform, Street


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
    list_display = ["code", "name", "community"]
    search_fields = ["code", "name"]
    list_filter = ["community__street"]
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
