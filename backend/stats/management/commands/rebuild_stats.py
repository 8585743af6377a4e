"""python manage.py rebuild_stats: every KPI fact and colour again from the raw events."""

import time

from django.core.management.base import BaseCommand

from backend.stats.services import stats_rebuild


class Command(BaseCommand):
    help = "重算全部统计事实与五色预警 (rebuild every KPI fact and colour from the events)"

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        count = stats_rebuild()
        self.stdout.write(f"统计重建 rebuilt: {count} events in {time.monotonic() - started:.1f} s")
