"""``python manage.py import_calendar FILE [--note TEXT]``: store the years a file of
dates gives (each year in the file replaces that year whole). Format: docs/administration.md."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from backend.accounts.models import User
from backend.administration.calendar import parse_calendar, store_year
from backend.administration.models import CalendarSource, CalendarYear
from backend.core.audit import audit_change

MAX_FILE_BYTES = 256 * 1024


class Command(BaseCommand):
    help = "导入法定节假日与调休安排（每行一个日期或日期段） Import holidays and adjusted working days"

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="UTF-8 text file; '-' reads standard input")
        parser.add_argument("--note", default="", help="e.g. the State Council notice's number")
        parser.add_argument("--user", default="", help="the account recorded in the audit (default: none)")
        parser.add_argument("--dry-run", action="store_true", help="check the file and print what it holds")

    def handle(self, *args, file: str, note: str, user: str, dry_run: bool, **options) -> None:
        import sys

        path = Path(file)
        if file != "-" and (not path.is_file() or path.stat().st_size > MAX_FILE_BYTES):
            raise CommandError(f"{file}: not a readable file of at most {MAX_FILE_BYTES} bytes")
        text = sys.stdin.read(MAX_FILE_BYTES) if file == "-" else path.read_text(encoding="utf-8")
        try:
            years = parse_calendar(text)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if not years:
            raise CommandError(f"{file}: no dates")
        actor = None
        if user:
            actor = User.objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"no account {user!r}")
        for year, days in sorted(years.items()):
            holidays = sum(1 for _, kind, _ in days if kind == "holiday")
            line = f"{year}: {holidays} holidays, {len(days) - holidays} adjusted working days"
            if dry_run:
                self.stdout.write(f"{line} (dry run, not stored)")
                continue
            with transaction.atomic():
                existed = CalendarYear.objects.filter(year=year).exists()
                entry = store_year(year, days, source=CalendarSource.IMPORT, note=note or f"imported from {path.name}")
                if actor is not None:
                    audit_change(actor, entry, "change" if existed else "add", f"导入 {year} 年节假日与调休安排")
            self.stdout.write(f"{line} stored")
