"""Run inside Django (``manage.py shell``) by bench/addresses.py: writes the demo
library as an import file with realistic query variants, or times point-to-grid
lookups in process."""

from __future__ import annotations

import csv
import json
import random
import time

from backend.addresses.demo import demo_rows
from backend.addresses.importer import COLUMNS
from backend.addresses.normalize import int_to_chinese


def write_import_file(path: str, queries_path: str) -> None:
    rng = random.Random(222800)
    queries = []
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for _, row in demo_rows():
            writer.writerow({name: row.get(name, "") for name in COLUMNS})
            if rng.random() < 0.001:
                number = int(row["building"].removesuffix("幢"))
                queries += [
                    f"{row['road']}{row['number']}号{row['estate']}{row['building']}{row['unit']}单元{row['room']}室",
                    f"{row['estate']}{int_to_chinese(number)}栋{int_to_chinese(row['unit'])}单元{row['room']}",
                    f"上城区{row['estate']}{number}-{row['unit']}-{row['room']}",
                    f"{row['road']}{row['number']}号 {number}号楼{row['unit']}单元{row['room']}房",
                ]
    with open(queries_path, "w", encoding="utf-8") as handle:
        json.dump(queries, handle, ensure_ascii=False)


def time_locate(count: int = 100_000) -> None:
    from backend.territory.demo import CELL_LAT, CELL_LNG, ORIGIN_LAT, ORIGIN_LNG
    from backend.territory.demo import COLUMNS as GRID_COLUMNS
    from backend.territory.geometry import grid_index

    rng = random.Random(1)
    points = [
        (
            ORIGIN_LNG + rng.uniform(-0.01, GRID_COLUMNS * CELL_LNG + 0.01),
            ORIGIN_LAT + rng.uniform(-0.01, 14 * CELL_LAT),
        )
        for _ in range(count)
    ]
    index = grid_index()
    started = time.perf_counter()
    found = sum(1 for lng, lat in points if index.locate(lng, lat) is not None)
    elapsed = time.perf_counter() - started
    print(json.dumps({"locate_per_s": count / elapsed, "inside_share": found / count}))
