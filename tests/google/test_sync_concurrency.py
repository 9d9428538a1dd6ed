"""A burst across many calendars queues for a bounded number of sync slots.

Each calendar's sync is one `events.list` round trip and a store transaction. Run for
every calendar at once they would run into Google's rate limits and the connection
pool's timeout; the scheduler runs at most `max_running` (8 by default) and the rest
wait their turn, each still catching up.
"""

from __future__ import annotations

import asyncio

from consumers.google.scheduler import DEFAULT_MAX_RUNNING
from tests.google.conftest import Harness
from tests.google.test_sync import START, open_channel

CALENDARS = [f"room-{n}@example.com" for n in range(3 * DEFAULT_MAX_RUNNING)]


async def test_a_burst_over_many_calendars_runs_a_bounded_number_of_syncs_at_once(
    harness: Harness,
) -> None:
    for calendar in CALENDARS:
        await open_channel(harness, calendar)
    await harness.settle()
    emulator = harness.emulator
    emulator.list_seconds = 0.1  # a round trip long enough for the syncs to overlap
    await asyncio.gather(
        *(emulator.create_event(calendar, summary="Booked", start=START) for calendar in CALENDARS)
    )
    await harness.settle()

    for calendar in CALENDARS:
        await harness.assert_store_matches(calendar)
        assert len(await harness.store(calendar)) == 1
    stats = harness.google.scheduler.stats
    assert stats.failures == 0
    assert stats.most_running == DEFAULT_MAX_RUNNING, "the burst filled every slot"
    # Google never saw more lists at once; how many it saw together depends on how fast
    # the machine starts them (6 of the 8 on a slow one), but several overlapped.
    assert 1 < emulator.counters.most_concurrent_lists <= DEFAULT_MAX_RUNNING
