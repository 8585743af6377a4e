"""The serving processes tune the garbage collector once the application is loaded."""

from __future__ import annotations

import gc
import importlib

import pytest

from backend.core.runtime import GC_THRESHOLDS


@pytest.fixture
def restored_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.parametrize("entry_point", ["backend.wsgi", "backend.asgi"])
def test_entry_points_freeze_the_loaded_heap_and_raise_the_thresholds(restored_gc, entry_point):
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    module = importlib.import_module(entry_point)
    importlib.reload(module)
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0  # what start-up made is out of every collection's walk
    assert module.application is not None


def test_gc_paused_disables_the_collector_and_restores_it_even_on_error():
    from backend.core.runtime import gc_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with gc_paused():
            assert not gc.isenabled()
            raise RuntimeError("the answer failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_pull_pages_and_push_batches_are_built_with_the_collector_paused(as_persona, monkeypatch):
    import sync.api
    from sync.tests.phones import phone_of
    from tests.events_helpers import GRID_A, centre_of

    seen = []

    def recording(original):
        def call(**kwargs):
            seen.append(gc.isenabled())
            return original(**kwargs)

        return call

    monkeypatch.setattr(sync.api, "sync_pull", recording(sync.api.sync_pull))
    monkeypatch.setattr(sync.api, "sync_push", recording(sync.api.sync_push))
    phone = phone_of("demo_grid_worker")
    phone.pull()
    lat, lng = centre_of(GRID_A)
    phone.report(category="06.01", description="巡查发现暴露垃圾", lat=lat, lng=lng)
    phone.push()
    assert len(seen) == 2 and not any(seen)  # one page, one batch
    assert gc.isenabled()
