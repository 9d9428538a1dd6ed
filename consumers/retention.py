"""Keeps the processed-event ledger and the audit log bounded: forget what is older
than the retention.

Past the retention a redelivered event is applied again, which the version guards
make harmless; the ledger only has to outlive the providers' and Kafka's redelivery
windows (days), not forever. The audit log is kept `HOOKGATE_AUDIT_RETENTION_DAYS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.tables import audit_log

log = logging.getLogger(__name__)

LEDGER_RETENTION = timedelta(days=7)
AUDIT_RETENTION = timedelta(days=90)
PRUNE_INTERVAL_SECONDS = 3600.0


Pruner = Callable[[datetime], Awaitable[int]]
"""Deletes what is older than the time it is given; how many rows it deleted."""


def audit_pruner(engine: AsyncEngine) -> Pruner:
    async def prune(older_than: datetime) -> int:
        async with engine.begin() as connection:
            result = await connection.execute(delete(audit_log).where(audit_log.c.at < older_than))
        return result.rowcount or 0

    return prune


async def prune_forever(
    prune: Pruner,
    *,
    retention: timedelta = LEDGER_RETENTION,
    interval_seconds: float = PRUNE_INTERVAL_SECONDS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    what: str = "ledger",
) -> None:
    """Call `prune(now - retention)` now and every `interval_seconds`, until cancelled."""
    while True:
        try:
            removed = await prune(clock() - retention)
            if removed:
                log.info("%s pruned", what, extra={"removed": removed})
        except Exception:
            log.exception("%s pruning failed; retrying later", what)
        await asyncio.sleep(interval_seconds)
