"""python manage.py run_worker

The worker process: drains the FCM outbox and numbers the sync change log every
second, runs supervision (督办), the visit plan (走访, ``care_tick``) and the purge of the
intake's old message ids every SUPERVISION_INTERVAL_SECONDS, keeps the KPIs' facts and the
five-colour warnings current (``backend.stats``) and, once a day, purges what the retention
rules let go (patrol tracks, the access log, sync tombstones: backend/ops/retention.py).
`make run` starts it beside the server;
production runs it as the compose `worker` service.

It lives in ``backend.core``, not with any one of the apps whose periodic work it
runs (push, events, sync): it is the process that ties them together."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from backend.care.services import care_tick
from backend.events.supervision import supervision_tick
from backend.intake.signing import messages_purge
from backend.ops.jobs import MeasuredSender, run_job
from backend.ops.retention import purge_expired
from backend.stats.services import SWEEP_SECONDS, colour_sweep, stats_tick
from push.delivery import drain_outbox
from push.senders import get_sender
from sync.changes import stamp_changes

PUSH_INTERVAL_SECONDS = 1.0
COMPACT_INTERVAL_SECONDS = 24 * 3600


class Command(BaseCommand):
    help = "后台任务：推送发件箱、同步日志编号、督办、走访计划与墓碑清理 (push outbox, sync log numbering, supervision, visit plans, tombstone purge)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass of each, then exit")

    def handle(self, *args, once: bool, **options) -> None:
        if settings.WORKER_METRICS_PORT:
            # This process's own metrics (job runs and lag, FCM outcomes) for Prometheus to
            # scrape on the internal network; the API's /metrics has the rest.
            from prometheus_client import start_http_server

            start_http_server(settings.WORKER_METRICS_PORT, addr=settings.WORKER_METRICS_ADDRESS)
        # Each job is measured (runs, outcome, duration, lag behind its schedule: /metrics).
        sender = MeasuredSender(get_sender())
        next_supervision = next_compaction = next_colour_sweep = 0.0
        scheduled = time.time()
        while True:
            try:
                run_job("sync_stamp", stamp_changes, scheduled=scheduled)  # pulls stamp too; this covers no pulls
                if time.monotonic() >= next_compaction:
                    run_job("retention", purge_expired)  # tracks, access log, tombstones (backend/ops/retention.py)
                    next_compaction = time.monotonic() + COMPACT_INTERVAL_SECONDS
                run_job("stats", stats_tick, scheduled=scheduled)  # the KPIs' facts of changed events, their colours
                if time.monotonic() >= next_colour_sweep:
                    run_job("colour_sweep", colour_sweep)
                    next_colour_sweep = time.monotonic() + SWEEP_SECONDS
                pushed = run_job("push_outbox", lambda: drain_outbox(sender=sender), scheduled=scheduled)
                if pushed.sent or pushed.retried or pushed.dropped:
                    self.stdout.write(
                        f"推送 push: sent {pushed.sent}, retried {pushed.retried}, dropped {pushed.dropped}"
                    )
                if time.monotonic() >= next_supervision:
                    due = time.time() - max(0.0, time.monotonic() - next_supervision) if next_supervision else None
                    result = run_job("supervision", supervision_tick, scheduled=due)
                    if result.marked_overdue or result.escalated or result.evidence_overdue:
                        self.stdout.write(
                            f"督办: 新超期 {result.marked_overdue}, 自动升级 {result.escalated}, "
                            f"照片超时转审核 {result.evidence_overdue}"
                        )
                    run_job("intake_messages_purge", messages_purge)  # the replay ledger keeps twice its window
                    visits = run_job("care", care_tick, scheduled=due)
                    if visits.opened or visits.notified or visits.escalated:
                        self.stdout.write(
                            f"走访: 新计划 {visits.opened}, 超期提醒 {visits.notified}, 转书记 {visits.escalated}"
                        )
                    next_supervision = time.monotonic() + settings.SUPERVISION["INTERVAL_SECONDS"]
            except Exception:
                if once:
                    raise
                # run_job has logged and counted the failure. A database or Redis outage must
                # not end the process: the next pass tries again on a new connection (the fault
                # drill, docs/operations.md "Faults", found the worker exiting on one).
                close_old_connections()
                time.sleep(PUSH_INTERVAL_SECONDS)
                continue
            if once:
                return
            time.sleep(PUSH_INTERVAL_SECONDS)
            scheduled = time.time()
            close_old_connections()
