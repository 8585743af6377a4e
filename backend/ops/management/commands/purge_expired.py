"""python manage.py purge_expired [--dry-run]  (the worker runs it daily)"""

from django.core.management.base import BaseCommand

from backend.ops.retention import purge_expired


class Command(BaseCommand):
    help = "按保留期限清理过期数据 (purge what the retention rules let go: docs/operations.md)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count only")

    def handle(self, *args, dry_run: bool, **options) -> None:
        result = purge_expired(dry_run=dry_run)
        verb = "可清理 would purge" if dry_run else "已清理 purged"
        self.stdout.write(
            f"{verb}: {result.patrol_tracks} patrol tracks, {result.access_log_rows} access-log rows, "
            f"{result.tombstones} sync tombstones"
        )
