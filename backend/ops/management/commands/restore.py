"""python manage.py restore DIR   (make restore FROM=DIR)

Restores into the configured database, which must be empty (a fresh one: point
DATABASE_URL at it), and the configured photo store; then compares."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from backend.ops.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = "从备份恢复到空数据库并核对 (restore a backup into an empty database and compare)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory", help="a backup directory written by `make backup`")

    def handle(self, *args, directory: str, **options) -> None:
        database = connections["default"].settings_dict
        connections["default"].close()
        try:
            result = backup_restore(directory=Path(directory), database=database, media_root=settings.MEDIA_ROOT)
        except BackupError as error:
            raise CommandError(str(error)) from None
        if result.mismatches:
            raise CommandError("恢复结果与备份不一致 restore differs from the backup:\n" + "\n".join(result.mismatches))
        self.stdout.write(
            f"恢复完成并核对一致 restored and compared: {result.tables} tables, {result.rows} rows, "
            f"{result.media_files} photo files, all equal to the backup"
        )
