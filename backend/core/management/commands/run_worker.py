"""python manage.py run_worker

The worker process: drains the FCM outbox and numbers the sync change log every
second, runs supervision (督办) every SUPERVISION_INTERVAL_SECONDS, keeps the KPIs' facts
and the five-colour warnings current (``backend.stats``) and purges old sync
tombstones once a day. `make run` starts it beside the server;
production runs it as the compose `worker` service.

It lives in ``backend.core``, not with any one of the apps whose periodic work it
runs (push, events, sync): it is the process that ties them together."""

import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from backend.events.supervision import supervision_tick
from backend.stats.services import SWEEP_SECONDS, colour_sweep, stats_tick
from push.delivery import drain_outbox
from sync.changes import purge_tombstones, stamp_changes
from sync.management.commands.sync_compact import DEFAULT_DAYS

PUSH_INTERVAL_SECONDS = 1.0
COMPACT_INTERVAL_SECONDS = 24 * 3600


class Command(BaseCommand):
    help = "后台任务：推送发件箱、同步日志编号、督办与墓碑清理 (push outbox, sync log numbering, supervision, tombstone purge)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass of each, then exit")

    def handle(self, *args, once: bool, **options) -> None:
        next_supervision = next_compaction = next_colour_sweep = 0.0
        while True:
            stamp_changes()  # pulls do it too; this keeps the log numbered when nobody pulls
            if time.monotonic() >= next_compaction:
                purge_tombstones(older_than=timedelta(days=DEFAULT_DAYS))
                next_compaction = time.monotonic() + COMPACT_INTERVAL_SECONDS
            stats_tick()  # the KPIs' facts of the events changed since, and their units' colours
            if time.monotonic() >= next_colour_sweep:
                colour_sweep()
                next_colour_sweep = time.monotonic() + SWEEP_SECONDS
            pushed = drain_outbox()
            if pushed.sent or pushed.retried or pushed.dropped:
                self.stdout.write(f"推送 push: sent {pushed.sent}, retried {pushed.retried}, dropped {pushed.dropped}")
            if time.monotonic() >= next_supervision:
                result = supervision_tick()
                if result.marked_overdue or result.escalated or result.evidence_overdue:
                    self.stdout.write(
                        f"督办: 新超期 {result.marked_overdue}, 自动升级 {result.escalated}, "
                        f"照片超时转审核 {result.evidence_overdue}"
                    )
                next_supervision = time.monotonic() + settings.SUPERVISION["INTERVAL_SECONDS"]
            if once:
                return
            time.sleep(PUSH_INTERVAL_SECONDS)
            close_old_connections()
