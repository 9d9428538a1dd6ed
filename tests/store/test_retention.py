"""The ledger retention loop prunes what is older than the retention, and survives failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from consumers.retention import prune_forever

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def test_prunes_older_than_the_retention_and_keeps_going_after_a_failure() -> None:
    cutoffs: list[datetime] = []

    async def prune(older_than: datetime) -> int:
        cutoffs.append(older_than)
        if len(cutoffs) == 1:
            raise ConnectionError("the database blinked")
        return 3

    loop = asyncio.create_task(
        prune_forever(prune, retention=timedelta(days=7), interval_seconds=0.01, clock=lambda: NOW)
    )
    while len(cutoffs) < 3:
        await asyncio.sleep(0.01)
    loop.cancel()
    assert cutoffs[:3] == [NOW - timedelta(days=7)] * 3
