"""The cyclic garbage collector paused for the length of a batch of intake items.

A batch of 1,000 readings or alerts keeps some twenty thousand small objects alive
until its answer is sent, then frees them by reference counting. A collection that
runs in the middle finds them all alive and moves them to the older generations,
whose full collections then walk the whole process's heap: in process, 12 to 18 ms a
batch of readings on average (docs/intake.md, "Speed"). Paused, what the batch made is
freed when it ends, and the collector runs on what is left afterwards.

Reentrant and thread-safe: the collector is switched on again when the last paused
batch of the process ends, and only if it was on when the first began.
``tests/test_collector.py`` holds that."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _paused, _was_enabled
    with _lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0 and _was_enabled:
                gc.enable()
