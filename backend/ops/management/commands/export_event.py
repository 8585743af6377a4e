"""python manage.py export_event NUMBER [--out FILE]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backend.events.models import Event
from backend.ops.archive import export_event


class Command(BaseCommand):
    help = "导出一件事件及其历史与照片证据为可离线核验的归档 (export one event as a verifiable archive)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("number", help="the event's number (事件编号)")
        parser.add_argument("--out", help="the archive's path (default event-<number>.zip)")

    def handle(self, *args, number: str, out: str | None, **options) -> None:
        event = Event.objects.select_related("category", "grid").filter(number=number).first()
        if event is None:
            raise CommandError(f"没有编号为 {number} 的事件 no event numbered {number}")
        path = Path(out or f"event-{number}.zip")
        digest = export_event(event, path)
        self.stdout.write(f"已导出 exported: {path} (sha256 {digest})")
        self.stdout.write(f"核验 verify offline: python -m backend.ops.archive_verify {path}")
