"""Group ``api``: the floor every other figure is compared with.

``GET /api/v1/health`` and ``GET /api/v1/me`` (valid token) under wrk, against the
production HTTP layout (gunicorn, gthread workers, connections kept alive)."""

from __future__ import annotations

from bench.common import Bench, Figure, wrk

SECONDS = 10


def run(bench: Bench) -> dict[str, Figure]:
    base = bench.start_http()
    token = bench.login(base)
    wrk(f"{base}/api/v1/me", seconds=2, headers={"Authorization": f"Bearer {token}"})  # warm-up
    health = wrk(f"{base}/api/v1/health", seconds=SECONDS)
    me = wrk(f"{base}/api/v1/me", seconds=SECONDS, headers={"Authorization": f"Bearer {token}"})
    bench.stop()
    # The alternative layout, measured in the same run: everything on one daphne
    # process (what `make run` does). docs/architecture.md explains the choice.
    single = bench.start_daphne()
    single_token = bench.login(single)
    one_daphne = wrk(f"{single}/api/v1/me", seconds=SECONDS, headers={"Authorization": f"Bearer {single_token}"})
    if health.errors or me.errors or one_daphne.errors:
        raise RuntimeError(f"errors under load: health {health.errors}, me {me.errors}, one daphne {one_daphne.errors}")
    return {
        "health_rps": Figure(health.rps, "req/s"),
        "health_p50_ms": Figure(health.p50_ms, "ms"),
        "health_p99_ms": Figure(health.p99_ms, "ms"),
        "me_rps": Figure(me.rps, "req/s", baseline="health_rps"),
        "me_p50_ms": Figure(me.p50_ms, "ms", baseline="health_p50_ms"),
        "me_p99_ms": Figure(me.p99_ms, "ms", baseline="health_p99_ms"),
        "me_rps_one_daphne": Figure(one_daphne.rps, "req/s", baseline="me_rps"),
    }
