"""The garbage collector of a server process, tuned once the application is loaded.

CPython's cycle collector runs after every 700 net container allocations, and the
objects alive at each run move to older generations that later runs walk again. A
pull page of a thousand rows or a batch of a hundred reports allocates tens of
thousands of dicts and lists, so the collector ran dozens of times per request: 12 ms
of a 50 ms page (measured with ``gc.callbacks``, docs/architecture.md). Two standard
remedies, applied by the WSGI and ASGI entry points (the serving processes):

- ``gc.freeze()`` after start-up: what loading Django, the URL conf and the schemas
  made is never walked again;
- the youngest generation is collected after 50,000 allocations instead of 700.

Memory is still freed by reference counting the moment it is unused; only garbage in
reference cycles waits longer, and it is bounded by the same thresholds.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cycle collection while a large answer is built (a pull page, a push batch).
    A collection in the middle walks every object the answer holds, all of them alive,
    and moves them to an older generation to be walked again; once the answer is sent
    they are freed by reference counting, so the collector finds little left to do.
    Process-wide, and reentrant across a gunicorn worker's threads: the collector comes
    back when the last pause of the process ends (``fastpath.collector``)."""
    from backend.fastpath.collector import collector_paused

    with collector_paused():
        yield
