"""The drill's own machinery: a PostgreSQL cluster and a Redis server made for it (so
killing them harms nobody else on the machine), and the server processes in the
production layout (gunicorn, daphne, the worker). Everything it starts is stopped by
``Stack.close()``, which the drill calls in ``finally`` and on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PYTHON = sys.executable
PASSWORD = "faults-pass-2026"
PREFIX = "grid-faults-"  # the drill's working directories under the temporary directory


def _pg_bin(name: str) -> str:
    """A PostgreSQL program of the installed server (Debian keeps them out of PATH)."""
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL's server package")
    return found


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(predicate, *, seconds: float, what: str) -> float:
    """Polls ``predicate`` until true; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if predicate():
                return time.monotonic() - started
        except Exception:  # noqa: BLE001 - anything short of success means "not yet"
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {seconds:.0f} s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class Ports:
    postgres: int = 5440
    redis: int = 6380
    http: int = 8160
    ws: int = 8161


@dataclass
class Stack:
    """One drill's PostgreSQL, Redis and server processes."""

    ports: Ports = field(default_factory=Ports)
    workdir: Path | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    closed: bool = False

    def __post_init__(self) -> None:
        for name, port in vars(self.ports).items():
            if not port_free(port):
                raise RuntimeError(f"port {port} ({name}) is taken: another drill running? (FAULTS_PORTS)")
        self.workdir = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.workdir.chmod(0o755)  # the postgres user reaches its data directory inside
        (self.workdir / "owner").write_text(str(os.getpid()))
        self.pgdata = self.workdir / "pgdata"
        self.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "backend.settings",
                "DJANGO_ENV": "development",
                "DEBUG": "false",
                "LOG_LEVEL": "ERROR",
                "DATA_DIR": str(self.workdir / "data"),
                "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.ports.postgres}/grid_faults",
                "REDIS_URL": f"redis://127.0.0.1:{self.ports.redis}/1",
                "SUPERVISION_INTERVAL_SECONDS": "2",
                "LOGIN_FAILURES_PER_ADDRESS": "100000",
                "PYTHONUNBUFFERED": "1",
            }
        )

    # -- PostgreSQL ------------------------------------------------------------------
    def postgres_init(self) -> None:
        self.pgdata.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.pgdata, "postgres", "postgres")
        subprocess.run(
            _as_postgres([_pg_bin("initdb"), "-D", str(self.pgdata), "-A", "trust", "-U", "postgres", "-E", "UTF8"]),
            check=True,
            capture_output=True,
        )
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {self.ports.postgres}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.pgdata}'\n"
                # fsync off while the schema and the seed are written (set up in a third of the
                # time); durable() turns it on before any fault, so the crash is a real one.
                "fsync = off\nsynchronous_commit = off\nmax_connections = 200\nshared_buffers = 64MB\n"
            )
        self.postgres_start()
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.ports.postgres),
                "-U",
                "postgres",
                "-qc",
                "CREATE DATABASE grid_faults",
            ],
            check=True,
        )

    def postgres_durable(self) -> None:
        for statement in (
            "ALTER SYSTEM SET fsync = on",
            "ALTER SYSTEM SET synchronous_commit = on",
            "SELECT pg_reload_conf()",
            "CHECKPOINT",
        ):
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-p", str(self.ports.postgres), "-U", "postgres", "-qc", statement],
                check=True,
                capture_output=True,
            )

    def postgres_start(self) -> None:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.pgdata / "log"), "-w", "start"]),
            check=True,
            capture_output=True,
        )

    def postgres_kill(self) -> None:
        """A crash, not a shutdown: SIGKILL to the postmaster and every backend (crash
        recovery from the WAL on the next start)."""
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split():
            try:
                os.kill(int(child), signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not _alive(pid), seconds=10, what="postgres to die")

    def postgres_ready(self) -> bool:
        return (
            subprocess.run(
                ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.ports.postgres)], capture_output=True
            ).returncode
            == 0
        )

    def postgres_stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres([_pg_bin("pg_ctl"), "-D", str(self.pgdata), "-m", "immediate", "stop"]),
                capture_output=True,
            )

    # -- Redis -----------------------------------------------------------------------
    def redis_start(self) -> None:
        """No persistence, as a channel layer and cache need none: a restart comes back empty."""
        if self.closed:
            raise RuntimeError("the stack is closed")
        self.processes["redis"] = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.ports.redis),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._note_groups()
        wait_until(self.redis_ready, seconds=10, what="redis")

    def redis_ready(self) -> bool:
        return (
            subprocess.run(
                ["redis-cli", "-p", str(self.ports.redis), "ping"], capture_output=True, text=True
            ).stdout.strip()
            == "PONG"
        )

    # -- the servers -----------------------------------------------------------------
    def manage(self, *args: str) -> str:
        result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def _spawn(self, name: str, command: list[str]) -> None:
        if self.closed:
            raise RuntimeError("the stack is closed")
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - kept open by the child
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._note_groups()

    def _note_groups(self) -> None:
        """The process groups this stack owns, for ``reap_stale`` should the drill itself be killed."""
        (self.workdir / "groups").write_text(" ".join(str(p.pid) for p in self.processes.values()))

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.ports.ws}"

    def gunicorn_start(self, workers: int = 2) -> None:
        self._spawn(
            "gunicorn",
            [
                PYTHON,
                "-m",
                "gunicorn",
                "backend.wsgi:application",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.ports.http}",
                "--timeout",
                "30",
                "--log-level",
                "warning",
            ],
        )
        wait_until(lambda: http_ok(f"{self.http_base}/healthz/live"), seconds=60, what="gunicorn")

    def gunicorn_workers(self) -> list[int]:
        master = self.processes["gunicorn"].pid
        return [
            int(p) for p in subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
        ]

    def daphne_start(self) -> None:
        self._spawn(
            "daphne",
            [
                PYTHON,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.ports.ws),
                "--ping-interval",
                "20",
                "--ping-timeout",
                "30",
                "backend.asgi:application",
            ],
        )
        wait_until(lambda: http_ok(f"http://127.0.0.1:{self.ports.ws}/healthz/live"), seconds=60, what="daphne")

    def worker_start(self) -> None:
        self._spawn("worker", [PYTHON, "manage.py", "run_worker"])
        time.sleep(0.5)
        if self.processes["worker"].poll() is not None:
            raise RuntimeError(f"the worker exited: {(self.workdir / 'worker.log').read_text()[-2000:]}")

    def kill(self, name: str) -> None:
        """SIGKILL to the process and its children: no chance to finish anything."""
        process = self.processes[name]
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def close(self) -> None:
        """Stops everything this stack started and removes its files; safe to call twice."""
        self.closed = True
        for name, process in list(self.processes.items()):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            self.processes.pop(name, None)
        self.postgres_stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def reap_stale() -> list[str]:
    """What an earlier drill left when it was killed outright (SIGKILL, a lost CI runner):
    its processes, its PostgreSQL and its directory. Only directories whose owner process is
    gone are touched."""
    reaped = []
    for workdir in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        owner = workdir / "owner"
        if owner.exists() and _alive(int(owner.read_text() or 0)):
            continue
        groups = workdir / "groups"
        for pid in groups.read_text().split() if groups.exists() else []:
            try:
                os.killpg(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if (workdir / "pgdata" / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres([_pg_bin("pg_ctl"), "-D", str(workdir / "pgdata"), "-m", "immediate", "stop"]),
                capture_output=True,
            )
        shutil.rmtree(workdir, ignore_errors=True)
        reaped.append(str(workdir))
    return reaped


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
