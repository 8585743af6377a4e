"""python manage.py backup [--to DIR]   (make backup)"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backend.ops.backup import BackupError, backup_create


class Command(BaseCommand):
    help = "备份数据库与照片库 (back up the database and the photo store)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--to", default=str(settings.DATA_DIR / "backups"), help="directory for backups")

    def handle(self, *args, to: str, **options) -> None:
        try:
            result = backup_create(to=Path(to))
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"备份完成 backup written: {result.directory} "
            f"({result.tables} tables, {result.rows} rows, {result.media_files} photo files)"
        )
