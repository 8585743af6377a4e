"""The demo district, shaped like the seed: Shangcheng (上城区, 330102) with 6 streets,
54 communities and 260 grids laid out as a lattice of non-overlapping rectangles
around the real district's centre."""

from __future__ import annotations

from dataclasses import dataclass

from backend.territory.models import (
    Community,
    Department,
    District,
    Grid,
    Platform,
    PlatformKind,
    StationedUnit,
    Street,
)

DISTRICT = ("330102", "上城区")
STREETS = ["清波街道", "湖滨街道", "小营街道", "南星街道", "紫阳街道", "望江街道"]
COMMUNITY_STEMS = [
    "清波门",
    "柳翠井巷",
    "劳动路",
    "河坊街",
    "大井巷",
    "定安路",
    "吴山",
    "荷花池",
    "清河坊",
    "东坡路",
    "岳王路",
    "青年路",
    "涌金门",
    "湖滨晴雨",
    "学士",
    "吴山路",
    "龙翔桥",
    "东平巷",
    "小营巷",
    "葵巷",
    "茅廊巷",
    "长寿桥",
    "西牌楼",
    "马市街",
    "大学路",
    "金钱巷",
    "姚园寺",
    "复兴",
    "馒头山",
    "海潮",
    "凤凰山",
    "美政桥",
    "江城",
    "梵天寺",
    "水澄桥",
    "南星桥",
    "紫阳",
    "十五奎巷",
    "察院前",
    "春江",
    "近江",
    "华家池",
    "新工",
    "甬江",
    "婺江",
    "望江",
    "始版桥",
    "近江东园",
    "金鸡岭",
    "清泰",
    "秋涛",
    "三堡",
    "机神",
    "新塘",
]
DEPARTMENTS = [
    ("police", "区公安分局"),
    ("market", "区市场监管局"),
    ("enforcement", "区综合行政执法局"),
    ("housing", "区住建局"),
    ("civil", "区民政局"),
    ("health", "区卫健局"),
    ("environment", "区生态环境分局"),
    ("fire", "区消防救援大队"),
    ("justice", "区司法局"),
]
GRID_COUNT = 260
COLUMNS = 20
ORIGIN_LNG, ORIGIN_LAT = 120.150, 30.220
CELL_LNG, CELL_LAT = 0.004, 0.003


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` whole numbers differing by at most one, larger first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def cell_polygon(index: int) -> dict:
    row, column = divmod(index, COLUMNS)
    west = round(ORIGIN_LNG + column * CELL_LNG, 6)
    south = round(ORIGIN_LAT + row * CELL_LAT, 6)
    east = round(west + CELL_LNG, 6)
    north = round(south + CELL_LAT, 6)
    return {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    }


def cell_centre(index: int) -> tuple[float, float]:
    row, column = divmod(index, COLUMNS)
    return ORIGIN_LNG + (column + 0.5) * CELL_LNG, ORIGIN_LAT + (row + 0.5) * CELL_LAT


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def count(self, created: bool, changed: bool) -> None:
        if created:
            self.created += 1
        elif changed:
            self.updated += 1
        else:
            self.unchanged += 1


def upsert(model, tally: Tally, lookup: dict, values: dict):
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = model(**lookup, **values)
        obj.save()
        tally.count(True, False)
        return obj
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if changed:
        for name in changed:
            setattr(obj, name, values[name])
        obj.save()
    tally.count(False, bool(changed))
    return obj


def seed_territory(tally: Tally) -> District:
    district = upsert(District, tally, {"code": DISTRICT[0]}, {"name": DISTRICT[1]})
    for code, name in DEPARTMENTS:
        upsert(Department, tally, {"code": code}, {"name": name, "district": district})
    communities_per_street = split_evenly(len(COMMUNITY_STEMS), len(STREETS))
    grids_per_community = split_evenly(GRID_COUNT, len(COMMUNITY_STEMS))
    community_index = 0
    cell = 0
    for street_number, street_name in enumerate(STREETS, start=1):
        street = upsert(
            Street, tally, {"code": f"{district.code}{street_number:03d}"}, {"name": street_name, "district": district}
        )
        for kind in PlatformKind.values:
            upsert(Platform, tally, {"street": street, "kind": kind}, {})
        for community_number in range(1, communities_per_street[street_number - 1] + 1):
            stem = COMMUNITY_STEMS[community_index]
            community = upsert(
                Community,
                tally,
                {"code": f"{street.code}{community_number:03d}"},
                {"name": f"{stem}社区", "street": street},
            )
            for grid_number in range(1, grids_per_community[community_index] + 1):
                upsert(
                    Grid,
                    tally,
                    {"code": f"{community.code}{grid_number:03d}"},
                    {"name": f"{stem}第{grid_number}网格", "community": community, "polygon": cell_polygon(cell)},
                )
                cell += 1
            community_index += 1
    seed_stationed_units(district, tally)
    return district


# 下沉: the enforcement bureau's squadron at the first street, on its 综合执法 platform.
STATIONED_UNITS = [("enforcement", 1, PlatformKind.ENFORCEMENT, "综合执法局清波中队")]


def seed_stationed_units(district: District, tally: Tally) -> None:
    for department_code, street_number, kind, name in STATIONED_UNITS:
        street = Street.objects.get(code=f"{district.code}{street_number:03d}")
        upsert(
            StationedUnit,
            tally,
            {"department": Department.objects.get(code=department_code), "street": street},
            {"name": name, "platform": Platform.objects.get(street=street, kind=kind)},
        )
