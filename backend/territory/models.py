"""District 区 → street 街道 → community 社区 → grid 网格, plus departments and the
four platforms of each street.

Codes are hierarchical digits: district 6, then 3 each for street, community and
grid (``330102 001 004 012``), so a code's prefix names all its ancestors.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models


def code_validator(length: int) -> RegexValidator:
    return RegexValidator(rf"^\d{{{length}}}$", f"编码必须是{length}位数字 (code must be {length} digits)")


class District(models.Model):
    code = models.CharField("编码", max_length=6, unique=True, validators=[code_validator(6)])
    name = models.CharField("名称", max_length=64)

    class Meta:
        verbose_name = verbose_name_plural = "区"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class HierarchicalUnit(models.Model):
    """A unit whose code extends its parent's by three digits."""

    code = models.CharField("编码", max_length=15, unique=True)
    name = models.CharField("名称", max_length=64)

    parent_field: str = ""
    code_length: int = 0

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        parent = getattr(self, self.parent_field, None)
        code_validator(self.code_length)(self.code)
        if parent is not None and not self.code.startswith(parent.code):
            raise ValidationError({"code": f"编码必须以上级编码 {parent.code} 开头"})


class Street(HierarchicalUnit):
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="streets", verbose_name="区")
    parent_field = "district"
    code_length = 9

    class Meta(HierarchicalUnit.Meta):
        verbose_name = verbose_name_plural = "街道"


class Community(HierarchicalUnit):
    street = models.ForeignKey(Street, on_delete=models.PROTECT, related_name="communities", verbose_name="街道")
    parent_field = "street"
    code_length = 12

    class Meta(HierarchicalUnit.Meta):
        verbose_name = verbose_name_plural = "社区"


class Grid(HierarchicalUnit):
    """全科网格. ``polygon`` is a GeoJSON Polygon in WGS-84; the bounding box is kept
    beside it so a point lookup can discard most grids with an index."""

    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="grids", verbose_name="社区")
    polygon = models.JSONField("边界 (GeoJSON, WGS-84)")
    min_lng = models.FloatField(editable=False, default=0)
    min_lat = models.FloatField(editable=False, default=0)
    max_lng = models.FloatField(editable=False, default=0)
    max_lat = models.FloatField(editable=False, default=0)
    # Set when the grid is split (docs/administration.md, "Territory changes"): its
    # events keep it, new events and the point look-up go to the new grids.
    retired_at = models.DateTimeField("停用时间", null=True, blank=True)
    parent_field = "community"
    code_length = 15

    class Meta(HierarchicalUnit.Meta):
        verbose_name = verbose_name_plural = "网格"

    def clean(self) -> None:
        super().clean()
        from backend.territory.geometry import polygon_from_geojson

        try:
            polygon_from_geojson(self.polygon)
        except ValueError as error:
            raise ValidationError({"polygon": str(error)}) from None

    def save(self, *args, **kwargs) -> None:
        from backend.territory.geometry import bbox_of

        self.min_lng, self.min_lat, self.max_lng, self.max_lat = bbox_of(self.polygon)
        if "update_fields" in kwargs and kwargs["update_fields"] is not None and "polygon" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "min_lng", "min_lat", "max_lng", "max_lat"}
        super().save(*args, **kwargs)


class Department(models.Model):
    """职能部门 that stations staff at streets (下沉)."""

    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="departments", verbose_name="区")
    code = models.CharField("编码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=64)

    class Meta:
        verbose_name = verbose_name_plural = "职能部门"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class PlatformKind(models.TextChoices):
    GOVERNANCE = "governance", "综治工作"
    MARKET = "market", "市场监管"
    ENFORCEMENT = "enforcement", "综合执法"
    SERVICE = "service", "便民服务"


class Platform(models.Model):
    """One of the four platforms (四平台) of a street."""

    street = models.ForeignKey(Street, on_delete=models.PROTECT, related_name="platforms", verbose_name="街道")
    kind = models.CharField("平台", max_length=16, choices=PlatformKind.choices)

    class Meta:
        verbose_name = verbose_name_plural = "四平台"
        ordering = ["street__code", "kind"]
        constraints = [models.UniqueConstraint(fields=["street", "kind"], name="one_platform_kind_per_street")]

    def __str__(self) -> str:
        return f"{self.street.name}{self.get_kind_display()}平台"


class StationedUnit(models.Model):
    """下沉单位: a department's staff stationed at a street, working on one of its
    platforms. Handlers bound to it hold what is dispatched to it (its queue);
    the department is named so the district sees whose staff they are."""

    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="stationed_units", verbose_name="职能部门"
    )
    street = models.ForeignKey(Street, on_delete=models.PROTECT, related_name="stationed_units", verbose_name="街道")
    platform = models.ForeignKey(
        Platform, on_delete=models.PROTECT, related_name="stationed_units", verbose_name="所在平台"
    )
    name = models.CharField("名称", max_length=64)
    active = models.BooleanField("在用", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "下沉单位"
        ordering = ["street__code", "department__code"]
        constraints = [
            models.UniqueConstraint(fields=["department", "street"], name="one_stationed_unit_per_department_street")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.platform_id and self.street_id and self.platform.street_id != self.street_id:
            raise ValidationError({"platform": "平台必须属于该街道 (the platform must be of the street)"})
        if self.department_id and self.street_id and self.department.district_id != self.street.district_id:
            raise ValidationError({"department": "部门必须属于该街道所在的区"})


class GridChange(models.Model):
    """A grid split or redrawn (territory change), kept with who did it and why. The
    old grid stays (its events keep it); it is retired when split."""

    class Kind(models.TextChoices):
        SPLIT = "split", "拆分"
        REDRAW = "redraw", "重划边界"

    kind = models.CharField("类型", max_length=8, choices=Kind.choices)
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="changes", verbose_name="原网格")
    new_grids = models.ManyToManyField(Grid, related_name="created_by_changes", blank=True, verbose_name="新网格")
    old_polygon = models.JSONField("原边界")
    reason = models.CharField("原因", max_length=500, blank=True)
    made_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name="操作人"
    )
    made_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "网格调整"
        ordering = ["-made_at"]
