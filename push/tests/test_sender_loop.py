"""Channel-layer sends from a plain thread (a gunicorn worker): with Redis, every send
runs on the process's one sender loop; with the in-memory layer, ``async_to_sync``
as before (its queues belong to the consumers' loop)."""

from __future__ import annotations

import asyncio
import threading

import push.services as services


class _Layer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict, asyncio.AbstractEventLoop, str]] = []

    async def group_send(self, group: str, message: dict) -> None:
        self.sent.append((group, message, asyncio.get_running_loop(), threading.current_thread().name))


class RedisLikeLayer(_Layer):
    pass


RedisLikeLayer.__module__ = "channels_redis.core"  # what ``_run_send`` tells a Redis layer by


def test_it_sends_every_message_on_one_loop_with_redis(monkeypatch):
    layer = RedisLikeLayer()
    monkeypatch.setattr(services, "get_channel_layer", lambda: layer)
    services.group_send_many([("street.1", {"type": "events.changed"}), ("street.2", {"type": "events.changed"})])
    services.group_send("user.7", {"type": "notify.message"})
    assert [group for group, *_ in layer.sent] == ["street.1", "street.2", "user.7"]
    assert len({loop for _, _, loop, _ in layer.sent}) == 1
    assert {thread for *_, thread in layer.sent} == {"channel-layer-sender"}
    assert layer.sent[0][2].is_running()


def test_it_keeps_async_to_sync_for_the_in_memory_layer(monkeypatch):
    layer = _Layer()
    monkeypatch.setattr(services, "get_channel_layer", lambda: layer)
    services.group_send("user.1", {"type": "notify.message"})
    services.group_send("user.2", {"type": "notify.message"})
    assert [group for group, *_ in layer.sent] == ["user.1", "user.2"]
    loops = [loop for _, _, loop, _ in layer.sent]
    assert loops[0] is not loops[1]  # a new loop each time, as async_to_sync makes outside ASGI
    assert "channel-layer-sender" not in {thread for *_, thread in layer.sent}


def test_a_thread_that_once_ran_an_asgi_loop_sends_on_the_sender_loop(monkeypatch):
    """asgiref's thread-local outlives the loop that set it (an earlier test, a command):
    a loop no longer running does not make this thread an ASGI one."""
    import os

    from asgiref.sync import SyncToAsync

    finished = asyncio.new_event_loop()
    finished.close()
    monkeypatch.setattr(SyncToAsync.threadlocal, "main_event_loop", finished, raising=False)
    monkeypatch.setattr(SyncToAsync.threadlocal, "main_event_loop_pid", os.getpid(), raising=False)
    layer = RedisLikeLayer()
    monkeypatch.setattr(services, "get_channel_layer", lambda: layer)
    services.group_send("user.9", {"type": "notify.message"})
    assert [thread for *_, thread in layer.sent] == ["channel-layer-sender"]
