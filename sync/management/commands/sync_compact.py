"""python manage.py sync_compact [--days N]

Purge tombstones older than N days (default 30). Phones whose cursor is older answer
``expired_cursor`` and resync; up-to-date phones are not affected."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from sync.changes import purge_tombstones

DEFAULT_DAYS = 30


class Command(BaseCommand):
    help = "清理过期的删除标记 Purge old tombstones from the sync change log"

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days", type=int, default=DEFAULT_DAYS, help=f"keep tombstones this many days (default {DEFAULT_DAYS})"
        )

    def handle(self, *args, days: int, **options) -> None:
        if days < 1:
            raise CommandError("--days must be at least 1")
        purged = purge_tombstones(older_than=timedelta(days=days))
        self.stdout.write(f"已清理删除标记 purged {purged} tombstones older than {days} days")
