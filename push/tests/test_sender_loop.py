"""Channel-layer sends from a plain thread (a gunicorn worker): with Redis, every send
runs on the process's one sender loop, in the order handed over, and the caller does
not wait for it; with the in-memory layer, ``async_to_sync`` as before (its queues
belong to the consumers' loop)."""

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
    services.sends_settled()
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
    services.sends_settled()
    assert [thread for *_, thread in layer.sent] == ["channel-layer-sender"]


class SlowLayer(RedisLikeLayer):
    """The first send waits until the test lets it go; one group fails."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    async def group_send(self, group: str, message: dict) -> None:
        if group == "street.slow":
            await asyncio.get_running_loop().run_in_executor(None, self.go.wait, 5)
        if group == "user.broken":
            raise ConnectionError("redis went away")
        await super().group_send(group, message)


SlowLayer.__module__ = "channels_redis.core"


def test_the_caller_does_not_wait_and_the_loop_sends_in_order(monkeypatch):
    layer = SlowLayer()
    monkeypatch.setattr(services, "get_channel_layer", lambda: layer)
    services.group_send_many([("street.slow", {"type": "events.changed"})])
    services.deliver_live([(1, {"seq": 1}), (2, {"seq": 1})])  # handed over while the first still waits
    services.group_send_many([("user.broken", {}), ("user.3", {"type": "notify.message"})])
    services.group_send("user.4", {"type": "notify.message"})
    assert layer.sent == []  # nothing sent yet, and nobody waited
    layer.go.set()
    services.sends_settled()
    assert [group for group, *_ in layer.sent] == ["street.slow", "user.1", "user.2", "user.3", "user.4"]
