"""The channel layer over two Redis servers (CHANNEL_REDIS_URLS: channels-redis shards
channels and groups over its hosts) with two daphne processes: a dispatch made through
one daphne reaches a phone listening on the other (docs/operations.md "Scale").

Both Redis servers are started here (redis-server on free ports, nothing saved), so the
test needs no Redis of the machine's; the daphne processes share a SQLite file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from backend.config import read_config
from tests.test_realtime_e2e import PASSWORD, Server, dispatch_and_listen, free_port

ROOT = Path(__file__).resolve().parent.parent


def start_redis() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.ping()
            return process, f"redis://127.0.0.1:{port}/1"
        except redis.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture(scope="module")
def two_redis():
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is needed (apt-get install redis-server)")
    started = [start_redis(), start_redis()]
    yield [url for _, url in started]
    for process, _ in started:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def sharded_env(two_redis, tmp_path_factory):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DJANGO_ENV": "development",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('sharded') / 'db.sqlite3'}",
        "REDIS_URL": two_redis[0],
        "CHANNEL_REDIS_URLS": ",".join(two_redis),
    }
    for args in (["migrate", "-v0"], ["seed_demo", "--password", PASSWORD, "--addresses", "0", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    return env


@pytest.fixture
def two_daphnes(sharded_env):
    processes, servers = [], []
    for _ in range(2):
        port = free_port()
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backend.asgi:application"],
                cwd=ROOT,
                env=sharded_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        servers.append(Server(f"http://127.0.0.1:{port}", processes[-1].pid))
    try:
        import urllib.request

        for server in servers:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{server.base}/api/v1/health", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("daphne did not start") from None
                    time.sleep(0.2)
        yield servers
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=10)


def test_the_channel_layer_lists_every_redis_server_in_order():
    config = read_config({"REDIS_URL": "redis://a:6379/0", "CHANNEL_REDIS_URLS": "redis://a:6379/0, redis://b:6379/0"})
    assert config.channel_redis_urls == ["redis://a:6379/0", "redis://b:6379/0"]
    assert read_config({"REDIS_URL": "redis://a:6379/0"}).channel_redis_urls == ["redis://a:6379/0"]


def test_groups_are_spread_over_both_servers():
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(hosts=["redis://a:6379/0", "redis://b:6379/0"])
    shards = {layer.consistent_hash(f"user.{user_id}") for user_id in range(50)}
    assert shards == {0, 1}


def test_a_dispatch_through_one_daphne_reaches_a_phone_on_the_other_over_two_redis(two_daphnes, two_redis):
    first, second = two_daphnes
    message = dispatch_and_listen(first.base, second.base)
    assert message["type"] == "notification" and message["kind"] == "assignment"
    assert message["event_id"] == message["expected_event"]
    # Both servers carried the layer's traffic (each daphne's own channel and the groups
    # are hashed over the two), not only the one the cache uses.
    used = [set(redis.Redis.from_url(url, socket_timeout=1).info("commandstats")) for url in two_redis]
    assert all(commands & {"cmdstat_zadd", "cmdstat_bzpopmin", "cmdstat_evalsha", "cmdstat_eval"} for commands in used)
