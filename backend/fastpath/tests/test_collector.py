"""``backend.fastpath.collector``: paused inside, nested or not, and as it was after,
an error or not."""

from __future__ import annotations

import gc

import pytest

from backend.fastpath.collector import collector_paused


def test_the_collector_is_paused_for_the_batch_and_on_again_after():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer batch goes on
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
