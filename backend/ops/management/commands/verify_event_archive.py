"""python manage.py verify_event_archive FILE  (the same as python -m backend.ops.archive_verify FILE)"""

from django.core.management.base import BaseCommand, CommandError

from backend.ops.archive_verify import verify_archive


class Command(BaseCommand):
    help = "离线核验事件归档 (verify an event archive: manifest, hash chain, photo digests)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("archive")

    def handle(self, *args, archive: str, **options) -> None:
        problems = verify_archive(archive)
        if problems:
            raise CommandError("归档不完好 the archive is not intact:\n" + "\n".join(problems))
        self.stdout.write("✓ 完好 intact: every file, history row, link and photo digest checks")
