import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from backend.core.errors import ApiError
from backend.territory.changes import GridPart, grid_redraw, grid_split
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


class JsonField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 12, "cols": 100, "style": "font-family: monospace"})

    def to_python(self, value):
        try:
            return json.loads(super().to_python(value) or "null")
        except ValueError as error:
            raise forms.ValidationError(f"不是合法的 JSON: {error}") from error


class GridSplitForm(forms.Form):
    parts = JsonField(
        label="拆分后的网格",
        help_text='JSON 列表，至少两项：[{"code": "…", "name": "…", "polygon": {GeoJSON Polygon}, "worker_ids": [用户编号]}]',
    )
    reason = forms.CharField(label="理由", max_length=500, required=False)


class GridRedrawForm(forms.Form):
    polygon = JsonField(label="新边界", help_text="GeoJSON Polygon（WGS-84 经纬度）")
    reason = forms.CharField(label="理由", max_length=500, required=False)


@admin.register(Grid)
class GridAdmin(admin.ModelAdmin):
    """Grids; a grid is split or redrawn from its page (拆分 / 重划), through the same
    services as the admin API (backend/territory/changes.py: checks, audit)."""

    list_display = ["code", "name", "community", "retired_at"]
    search_fields = ["code", "name"]
    list_filter = ["community__street", ("retired_at", admin.EmptyFieldListFilter)]
    list_select_related = ["community"]
    change_form_template = "admin/territory/grid/change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:grid_id>/split/", view(self.split_view), name="territory_grid_split"),
            path("<int:grid_id>/redraw/", view(self.redraw_view), name="territory_grid_redraw"),
            *super().get_urls(),
        ]

    def _change(self, request, grid_id: int, form_class, title: str, apply):
        grid = get_object_or_404(Grid, pk=grid_id)
        if not self.has_change_permission(request, grid):
            raise PermissionDenied
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                apply(grid, form.cleaned_data)
            except ApiError as error:
                form.add_error(None, f"{error.message} {json.dumps(error.detail, ensure_ascii=False)}")
            else:
                messages.success(request, f"{title}：{grid.code} 已完成")
                return redirect("admin:territory_grid_change", grid.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{title} {grid}",
            "grid": grid,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/territory/grid/change_grid.html", context)

    def split_view(self, request, grid_id: int):
        def apply(grid, data):
            parts = data["parts"]
            if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
                raise ApiError("validation_error", detail={"parts": "a list of objects"})
            grid_split(
                grid=grid,
                parts=[
                    GridPart(p.get("code", ""), p.get("name", ""), p.get("polygon"), list(p.get("worker_ids", [])))
                    for p in parts
                ],
                by=request.user,
                reason=data["reason"],
            )

        return self._change(request, grid_id, GridSplitForm, "拆分网格", apply)

    def redraw_view(self, request, grid_id: int):
        def apply(grid, data):
            grid_redraw(grid=grid, polygon=data["polygon"], by=request.user, reason=data["reason"])

        return self._change(request, grid_id, GridRedrawForm, "重划网格边界", apply)


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
    """Splits and redraws are made from a grid's page or through the admin API
    (docs/administration.md); here they are read."""

    list_display = ["made_at", "kind", "grid", "made_by", "reason"]
    list_filter = ["kind"]
    list_select_related = ["grid", "made_by"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
