"""The demo address library at the seed's scale: 7,627 buildings (幢) and 222,800
unit addresses (户室) inside the demo grids, a share of them with aliases from the
power company and the housing office (一码多址). Rows are generated and streamed
through the importer, so the demo exercises the same path as a real import."""

from __future__ import annotations

import random
from collections.abc import Iterator

from backend.addresses.importer import ImportReport, import_addresses
from backend.addresses.models import Building
from backend.addresses.normalize import int_to_chinese
from backend.territory.demo import split_evenly
from backend.territory.models import Grid

BUILDINGS = 7_627
UNITS = 222_800
ALIAS_SHARE = 0.10
ESTATE_SUFFIXES = ["家园", "小区", "花苑", "新村", "公寓", "苑"]
ROAD_SUFFIXES = ["路", "街", "巷"]


def demo_rows(*, buildings: int = BUILDINGS, units: int = UNITS, seed: int = 7627) -> Iterator[tuple[int, dict]]:
    rng = random.Random(seed)
    grids = list(Grid.objects.select_related("community").order_by("code"))
    per_grid = split_evenly(buildings, len(grids))
    per_building = split_evenly(units, buildings)
    line = 0
    building_index = 0
    for grid, count in zip(grids, per_grid):
        (west, south), (east, north) = grid.polygon["coordinates"][0][0], grid.polygon["coordinates"][0][2]
        stem = grid.community.name.removesuffix("社区")
        road = f"{stem}{rng.choice(ROAD_SUFFIXES)}"
        estate = f"{stem}{grid.code[-2:]}{rng.choice(ESTATE_SUFFIXES)}"
        for number in range(1, count + 1):
            lng = west + (east - west) * rng.uniform(0.05, 0.95)
            lat = south + (north - south) * rng.uniform(0.05, 0.95)
            rooms = per_building[building_index]
            building_index += 1
            unit_count = 1 if rooms <= 20 else 2
            floors = -(-rooms // (unit_count * 2))
            made = 0
            for unit in range(1, unit_count + 1):
                for floor in range(1, floors + 1):
                    for door in (1, 2):
                        if made == rooms:
                            break
                        made += 1
                        line += 1
                        room = f"{floor}{door:02d}"
                        row = {
                            "road": road,
                            "number": str(number * 2 + int(grid.code[-3:]) * 100),
                            "estate": estate,
                            "building": f"{number}幢",
                            "unit": unit,
                            "floor": floor,
                            "room": room,
                            "lng": lng,
                            "lat": lat,
                        }
                        if rng.random() < ALIAS_SHARE:
                            if rng.random() < 0.5:
                                row.update(
                                    alias_source="power",
                                    alias_text=f"上城区{road}{row['number']}号{number}-{unit}-{room}",
                                )
                            else:
                                row.update(
                                    alias_source="housing",
                                    alias_text=f"{estate}{int_to_chinese(number)}栋{unit}单元{room}房",
                                )
                        yield line, row


def seed_addresses(*, buildings: int = BUILDINGS, units: int = UNITS, progress: bool = True) -> ImportReport | None:
    """Idempotent: does nothing when the library already has buildings."""
    if Building.objects.exists() or units <= 0:
        return None
    return import_addresses(demo_rows(buildings=buildings, units=units), progress=progress, total=units)
