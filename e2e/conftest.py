"""The console in a real browser: a fresh SQLite database with the demo district and
the scenario's events (scenario.py), one daphne process on a port of ours, and Debian's
chromium driven by Playwright. Run by `make e2e`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("E2E_PORT", "8171"))
PASSWORD = "e2e-pass-2026"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Screenshots go to var/e2e/screenshots/ on every run (CI leaves the checkout clean);
# `make screenshots` runs the same tests with E2E_SHOTS=docs/screenshots to renew the docs'.
SHOTS = ROOT / os.environ.get("E2E_SHOTS", "var/e2e/screenshots")
SHOTS.mkdir(parents=True, exist_ok=True)


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="backend.settings",
        DJANGO_ENV="development",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        DATABASE_URL=f"sqlite:///{ROOT}/var/e2e/db.sqlite3",
        DATA_DIR=str(ROOT / "var" / "e2e"),
        E2E_PASSWORD=PASSWORD,
    )
    return env


@pytest.fixture(scope="session")
def server():
    env = server_env()
    data = ROOT / "var" / "e2e"
    data.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data}/db.sqlite3{suffix}").unlink(missing_ok=True)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [python, "manage.py", "seed_demo", "--password", PASSWORD, "--addresses", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    made = subprocess.run([python, "e2e/scenario.py"], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    scenario = json.loads(made.stdout.strip().splitlines()[-1])
    # The KPIs' facts of the scenario's events (make run's worker keeps them current; here
    # there is no worker, so they are built once before the pages are opened).
    subprocess.run([python, "manage.py", "rebuild_stats"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    process = subprocess.Popen(
        [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(PORT), "backend.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{PORT}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"daphne exited: {process.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield {"base": base, **scenario}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page, base: str, username: str, next_path: str = "") -> None:
    page.goto(f"{base}/console/login" + (f"?next={next_path}" if next_path else ""))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")


def api(base: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    """Another user acting through the JSON API, as a phone would."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + "/api/v1" + path, data, headers, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def token_of(base: str, username: str) -> str:
    body = {"username": username, "password": PASSWORD, "device_id": f"e2e-api-{username}"}
    return api(base, "/auth/login", body)["access_token"]
