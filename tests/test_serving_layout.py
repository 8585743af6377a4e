"""The production serving layout is the one docs/architecture.md ("Serving layout, chosen
by measuring") describes and the benchmarks measure: gunicorn with 4 gthread workers of
two threads, connections kept alive longer than nginx keeps its idle upstream ones, nginx
keeping them, websockets still upgraded to daphne."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gunicorn.config import Config

from bench.common import GUNICORN_KEEP_ALIVE_S, gunicorn_command

ROOT = Path(__file__).resolve().parent.parent


def gunicorn_settings(argv: list[str]) -> dict:
    """What gunicorn makes of a command line (its own parser: an unknown flag fails)."""
    assert argv[0] == "gunicorn" and argv[1] == "backend.wsgi:application", argv
    config = Config()
    parsed = config.parser().parse_args(argv[1:])
    for name, value in vars(parsed).items():
        if value is not None and name in config.settings:
            config.set(name, value)
    return {
        "workers": config.workers,
        "worker_class": config.worker_class_str,
        "threads": config.threads,
        "keepalive": config.keepalive,
    }


def compose_api_command() -> list[str]:
    compose = (ROOT / "docker" / "compose.yaml").read_text()
    [command] = re.findall(r"^  api:\n(?:    .*\n)*?    command: (\[.*\])$", compose, re.M)
    return json.loads(command)


def dockerfile_command() -> list[str]:
    [command] = re.findall(r"^CMD (\[.*\])$", (ROOT / "docker" / "Dockerfile").read_text(), re.M)
    return json.loads(command)


PROMISED = {"workers": 4, "worker_class": "gthread", "threads": 2, "keepalive": GUNICORN_KEEP_ALIVE_S}


def test_compose_the_image_and_the_benchmarks_start_the_same_gunicorn():
    assert gunicorn_settings(compose_api_command()) == PROMISED
    assert gunicorn_settings(dockerfile_command()) == PROMISED
    assert gunicorn_settings(gunicorn_command(8000)) == PROMISED
    # BENCH_GUNICORN_THREADS=0: the sync workers the layout was compared with.
    assert gunicorn_settings(gunicorn_command(8000, threads=0))["worker_class"] == "sync"


def nginx_block(conf: str, opening: str) -> str:
    start = conf.index(opening + " {")
    return conf[start : conf.index("\n    }", start) if opening.startswith("location") else conf.index("\n}", start)]


def test_nginx_keeps_connections_to_gunicorn_and_upgrades_websockets():
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    upstream = nginx_block(conf, "upstream api")
    assert re.search(r"^\s+keepalive \d+;", upstream, re.M)
    [timeout] = re.findall(r"keepalive_timeout (\d+)s;", upstream)
    assert int(timeout) < PROMISED["keepalive"]  # gunicorn never closes a connection nginx is about to reuse
    api_locations = [nginx_block(conf, "location /"), nginx_block(conf, "location ~ ^/api/v1/(events/[^/]+/)?photos$")]
    for location in api_locations:
        assert "proxy_pass http://api;" in location
        assert "proxy_http_version 1.1;" in location
        assert 'proxy_set_header Connection "";' in location
    websockets = nginx_block(conf, "location /ws/")
    assert "proxy_pass http://ws;" in websockets and "proxy_http_version 1.1;" in websockets
    assert "proxy_set_header Upgrade $http_upgrade;" in websockets
    assert 'proxy_set_header Connection "upgrade";' in websockets


def test_the_architecture_document_states_the_layout():
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("## Serving layout, chosen by measuring") :]
    section = section[: section.index("\n## ", 1)]
    assert "gunicorn: 4 gthread workers of 2 threads" in section
    assert f"--keep-alive {PROMISED['keepalive']}" in section
