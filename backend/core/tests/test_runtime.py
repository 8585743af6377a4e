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
