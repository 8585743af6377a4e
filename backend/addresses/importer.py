"""Import of the address library from CSV or GeoJSON (``import_addresses``).

One row per unit address (户室), with its building's fields repeated; optional alias
columns map another department's string onto that unit (一码多址). Rows stream in
batches: memory holds the buildings (thousands) and one batch of units, never the
file. Re-importing a file changes nothing; codes are stable because a building is
found again by its normalised road + number + estate + name.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.db import transaction
from tqdm import tqdm

from backend.addresses.entries import ENTRY_COLUMNS, alias_entry, building_entry, unit_entry, unit_text
from backend.addresses.models import AddressAlias, AddressEntry, AliasSource, Building, UnitAddress
from backend.addresses.normalize import normalize
from backend.fastpath.bulk import insert_rows
from backend.territory.coords import to_wgs84
from backend.territory.geometry import locate_grid_id
from backend.territory.models import Grid

REQUIRED = ("road", "number", "building", "unit", "room", "lng", "lat")
COLUMNS = (*REQUIRED, "estate", "floor", "crs", "building_code", "alias_source", "alias_text")
BATCH = 5000
ROOM = re.compile(r"^\d{1,4}$")


class Rejected(ValueError):
    pass


@dataclass
class ImportReport:
    rows: int = 0
    buildings_added: int = 0
    buildings_updated: int = 0
    buildings_unchanged: int = 0
    units_added: int = 0
    units_unchanged: int = 0
    aliases_added: int = 0
    aliases_unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"行 rows {self.rows}; 楼幢 buildings: 新增 added {self.buildings_added}, 更新 updated {self.buildings_updated}, "
            f"未变 unchanged {self.buildings_unchanged}; 户室 units: 新增 added {self.units_added}, 未变 unchanged "
            f"{self.units_unchanged}; 别名 aliases: 新增 added {self.aliases_added}, 未变 unchanged {self.aliases_unchanged}; "
            f"拒绝 rejected {len(self.rejected)}"
        )


def read_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(line or feature number, row) from .csv, .geojson, or line-delimited .geojsonl."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in REQUIRED if name not in (reader.fieldnames or [])]
            if missing:
                raise Rejected(f"CSV 缺少列 missing columns: {', '.join(missing)}")
            for number, row in enumerate(reader, start=2):
                yield number, row
    elif suffix in (".geojson", ".json"):
        # A FeatureCollection is one JSON value: it is read whole. Use CSV or
        # line-delimited GeoJSON (.geojsonl) for the district's full library.
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("type") != "FeatureCollection":
            raise Rejected("GeoJSON must be a FeatureCollection")
        for number, feature in enumerate(data.get("features", []), start=1):
            yield number, _feature_row(feature)
    elif suffix in (".geojsonl", ".geojsons", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield number, _feature_row(json.loads(line))
                    except json.JSONDecodeError:
                        yield number, {"_error": "unparseable: not JSON"}
    else:
        raise Rejected(f"unsupported file type {suffix!r}: use .csv, .geojson or .geojsonl")


def _feature_row(feature: dict) -> dict:
    try:
        geometry = feature["geometry"]
        if geometry["type"] != "Point":
            return {"_error": "unparseable: geometry is not a Point"}
        lng, lat = geometry["coordinates"][:2]
        return {**feature.get("properties", {}), "lng": lng, "lat": lat}
    except (KeyError, TypeError, ValueError):
        return {"_error": "unparseable: not a GeoJSON Point feature"}


@dataclass(frozen=True)
class Parsed:
    road: str
    number: str
    estate: str
    building: str
    unit: int
    floor: int
    room: str
    lat: float
    lng: float
    building_code: str
    alias_source: str
    alias_text: str

    @property
    def natural_key(self) -> str:
        return normalize(f"{self.road}{self.number}号{self.estate}{self.building}")


def parse(row: dict) -> Parsed:
    if "_error" in row:
        raise Rejected(row["_error"])
    values = {name: str(row.get(name) or "").strip() for name in COLUMNS}
    missing = [name for name in REQUIRED if not values[name]]
    if missing:
        raise Rejected(f"unparseable: missing {', '.join(missing)}")
    try:
        lat, lng = float(values["lat"]), float(values["lng"])
        unit = int(values["unit"])
    except ValueError:
        raise Rejected("unparseable: lat, lng and unit must be numbers") from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or not 0 < unit < 100:
        raise Rejected("unparseable: coordinates or unit out of range")
    room = normalize(values["room"])
    if not ROOM.match(room):
        raise Rejected(f"unparseable: room {values['room']!r}")
    try:
        floor = int(values["floor"]) if values["floor"] else max(int(room) // 100, 1)
    except ValueError:
        raise Rejected(f"unparseable: floor {values['floor']!r}") from None
    crs = (values["crs"] or "wgs84").lower()
    if crs not in ("wgs84", "gcj02"):
        raise Rejected(f"unparseable: crs {crs!r}")
    lat, lng = to_wgs84(lat=lat, lng=lng, crs=crs)
    building = normalize(values["building"])
    building = building if building.endswith("幢") else f"{building}幢"
    number = values["number"].removesuffix("号")
    source = values["alias_source"].lower()
    if values["alias_text"] and source not in AliasSource.values:
        raise Rejected(f"unparseable: alias_source {values['alias_source']!r}")
    code = values["building_code"]
    if code and not re.fullmatch(r"\d{19}", code):
        raise Rejected(f"unparseable: building_code {code!r} must be 19 digits")
    return Parsed(
        values["road"],
        number,
        values["estate"],
        building,
        unit,
        floor,
        room,
        lat,
        lng,
        code,
        source,
        values["alias_text"],
    )


class Library:
    """What the database holds, as the import needs it: buildings by natural key and
    by code, the next building number of each grid."""

    def __init__(self):
        self.buildings: dict[str, Building] = {b.natural_key: b for b in Building.objects.all()}
        self.codes: dict[str, str] = {b.code: key for key, b in self.buildings.items()}
        self.next_number: dict[int, int] = {}
        for building in self.buildings.values():
            number = int(building.code[15:])
            self.next_number[building.grid_id] = max(self.next_number.get(building.grid_id, 0), number)
        self.grids = {
            g.pk: (g.pk, g.community_id, g.community.street_id, g.code)
            for g in Grid.objects.select_related("community")
        }


def import_addresses(
    rows: Iterable[tuple[int, dict]], *, dry_run: bool = False, progress: bool = False, total: int | None = None
) -> ImportReport:
    report = ImportReport()
    library = Library()
    bar = tqdm(total=total, desc="addresses 地址", unit="row", disable=not progress, mininterval=0.5)
    rows = iter(rows)
    with transaction.atomic():
        while batch := list(islice(rows, BATCH)):
            with transaction.atomic():
                _import_batch(batch, library, report)
            report.rows += len(batch)
            bar.update(len(batch))
        if dry_run:
            transaction.set_rollback(True)
    bar.close()
    return report


def _import_batch(batch: list[tuple[int, dict]], library: Library, report: ImportReport) -> None:
    parsed: list[tuple[int, Parsed, Building]] = []
    for line, row in batch:
        try:
            item = parse(row)
            building = _resolve_building(item, library, report)
        except Rejected as error:
            report.rejected.append((line, str(error)))
            continue
        parsed.append((line, item, building))

    codes = {f"{b.code}{p.unit:02d}{p.floor:03d}{int(p.room):04d}" for _, p, b in parsed}
    units = {u.code: u for u in UnitAddress.objects.filter(code__in=codes)}
    seen_in_batch: set[str] = set()
    new_units, entries = [], []
    wanted_aliases: list[tuple[str, Parsed, Building]] = []
    for _, item, building in parsed:
        code = f"{building.code}{item.unit:02d}{item.floor:03d}{int(item.room):04d}"
        if code in units or code in seen_in_batch:
            if code not in seen_in_batch:
                report.units_unchanged += 1
                seen_in_batch.add(code)
        else:
            new_units.append(
                UnitAddress(building=building, code=code, unit=item.unit, floor=item.floor, room=item.room)
            )
            seen_in_batch.add(code)
        if item.alias_text:
            wanted_aliases.append((code, item, building))
    UnitAddress.objects.bulk_create(new_units, batch_size=1000)
    report.units_added += len(new_units)
    for unit in new_units:
        units[unit.code] = unit
        building = unit.building
        entries.append(
            unit_entry(
                building_id=building.pk,
                unit_id=unit.pk,
                grid=library.grids[building.grid_id][:3],
                code=unit.code,
                text=unit_text(building.standard_address, unit.unit, unit.room),
                lat=building.lat,
                lng=building.lng,
            )
        )

    if wanted_aliases:
        unit_ids = {units[code].pk for code, _, _ in wanted_aliases}
        existing = set(AddressAlias.objects.filter(unit_id__in=unit_ids).values_list("unit_id", "source", "text"))
        new_aliases = []
        for code, item, building in wanted_aliases:
            key = (units[code].pk, item.alias_source, item.alias_text)
            if key in existing:
                report.aliases_unchanged += 1
                continue
            existing.add(key)
            new_aliases.append(
                (AddressAlias(unit=units[code], source=item.alias_source, text=item.alias_text), building)
            )
        AddressAlias.objects.bulk_create([alias for alias, _ in new_aliases], batch_size=1000)
        report.aliases_added += len(new_aliases)
        for alias, building in new_aliases:
            unit = alias.unit
            entries.append(
                alias_entry(
                    building_id=building.pk,
                    unit_id=unit.pk,
                    alias_id=alias.pk,
                    grid=library.grids[building.grid_id][:3],
                    code=unit.code,
                    text=alias.text,
                    standard=unit_text(building.standard_address, unit.unit, unit.room),
                    source=alias.source,
                    lat=building.lat,
                    lng=building.lng,
                )
            )
    if entries:
        insert_rows(AddressEntry, ENTRY_COLUMNS, entries)


def _resolve_building(item: Parsed, library: Library, report: ImportReport) -> Building:
    key = item.natural_key
    building = library.buildings.get(key)
    if (
        building is not None
        and getattr(building, "_counted", False)
        and (building.lng, building.lat) == (item.lng, item.lat)
    ):
        grid_id = building.grid_id  # a flat of a building placed earlier in this import, at its point
    else:
        grid_id = locate_grid_id(item.lng, item.lat)
    if grid_id is None:
        raise Rejected(f"outside every grid: ({item.lat:.6f}, {item.lng:.6f})")
    if item.building_code:
        owner = library.codes.get(item.building_code)
        if owner is not None and owner != key:
            raise Rejected(f"duplicate code: {item.building_code} belongs to another building")
        if building is not None and building.code != item.building_code:
            raise Rejected(f"duplicate code: this building already has code {building.code}")
        if not item.building_code.startswith(library.grids[grid_id][3]):
            raise Rejected(
                f"building_code {item.building_code} does not extend its grid's code {library.grids[grid_id][3]}"
            )
    if building is None:
        code = item.building_code or _next_code(grid_id, library)
        building = Building.objects.create(
            code=code,
            name=item.building,
            road=item.road,
            number=item.number,
            estate=item.estate,
            lat=item.lat,
            lng=item.lng,
            grid_id=grid_id,
            natural_key=key,
        )
        library.buildings[key] = building
        library.codes[code] = key
        insert_rows(
            AddressEntry,
            ENTRY_COLUMNS,
            [
                building_entry(
                    building_id=building.pk,
                    grid=library.grids[grid_id][:3],
                    code=code,
                    standard=building.standard_address,
                    lat=building.lat,
                    lng=building.lng,
                )
            ],
        )
        report.buildings_added += 1
        building._counted = True
    elif not getattr(building, "_counted", False):
        moved = abs(building.lat - item.lat) > 1e-7 or abs(building.lng - item.lng) > 1e-7
        if moved:
            # The code stays: a building that moved (a survey correction) keeps its identity.
            building.lat, building.lng, building.grid_id = item.lat, item.lng, grid_id
            building.save(update_fields=["lat", "lng", "grid"])
            AddressEntry.objects.filter(building=building).update(
                lat=item.lat,
                lng=item.lng,
                grid_id=grid_id,
                community_id=library.grids[grid_id][1],
                street_id=library.grids[grid_id][2],
            )
            report.buildings_updated += 1
        else:
            report.buildings_unchanged += 1
        building._counted = True
    return building


def _next_code(grid_id: int, library: Library) -> str:
    number = library.next_number.get(grid_id, 0) + 1
    if number > 9999:
        raise Rejected("the grid has no building numbers left")
    library.next_number[grid_id] = number
    return f"{library.grids[grid_id][3]}{number:04d}"
