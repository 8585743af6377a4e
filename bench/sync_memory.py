"""The server's peak Python allocation while serving full syncs page by page
(pages of 1,000), for one grid and for a whole street's grids. Printed as JSON."""

from __future__ import annotations

import json
import os
import tracemalloc

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
django.setup()

from backend.accounts.models import Device, User  # noqa: E402
from sync.pull import render_page, sync_pull  # noqa: E402


def peak_kb(username: str) -> tuple[float, int]:
    user = User.objects.get(username=username)
    device = Device.objects.filter(user=user).first()
    sync_pull(user=user, device=device, cursor=None, limit=10)  # imports and caches outside the measurement
    tracemalloc.start()
    cursor, total, peak = None, 0, 0
    while True:
        tracemalloc.reset_peak()
        page = sync_pull(user=user, device=device, cursor=cursor, limit=1000)
        render_page(page)  # what the route writes
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        total += len(page["changes"])
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    tracemalloc.stop()
    return peak / 1024, total


grid_peak, grid_changes = peak_kb("demo_grid_worker")
wide_peak, wide_changes = peak_kb("bench_wide")
print(
    json.dumps(
        {
            "initial_sync_peak_kb": grid_peak,
            "initial_sync_memory_changes": grid_changes,
            "wide_sync_peak_kb": wide_peak,
            "wide_sync_memory_changes": wide_changes,
        }
    )
)
