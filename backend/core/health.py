"""Dependency checks behind ``GET /api/v1/health``."""

from __future__ import annotations

import asyncio
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection

CHECK_TIMEOUT_SECONDS = 2.0
# One round trip at a time per process: each ``async_to_sync`` call from a plain thread runs
# on an event loop of its own, and channels_redis refuses two loops receiving on one layer
# at once ("Two event loops are trying to receive() on one channel layer at once!"), which
# gunicorn's threaded workers (``--threads`` above 1) would otherwise do.
_round_trip_lock = threading.Lock()


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _channel_layer_round_trip() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("health.")
    await layer.send(channel, {"type": "health.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "health.ping":
        raise RuntimeError("channel layer returned a different message")


def check_channel_layer() -> None:
    async def bounded() -> None:
        await asyncio.wait_for(_channel_layer_round_trip(), CHECK_TIMEOUT_SECONDS)

    with _round_trip_lock:
        async_to_sync(bounded)()


CHECKS = {"database": check_database, "channel_layer": check_channel_layer}


def run_warnings() -> list[str]:
    """What needs someone's attention soon without anything being down: a working-day
    calendar year not entered yet (from 1 November for the next year)."""
    from backend.administration.calendar import calendar_warnings

    try:
        return calendar_warnings()
    except Exception as error:  # the database being down is reported by its check
        return [f"calendar: {type(error).__name__}"]


def run_checks() -> dict[str, str]:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # any failure means "down"; the kind is in the message
            results[name] = f"error: {type(error).__name__}: {error}"[:300]
        else:
            results[name] = "ok"
    return results
