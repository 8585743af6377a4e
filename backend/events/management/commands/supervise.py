"""python manage.py supervise [--loop] [--interval S]

The supervision job (督办). Once by default; with --loop it runs every
SUPERVISION_INTERVAL_SECONDS (the production worker, and `make run`)."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from backend.events.supervision import supervision_tick


class Command(BaseCommand):
    help = "督办：标记超期、自动催办、逐级升级 (mark overdue, urge, escalate)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--interval", type=int, default=None)

    def handle(self, *args, loop: bool, interval: int | None, **options) -> None:
        interval = interval or settings.SUPERVISION["INTERVAL_SECONDS"]
        while True:
            result = supervision_tick()
            if result.marked_overdue or result.escalated or result.evidence_overdue or not loop:
                self.stdout.write(
                    f"督办: 新超期 {result.marked_overdue}, 自动升级 {result.escalated}, "
                    f"照片超时转审核 {result.evidence_overdue} "
                    f"(overdue {result.marked_overdue}, escalated {result.escalated}, "
                    f"evidence overdue {result.evidence_overdue})"
                )
            if not loop:
                return
            time.sleep(interval)
            close_old_connections()  # a long-lived process must not keep a broken or stale connection
