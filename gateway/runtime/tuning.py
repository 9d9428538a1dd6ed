"""Process tuning for long-lived hookgate processes: the collector and the GIL switch."""

from __future__ import annotations

import gc
import sys

GC_GEN0_THRESHOLD = 20_000
"""Allocations between young collections; the default 700 collects many times per request
burst and promotes short-lived request objects into older generations."""


SWITCH_INTERVAL_SECONDS = 0.001
"""How long a thread waiting for the GIL waits before the event loop must hand it over.
The spool's writer thread asks for it after every SQLite call; at the default 5 ms a
busy loop made each group commit wait several of those."""


def tune_gc(gen0_threshold: int = GC_GEN0_THRESHOLD) -> None:
    """Move everything start-up made out of the collector's sight, and collect less often.

    The start-up heap (modules, models, engines, clients) lives as long as the process;
    frozen, no collection walks it again, so a full collection under load stays short.
    `gen0_threshold`: allocations between young collections.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
