"""Shared machinery for the benchmarks: a fresh database, real server processes in
the production serving layout, load from a separate process (wrk), results files.

Each group module exposes ``run(bench: Bench) -> dict[str, Figure]``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "4"))
# The production layout's worker class (docker/compose.yaml, docs/architecture.md "Serving
# layout"): gthread, two threads a worker, connections kept alive between requests.
# BENCH_GUNICORN_THREADS=0 starts sync workers instead (the layout before 2026-12-02), which
# close the connection after every answer.
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "2"))
GUNICORN_KEEP_ALIVE_S = 75  # longer than nginx keeps an idle upstream connection (60 s)
PASSWORD = "bench-pass-2026"


@dataclass
class Figure:
    value: float
    unit: str
    baseline: str | None = None

    def as_json(self) -> dict:
        data = {"value": round(self.value, 3), "unit": self.unit}
        if self.baseline:
            data["baseline"] = self.baseline
        return data


def free_port() -> int:
    """Any free port, or one of ``BENCH_PORTS`` ("8120-8129") when a machine is shared."""
    first, _, last = os.environ.get("BENCH_PORTS", "").partition("-")
    candidates = range(int(first), int(last or first) + 1) if first else [0]
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port in BENCH_PORTS={os.environ['BENCH_PORTS']}")


def gunicorn_command(port: int, workers: int = GUNICORN_WORKERS, threads: int = GUNICORN_THREADS) -> list[str]:
    """gunicorn as docker/compose.yaml runs it (``threads`` 0: sync workers, for comparison)."""
    command = ["gunicorn", "backend.wsgi:application", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    if threads:
        command += ["--worker-class", "gthread", "--threads", str(threads), "--keep-alive", str(GUNICORN_KEEP_ALIVE_S)]
    return command


@dataclass
class Bench:
    database: str  # "sqlite" or "postgres"
    env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def prepare(cls, database: str) -> Bench:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "backend.settings",
                "DJANGO_ENV": "development",
                "DEBUG": "false",
                "LOG_LEVEL": "WARNING",
                "LOGIN_FAILURES_PER_ADDRESS": "100000",
            }
        )
        if database == "postgres":
            name = os.environ.get("BENCH_PG_NAME", "grid_bench")  # another name lets two benches run side by side
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True
            )
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
            env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
            env["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
        else:
            path = ROOT / "var" / "bench.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            env["DATABASE_URL"] = f"sqlite:///{path}"
        bench = cls(database=database, env=env)
        bench.manage("migrate", "--noinput", "-v0")
        # Groups that need the address library load it themselves (bench/addresses.py).
        bench.manage("seed_demo", "--password", PASSWORD, "--addresses", "0")
        return bench

    def settle(self) -> None:
        """After a bulk load: vacuum and analyse (this machine's PostgreSQL runs without
        autovacuum), write the checkpoint the load made due, and flush the files, so that
        no group measures the database catching up on its own load."""
        if self.database == "postgres":
            url = self.env["DATABASE_URL"]
            subprocess.run(["psql", url, "-qc", "VACUUM ANALYZE"], check=True)
            subprocess.run(["psql", url, "-qc", "CHECKPOINT"], check=True)
        else:
            self.manage(
                "shell",
                "-c",
                "from django.db import connection; connection.cursor().execute('PRAGMA wal_checkpoint(TRUNCATE)')",
            )
        os.sync()

    def manage(self, *args: str, quiet: bool = True) -> str:
        result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=quiet, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout or ""

    def start(self, command: list[str], port: int) -> str:
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        self.processes.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {process.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=1) as response:
                    if response.status == 200:
                        return base
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{command} did not answer on {base}")

    def start_http(self, workers: int = GUNICORN_WORKERS, threads: int = GUNICORN_THREADS) -> str:
        """The production HTTP layout: gunicorn, gthread workers (see docs/architecture.md)."""
        port = free_port()
        return self.start([PYTHON, "-m", *gunicorn_command(port, workers, threads), "--log-level", "warning"], port)

    def start_daphne(self) -> str:
        port = free_port()
        return self.start(
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backend.asgi:application"], port
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()

    def login(self, base: str, username: str = "demo_grid_worker") -> str:
        body = json.dumps({"username": username, "password": PASSWORD, "device_id": f"bench-{username}"}).encode()
        request = urllib.request.Request(f"{base}/api/v1/auth/login", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())["access_token"]


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise RuntimeError(f"cannot read wrk's latency {text!r}")
    number, unit = match.groups()
    return float(number) * _UNITS[unit]


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk(
    url: str, *, seconds: int = 10, connections: int = 32, threads: int = 2, headers: dict[str, str] | None = None
) -> LoadResult:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `apt-get install wrk` (make bench does it)")
    command = ["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Latency Distribution" not in output:
        raise RuntimeError(f"wrk gave no latency figures (no request succeeded?):\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors += sum(map(int, match.groups()))
    return LoadResult(rps, p50, p99, errors)


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def write_results(group: str, database: str, figures: dict[str, Figure]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{group}.json"
    data = {name: figure.as_json() for name, figure in figures.items()}
    data["machine"] = machine()
    data["database"] = database
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    return path


def print_figures(group: str, figures: dict[str, Figure]) -> None:
    print(f"\n== {group}")
    for name, figure in figures.items():
        line = f"  {name:<32} {figure.value:>12.2f} {figure.unit}"
        if figure.baseline and figure.baseline in figures and figures[figure.baseline].value:
            ratio = figure.value / figures[figure.baseline].value
            line += f"   ({ratio:.2f}x {figure.baseline})"
        print(line)


@contextmanager
def running(bench: Bench):
    try:
        yield bench
    finally:
        bench.stop()
