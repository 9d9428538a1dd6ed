"""Keeps the processed-event ledger bounded: forget what is older than the retention.

Past the retention a redelivered event is applied again, which the version guards
make harmless; the ledger only has to outlive the providers' and Kafka's redelivery
windows (days), not forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)

LEDGER_RETENTION = timedelta(days=7)
PRUNE_INTERVAL_SECONDS = 3600.0


async def prune_forever(
    prune: Callable[[datetime], Awaitable[int]],
    *,
    retention: timedelta = LEDGER_RETENTION,
    interval_seconds: float = PRUNE_INTERVAL_SECONDS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Call `prune(now - retention)` now and every `interval_seconds`, until cancelled."""
    while True:
        try:
            removed = await prune(clock() - retention)
            if removed:
                log.info("ledger pruned", extra={"removed": removed})
        except Exception:
            log.exception("ledger pruning failed; retrying later")
        await asyncio.sleep(interval_seconds)
