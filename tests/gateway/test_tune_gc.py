"""`tune_gc`: the start-up heap frozen, young collections as far apart as the caller asks."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from gateway.commands.consume import CONSUMER_GC_GEN0_THRESHOLD
from gateway.runtime.tuning import GC_GEN0_THRESHOLD, SWITCH_INTERVAL_SECONDS, tune_gc


@pytest.fixture
def restored_collector() -> Iterator[None]:
    """Puts the test process's collector back as it was."""
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)


@pytest.mark.usefixtures("restored_collector")
@pytest.mark.parametrize("gen0", [GC_GEN0_THRESHOLD, CONSUMER_GC_GEN0_THRESHOLD])
def test_freezes_the_heap_and_sets_the_young_threshold(gen0: int) -> None:
    _, gen1, gen2 = gc.get_threshold()
    tune_gc(gen0)
    assert gc.get_threshold() == (gen0, gen1, gen2)
    assert gc.get_freeze_count() > 0
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
