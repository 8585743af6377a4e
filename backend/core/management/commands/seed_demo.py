"""python manage.py seed_demo [--password P] [--if-empty]

Loads the demo district, catalogue and accounts; sets --password on the demo accounts,
existing ones too. Idempotent: a second run with the same password changes
nothing. Refuses to run in production mode."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from backend.accounts.demo import DEFAULT_PASSWORD, seed_accounts
from backend.addresses.demo import BUILDINGS, UNITS, seed_addresses
from backend.events.catalogue import seed_catalogue
from backend.events.demo import seed_events
from backend.intake.demo import seed_intake
from backend.patrols.demo import seed_key_subjects
from backend.territory.demo import Tally, seed_territory
from backend.territory.models import District
from sync.changes import rebuild_log, stamp_changes
from sync.models import Change


class Command(BaseCommand):
    help = "加载演示数据 Load the demo district, catalogue and one account per role"

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--password",
            default=None,
            help=f"demo accounts' password, set on existing accounts too (new accounts: {DEFAULT_PASSWORD})",
        )
        parser.add_argument("--if-empty", action="store_true", help="do nothing when a district already exists")
        parser.add_argument(
            "--addresses",
            type=int,
            default=222_800,
            metavar="N",
            help="unit addresses of the demo library (default the seed's 222,800; 0 for none)",
        )
        parser.add_argument(
            "--events",
            type=int,
            default=0,
            metavar="N",
            help="top the demo history up to N events over the past year (the seed's year: 175591)",
        )

    def handle(self, *args, password: str | None, if_empty: bool, events: int, addresses: int, **options) -> None:
        if settings.CONFIG.is_production:
            raise CommandError("seed_demo refuses to run in production mode (DJANGO_ENV=production)")
        if password is not None and len(password) < 8:
            raise CommandError("--password must be at least 8 characters")
        if events < 0 or events > 2_000_000:
            raise CommandError("--events must be between 0 and 2,000,000")
        if District.objects.exists() and not Change.objects.exists():
            # A database from before offline sync: write its change log once.
            self.stdout.write(
                f"同步变更日志 sync change log: {rebuild_log(progress=options.get('verbosity', 1) > 0)} rows"
            )
        if if_empty and District.objects.exists():
            self.stdout.write("数据库已有数据，跳过演示数据 (database not empty, demo data skipped)")
            return
        tally = Tally()
        with transaction.atomic():
            district = seed_territory(tally)
            seed_catalogue(tally)
            accounts = seed_accounts(district, password=password, tally=tally)
            seed_key_subjects()
        self.stdout.write(
            self.style.SUCCESS(
                f"演示数据: 新建 {tally.created}, 更新 {tally.updated}, 未变 {tally.unchanged} "
                f"(created {tally.created}, updated {tally.updated}, unchanged {tally.unchanged})"
            )
        )
        if addresses:
            started = time.monotonic()
            buildings = max(1, round(addresses * BUILDINGS / UNITS))
            result = seed_addresses(buildings=buildings, units=addresses, progress=options.get("verbosity", 1) > 0)
            if result is not None:
                self.stdout.write(
                    f"演示地址库 address library: {result.summary()} ({time.monotonic() - started:.1f} s)"
                )
        if events:
            started = time.monotonic()
            added = seed_events(events, progress=options.get("verbosity", 1) > 0)
            elapsed = time.monotonic() - started
            rate = added / elapsed if added and elapsed else 0
            self.stdout.write(f"演示事件: 新增 {added} (added {added} events in {elapsed:.1f} s, {rate:,.0f} events/s)")
            from backend.tips.demo import seed_followers

            follows = seed_followers()
            self.stdout.write(f"居民关注 followers: me-too {follows['me_too']}, merged {follows['merged']}")
        intake = seed_intake(with_events=bool(events))
        if any(intake.values()):
            self.stdout.write(
                f"演示接入 intake: 视频通道 {intake['cameras']}, 监测住户 {intake['households']}, "
                f"用电读数 {intake['readings']}, 视频告警 {intake['video_items']}"
            )
        stamp_changes()
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # The bulk load left the change log's unstamped index full of dead entries
            # (VACUUM cannot run inside a transaction, as when called from tests).
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE sync_change")
        self.stdout.write("演示账号 demo accounts (password: %s):" % (password and "<--password>" or DEFAULT_PASSWORD))
        for username, role, unit in accounts:
            self.stdout.write(f"  {username:<20} {role:<12} {unit}")
