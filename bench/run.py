"""make bench [BENCH=group] [BENCH_DB=sqlite|postgres]

Runs benchmark groups against real server processes and writes
bench/results/<group>.json. Figures and ratios are printed."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Bench, print_figures, running, write_results  # noqa: E402

GROUPS = [
    "api",
    "events",
    "addresses",
    "push",
    "media",
    "sync",
    "peers",
    "residents",
    "intake",
    "kpis",
    "console",
    "scale",
]


def main(argv: list[str]) -> int:
    wanted = argv[1] if len(argv) > 1 else "all"
    groups = GROUPS if wanted == "all" else [wanted]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        print(f"unknown benchmark group {unknown[0]!r}; groups: {', '.join(GROUPS)}", file=sys.stderr)
        return 2
    database = os.environ.get("BENCH_DB", "sqlite")
    if database not in ("sqlite", "postgres"):
        print("BENCH_DB must be sqlite or postgres", file=sys.stderr)
        return 2
    for group in groups:
        module = importlib.import_module(f"bench.{group}")
        print(f"[{group}] preparing a fresh {database} database with the demo district…", flush=True)
        with running(Bench.prepare(database)) as bench:
            figures = module.run(bench)
        print_figures(group, figures)
        path = write_results(group, database, figures)
        print(f"  -> {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
