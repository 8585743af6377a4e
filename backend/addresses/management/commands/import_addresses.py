"""python manage.py import_addresses FILE [--dry-run] [--report rejected.csv]

Imports unit addresses (and aliases) from CSV, GeoJSON or line-delimited GeoJSON;
see docs/addresses.md for the format and docs/samples/addresses-sample.csv."""

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backend.addresses.importer import Rejected, import_addresses, read_rows

SHOWN_REJECTIONS = 20


class Command(BaseCommand):
    help = "导入统一地址库 (import the unified address library)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        parser.add_argument("--report", type=Path, help="write every rejected row (line, reason) to this CSV")

    def handle(self, *args, file: Path, dry_run: bool, report: Path | None, **options) -> None:
        if not file.exists():
            raise CommandError(f"{file}: no such file")
        total = None
        if file.suffix.lower() == ".csv":
            with file.open(encoding="utf-8-sig") as handle:
                total = max(sum(1 for _ in handle) - 1, 0)
        try:
            result = import_addresses(read_rows(file), dry_run=dry_run, progress=options["verbosity"] > 0, total=total)
        except Rejected as error:
            raise CommandError(str(error)) from None
        prefix = "试运行（未写入）dry run, nothing written: " if dry_run else ""
        self.stdout.write(self.style.SUCCESS(prefix + result.summary()))
        for line, reason in result.rejected[:SHOWN_REJECTIONS]:
            self.stdout.write(f"  第 {line} 行 line {line}: {reason}")
        if len(result.rejected) > SHOWN_REJECTIONS:
            self.stdout.write(
                f"  … {len(result.rejected) - SHOWN_REJECTIONS} more" + ("" if report else " (use --report FILE)")
            )
        if report:
            with report.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["line", "reason"])
                writer.writerows(result.rejected)
