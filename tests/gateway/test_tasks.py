"""`running`: a task lives exactly as long as its block."""

from __future__ import annotations

import asyncio

from gateway.tasks import running


async def test_the_task_runs_during_the_block_and_is_cancelled_after() -> None:
    ticks = 0
    cancelled = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        try:
            while True:
                ticks += 1
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with running(tick(), name="ticker"):
        await asyncio.sleep(0.01)
        assert ticks > 0
    assert cancelled.is_set()
    seen = ticks
    await asyncio.sleep(0.01)
    assert ticks == seen
