"""统一地址库: buildings (幢), unit addresses (户室) with codes extending their
building's, and aliases from other departments mapped to one standard code
(一码多址). ``AddressEntry`` is the search table: one row per searchable string."""

from __future__ import annotations

from django.db import models

from backend.territory.models import Community, Grid, Street


class Building(models.Model):
    """Code: the grid's 15 digits + a 4-digit building number (19 digits)."""

    code = models.CharField("编码", max_length=19, unique=True)
    name = models.CharField("幢名", max_length=32, help_text="e.g. 3幢")
    road = models.CharField("道路", max_length=64)
    number = models.CharField("门牌号", max_length=16)
    estate = models.CharField("小区", max_length=64, blank=True)
    lat = models.FloatField("纬度 (WGS-84)")
    lng = models.FloatField("经度 (WGS-84)")
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="buildings", verbose_name="网格")
    natural_key = models.CharField(
        max_length=200,
        unique=True,
        editable=False,
        help_text="normalised road+number+estate+building: how a re-import finds it",
    )

    class Meta:
        verbose_name = verbose_name_plural = "楼幢"
        ordering = ["code"]
        indexes = [models.Index(fields=["lat", "lng"], name="building_position")]

    def __str__(self) -> str:
        return self.standard_address

    @property
    def standard_address(self) -> str:
        return f"{self.road}{self.number}号{self.estate}{self.name}"


class UnitAddress(models.Model):
    """Code: the building's 19 digits + unit (2) + floor (3) + room (4) = 28 digits."""

    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="units", verbose_name="楼幢")
    code = models.CharField("编码", max_length=28, unique=True)
    unit = models.PositiveSmallIntegerField("单元")
    floor = models.SmallIntegerField("楼层")
    room = models.CharField("室号", max_length=8)

    class Meta:
        verbose_name = verbose_name_plural = "户室地址"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.building.standard_address}{self.unit}单元{self.room}室"


class AliasSource(models.TextChoices):
    POWER = "power", "电力"
    HOUSING = "housing", "住建/房管"
    POLICE = "police", "公安"
    WATER = "water", "水务"
    GAS = "gas", "燃气"
    OTHER = "other", "其他"


class AddressAlias(models.Model):
    """Another department's string for a standard address (一码多址)."""

    unit = models.ForeignKey(UnitAddress, on_delete=models.CASCADE, related_name="aliases", verbose_name="户室地址")
    source = models.CharField("来源", max_length=16, choices=AliasSource.choices)
    text = models.CharField("地址文本", max_length=200)

    class Meta:
        verbose_name = verbose_name_plural = "地址别名"
        constraints = [models.UniqueConstraint(fields=["unit", "source", "text"], name="unique_alias")]

    def __str__(self) -> str:
        return f"{self.get_source_display()}: {self.text}"


class EntryKind(models.TextChoices):
    BUILDING = "building", "楼幢"
    UNIT = "unit", "户室"
    ALIAS = "alias", "别名"


class AddressEntry(models.Model):
    """One searchable string. ``normalized`` carries a trigram index: pg_trgm (GIN) on
    PostgreSQL, an FTS5 trigram table kept by triggers on SQLite (migration 0002)."""

    kind = models.CharField(max_length=8, choices=EntryKind.choices)
    building = models.ForeignKey(Building, on_delete=models.CASCADE, related_name="+")
    unit = models.ForeignKey(UnitAddress, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    alias = models.OneToOneField(AddressAlias, null=True, blank=True, on_delete=models.CASCADE, related_name="entry")
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="+")
    street = models.ForeignKey(Street, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=28, help_text="the standard code: the unit's, or the building's")
    text = models.CharField(max_length=200, help_text="the string as written (for an alias, the other source's)")
    standard = models.CharField(max_length=200, help_text="the standard address it maps to")
    lat = models.FloatField()
    lng = models.FloatField()
    source = models.CharField(max_length=16, blank=True)
    normalized = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(fields=["normalized"], name="address_entry_normalized")]
