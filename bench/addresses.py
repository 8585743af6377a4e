"""Group ``addresses``, at the seed's scale (7,627 buildings, 222,800 unit addresses):

- ``import_222800_s``: ``import_addresses`` of the demo library written as CSV, into
  an empty library (wall time of the command);
- ``search_p50_ms`` / ``search_p95_ms``: ``GET /api/v1/addresses/search`` over 800+
  realistic queries (full addresses, Chinese numerals, dashes, 栋/号楼, prefixes),
  sequential requests to the production HTTP layout, as the district commander;
- ``locate_per_s``: point-to-grid lookups per second in process (the STRtree).
Search latencies are compared with ``GET /api/v1/me`` timed the same way."""

from __future__ import annotations

import json
import statistics
import time
import urllib.parse
import urllib.request

from bench.common import ROOT, Bench, Figure

CSV_PATH = ROOT / "var" / "bench-addresses.csv"
QUERIES_PATH = ROOT / "var" / "bench-address-queries.json"


def _shell(bench: Bench, code: str) -> str:
    return bench.manage("shell", "-c", code)


def _timed_get(url: str, token: str) -> tuple[float, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request) as response:
        body = response.read()
    return (time.perf_counter() - started) * 1000, body


def run(bench: Bench) -> dict[str, Figure]:
    _shell(
        bench,
        f"from bench.addresses_tool import write_import_file; write_import_file({str(CSV_PATH)!r}, {str(QUERIES_PATH)!r})",
    )
    started = time.monotonic()
    summary = bench.manage("import_addresses", str(CSV_PATH), "-v0")
    import_seconds = time.monotonic() - started
    if "units: 新增 added 222800" not in summary.replace("户室 ", ""):
        raise RuntimeError(f"the import did not add every unit: {summary}")
    locate = json.loads(
        _shell(bench, "from bench.addresses_tool import time_locate; time_locate()").strip().splitlines()[-1]
    )

    base = bench.start_http()
    token = bench.login(base, "demo_commander")
    queries = json.loads(QUERIES_PATH.read_text(encoding="utf-8"))
    for query in queries[:20]:  # warm-up
        _timed_get(f"{base}/api/v1/addresses/search?{urllib.parse.urlencode({'q': query})}", token)
    timings, found = [], 0
    for query in queries:
        elapsed, body = _timed_get(f"{base}/api/v1/addresses/search?{urllib.parse.urlencode({'q': query})}", token)
        timings.append(elapsed)
        found += bool(json.loads(body))
    me_timings = [_timed_get(f"{base}/api/v1/me", token)[0] for _ in range(100)]
    timings.sort()
    return {
        "import_222800_s": Figure(import_seconds, "s"),
        "import_rows_per_s": Figure(222_800 / import_seconds, "rows/s"),
        "search_queries": Figure(len(queries), "queries"),
        "search_found_share": Figure(found / len(queries), "share"),
        "me_sequential_p50_ms": Figure(statistics.median(me_timings), "ms"),
        "search_p50_ms": Figure(statistics.median(timings), "ms", baseline="me_sequential_p50_ms"),
        "search_p95_ms": Figure(timings[int(len(timings) * 0.95) - 1], "ms", baseline="me_sequential_p50_ms"),
        "locate_per_s": Figure(locate["locate_per_s"], "lookups/s"),
    }
