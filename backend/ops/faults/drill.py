"""The fault drill (``make faults``, docs/operations.md "Faults"): under a steady load of
phones and open websockets, kill (SIGKILL: a crash, not a shutdown) and restart one at
a time an HTTP worker, daphne, the background worker, Redis and PostgreSQL; then check
that nothing was lost or applied twice, that every phone converged, that no
notification is missing after replay and that the supervision job caught up; print the
error rate during each fault. Exits 1 when a check fails."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from backend.ops.faults import checks
from backend.ops.faults.infra import PASSWORD, Ports, Stack, http_ok, reap_stale, wait_until


@dataclass(frozen=True)
class Mode:
    phones: int
    steady_s: float  # load before each fault and after its recovery
    down_s: float  # how long a killed process stays down before it is restarted
    deadline_s: float  # dispatched events' deadlines: the supervision job's work
    pause_s: float  # a phone's pause between cycles


MODES = {
    "short": Mode(phones=3, steady_s=4, down_s=2, deadline_s=6, pause_s=0.4),
    "full": Mode(phones=8, steady_s=20, down_s=5, deadline_s=15, pause_s=0.3),
}
CATCH_UP_S = 60  # the supervision job's bound for marking the last deadlines, after they pass
SOCKET_ACCOUNTS = ["demo_dispatcher", "demo_secretary", "demo_commander", "demo_handler"]


@dataclass
class FaultRow:
    fault: str
    recovery_s: float
    requests: int
    failed: int
    socket_drops: int
    failing_s: float = 0.0  # from the kill to the last failed request
    crashed: str = ""
    failures: str = ""  # their kinds: statuses, "no answer"  # what else exited on its own and was restarted

    @property
    def error_rate(self) -> float:
        return self.failed / self.requests if self.requests else 0.0


def make_phone_accounts(stack: Stack, count: int) -> list[str]:
    """Grid workers of the first grids of the dispatcher's street, one per phone."""
    names = [f"faults_phone_{i}" for i in range(count)]
    stack.manage(
        "shell",
        "-c",
        f"""
from backend.accounts.models import Role, RoleAssignment, User
from backend.territory.models import Grid, Street
street = User.objects.get(username="demo_dispatcher").role_assignments.exclude(street=None).first().street
grids = list(Grid.objects.filter(community__street=street).order_by("code")[:{count}])
for name, grid in zip({names!r}, grids):
    user, _ = User.objects.get_or_create(username=name, defaults={{"display_name": "演练网格员 " + name[-1]}})
    user.set_password({PASSWORD!r}); user.save()
    RoleAssignment.objects.get_or_create(user=user, role=Role.GRID_WORKER, grid=grid)
""",
    )
    return names


class Drill:
    def __init__(self, mode: Mode, ports: Ports):
        self.mode = mode
        self.stack = Stack(ports=ports)
        self.rows: list[FaultRow] = []
        stack = self.stack
        self.starters: dict[str, Callable[[], None]] = {
            "gunicorn": stack.gunicorn_start,
            "daphne": stack.daphne_start,
            "worker": stack.worker_start,
        }
        self.held_down: set[str] = set()  # killed on purpose: the watchdog leaves them to the fault
        self.restarts: list[tuple[float, str]] = []  # (when, what) the watchdog restarted
        self.closing = threading.Event()

    def watch(self) -> None:
        """The orchestrator's part (compose: ``restart: unless-stopped``): a server process
        that exits on its own is started again, and counted."""
        starters = {**self.starters, "redis": self.stack.redis_start}
        while not self.closing.wait(0.5):
            for name, start in starters.items():
                process = self.stack.processes.get(name)
                if name in self.held_down or process is None or process.poll() is None:
                    continue
                self.restarts.append((time.monotonic(), name))
                try:
                    start()
                except RuntimeError:
                    pass  # tried again on the next round

    def ready(self) -> bool:
        return http_ok(f"{self.stack.http_base}/healthz/ready") and http_ok(
            f"http://127.0.0.1:{self.stack.ports.ws}/healthz/ready"
        )

    def set_up(self) -> None:
        stack = self.stack
        say(f"starting PostgreSQL (port {stack.ports.postgres}) and Redis (port {stack.ports.redis}) of its own")
        stack.postgres_init()
        stack.redis_start()
        say("migrating and seeding the demo district")
        started = time.monotonic()
        stack.manage("migrate", "--noinput", "-v0")
        migrated = time.monotonic()
        stack.manage("seed_demo", "--password", PASSWORD, "--addresses", "0")
        self.phone_accounts = make_phone_accounts(stack, self.mode.phones)
        say(f"migrated in {migrated - started:.0f} s, seeded in {time.monotonic() - migrated:.0f} s")
        stack.postgres_durable()
        say("starting gunicorn (2 workers), daphne and the worker")
        starting = [threading.Thread(target=start) for start in self.starters.values()]
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        if set(stack.processes) != {"redis", *self.starters}:
            raise RuntimeError("a server did not start (its log is in the drill's directory)")
        threading.Thread(target=self.watch, name="watchdog", daemon=True).start()
        os.environ.update({"DATABASE_URL": stack.env["DATABASE_URL"], "REDIS_URL": stack.env["REDIS_URL"]})
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
        import django

        django.setup()

    def faults(self) -> list[tuple[str, Callable[[], None]]]:
        stack, down = self.stack, self.mode.down_s

        def gunicorn_worker() -> None:
            os.kill(stack.gunicorn_workers()[0], signal.SIGKILL)  # the master forks a new one

        def restart(name: str, start: Callable[[], None]) -> Callable[[], None]:
            def fault() -> None:
                self.held_down.add(name)
                stack.kill(name)
                time.sleep(down)
                start()
                self.held_down.discard(name)

            return fault

        def postgres() -> None:
            stack.postgres_kill()
            time.sleep(down)
            stack.postgres_start()

        return [
            ("HTTP worker (gunicorn, 1 of 2)", gunicorn_worker),
            ("daphne (websockets)", restart("daphne", stack.daphne_start)),
            ("background worker (run_worker)", restart("worker", stack.worker_start)),
            ("Redis", restart("redis", stack.redis_start)),
            ("PostgreSQL", postgres),
        ]

    def run(self) -> list[checks.Verdict]:
        from backend.ops.faults.load import DispatcherLoad, PhoneLoad, RequestLog, SocketLoad
        from push.models import Notification

        mode, stack = self.mode, self.stack
        log = RequestLog()
        phones = [
            PhoneLoad(
                base=stack.http_base,
                username=name,
                password=PASSWORD,
                store=str(stack.workdir / f"{name}.sqlite3"),
                log=log,
                seed=index,
                pause_s=mode.pause_s,
            )
            for index, name in enumerate(self.phone_accounts)
        ]
        for phone in phones:
            phone.start_session()
        socket_users = [*self.phone_accounts, *SOCKET_ACCOUNTS]
        start_after = {
            username: Notification.objects.filter(user__username=username).count() for username in socket_users
        }
        sockets = SocketLoad(
            http_base=stack.http_base,
            ws_base=stack.ws_base,
            usernames=socket_users,
            password=PASSWORD,
            start_after=start_after,
        )
        dispatcher = DispatcherLoad(
            base=stack.http_base, password=PASSWORD, phones=phones, log=log, deadline_s=mode.deadline_s
        )
        dispatcher.login()
        sockets.start()
        for phone in phones:
            phone.start()
        dispatcher.start()
        say(f"load running: {len(phones)} phones, {len(socket_users)} websockets, a dispatcher")
        time.sleep(mode.steady_s)
        started = time.monotonic()
        requests, failed = log.window(0, started)
        self.rows.append(FaultRow("(none: steady load)", 0.0, requests, failed, 0))
        for name, fault in self.faults():
            say(f"fault: {name}")
            killed_at = time.monotonic()
            fault()
            wait_until(self.ready, seconds=120, what=f"the servers after {name}")
            recovered_at = time.monotonic()
            time.sleep(mode.steady_s)
            end = time.monotonic()
            requests, failed = log.window(killed_at, end)
            drops = sum(1 for state in sockets.states.values() for at in state.drops if killed_at <= at < end)
            crashed = sorted({what for at, what in self.restarts if killed_at <= at < end})
            self.rows.append(
                FaultRow(
                    name,
                    recovered_at - killed_at,
                    requests,
                    failed,
                    drops,
                    log.failing_for(killed_at, end),
                    ", ".join(crashed),
                    log.failure_kinds(killed_at, end),
                )
            )

        say("load stopping; phones back online for good")
        dispatcher.stopping.set()
        for phone in phones:
            phone.stopping.set()
        for thread in (*phones, dispatcher):
            thread.join(timeout=60)
        unfinished = [phone.username for phone in phones if not phone.finish()]
        say("waiting for the supervision job's last deadlines")
        time.sleep(mode.deadline_s)
        from django.db import connections

        connections.close_all()  # this process's own connection died with PostgreSQL
        caught_up = time.monotonic()
        while time.monotonic() - caught_up < CATCH_UP_S:  # on a loaded machine a pass of the job takes a while
            unmarked, marked = checks.supervision_counts(dispatcher.dispatched, slack_s=0)
            if not unmarked and marked == len(dispatcher.dispatched):
                break
            time.sleep(1)
        say(f"the supervision job caught up {time.monotonic() - caught_up:.0f} s after the last deadline")
        for phone in phones:  # what others pushed and the job marked since changes what a phone sees
            phone.sync_once()
        sockets.stopping.set()
        sockets.join(timeout=30)
        held = checks.notification_seqs(socket_users, start_after)
        sockets.replay({user: max(seqs, default=start_after[user]) for user, seqs in held.items()})

        device_of = {phone.username: phone.phone.device_id for phone in phones}
        sent_ids = {phone.phone.device_id: phone.phone.results().keys() for phone in phones}
        for phone in phones:  # pending ones count as sent: their absence is a loss too
            sent_ids[phone.phone.device_id] = {
                *sent_ids[phone.phone.device_id],
                *(m["id"] for m in phone.phone.pending()),
            }
        verdicts = [
            checks.ledger_verdict(sent_ids, checks.ledger_rows(device_of.values())),
            checks.once_verdict(
                "reports: each event once",
                [e for p in phones for e in p.sent.reports],
                checks.report_counts(e for p in phones for e in p.sent.reports),
            ),
            checks.once_verdict(
                "steps and comments: each note once",
                [n for p in phones for n in p.sent.notes],
                checks.note_counts((n for p in phones for n in p.sent.notes), device_of.values()),
            ),
            checks.once_verdict(
                "edits: each applied or kept once",
                [v for p in phones for _, v in p.sent.edits],
                checks.edit_counts(e for p in phones for e in p.sent.edits),
            ),
            checks.once_verdict(
                "photos: each stored once",
                [i for p in phones for i in p.sent.photos],
                checks.photo_counts({i: d for p in phones for i, d in p.sent.photos.items()}),
            ),
            checks.convergence_verdict(
                {phone.username: phone.phone.snapshot() for phone in phones},
                {phone.username: checks.scope_state(phone.username) for phone in phones},
            ),
            checks.notification_verdict(
                {user: state.received for user, state in sockets.states.items()},
                held,
                sum(state.duplicates_on_one_connection for state in sockets.states.values()),
            ),
            checks.supervision_verdict(
                *checks.supervision_counts(dispatcher.dispatched, slack_s=0), expected=len(dispatcher.dispatched)
            ),
        ]
        if unfinished:
            verdicts.append(
                checks.Verdict("phones emptied their queues", [f"{name} still pending" for name in unfinished])
            )
        refusals = [f"{p.username}: {e}" for p in phones for e in p.sent.errors]
        verdicts.append(checks.Verdict("no request refused for good (4xx)", refusals[:10]))
        self.totals = {
            "mutations": sum(len(ids) for ids in sent_ids.values()),
            "reports": sum(len(p.sent.reports) for p in phones),
            "photos": sum(len(p.sent.photos) for p in phones),
            "dispatched": len(dispatcher.dispatched),
            "notifications": sum(len(seqs) for seqs in held.values()),
            "socket connections": sum(state.connections for state in sockets.states.values()),
        }
        return verdicts


def table(rows: list[FaultRow]) -> str:
    lines = [
        "| fault | back in (s) | requests | failed | error rate | errors for (s) | failures | socket drops | also crashed (restarted) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.fault} | {row.recovery_s:.1f} | {row.requests} | {row.failed} | {row.error_rate:.1%} | {row.failing_s:.1f} | {row.failures or '—'} | {row.socket_drops} | {row.crashed or '—'} |"
        )
    return "\n".join(lines)


def say(message: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S', time.gmtime())}] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.ops.faults", description=__doc__)
    parser.add_argument("--mode", choices=sorted(MODES), default="full")
    parser.add_argument(
        "--ports", default=os.environ.get("FAULTS_PORTS", "5440,6380,8160,8161"), help="postgres,redis,http,ws"
    )
    args = parser.parse_args(argv)
    postgres, redis, http, ws = (int(p) for p in args.ports.split(","))
    for workdir in reap_stale():
        say(f"removed what an earlier drill left: {workdir}")
    drill = Drill(MODES[args.mode], Ports(postgres=postgres, redis=redis, http=http, ws=ws))

    def interrupted(signum, frame):  # clean up on Ctrl-C or a CI timeout too
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    try:
        drill.set_up()
        say(f"set up in {time.monotonic() - started:.0f} s")
        verdicts = drill.run()
    finally:
        drill.closing.set()
        drill.stack.close()
    print()
    print(
        f"Fault drill ({args.mode}), {time.strftime('%Y-%m-%d', time.gmtime())}, {time.monotonic() - started:.0f} s in all"
    )
    print("  " + ", ".join(f"{value} {name}" for name, value in drill.totals.items()))
    print()
    print(table(drill.rows))
    print()
    for verdict in verdicts:
        print(f"{'ok  ' if verdict.ok else 'FAIL'} {verdict.name}")
        for problem in verdict.problems[:10]:
            print(f"       {problem}")
    return 0 if all(verdict.ok for verdict in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
