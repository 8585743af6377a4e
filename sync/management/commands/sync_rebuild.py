"""python manage.py sync_rebuild

Rewrite the sync change log from the tables (after a bulk load outside the ORM, or to
adopt sync on an existing database). Starts a new epoch: every phone resyncs."""

from django.core.management.base import BaseCommand

from sync.changes import rebuild_log


class Command(BaseCommand):
    help = "重建同步变更日志 Rewrite the sync change log (every phone's cursor resets)"

    def handle(self, *args, **options) -> None:
        written = rebuild_log(progress=options.get("verbosity", 1) > 0)
        self.stdout.write(self.style.SUCCESS(f"同步变更日志已重建 change log rebuilt: {written} entities"))
