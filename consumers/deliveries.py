"""`sources.last_delivery_at`: when the consumers last applied a webhook delivery of
each source.

Written here, on the consumer side, rather than by the ingress: the ingress stays free
of store writes (it answers providers while the database is away), and a batch of
deliveries is already one transaction here. Coalesced: a source's row is written at
most once per `interval` by a process (the first delivery after a quiet spell at once,
later ones by the next write that falls due, or `flush_forever`), so a busy source
costs one UPDATE a minute, not one per delivery. Import events (`ce_syncid`) and
reconciliation deletions are not deliveries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import and_, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import CloudEvent
from schemas.tables import sources

log = logging.getLogger("hookgate.consumers")
DEFAULT_INTERVAL_SECONDS = 60.0
SOURCE_PREFIX = "urn:hookgate:"


def delivered_source(event: CloudEvent) -> str | None:
    """The id of the source whose webhook delivery `event` is; None for import events."""
    if event.syncid is not None or event.reason is not None:
        return None
    prefix = f"{SOURCE_PREFIX}{event.provider}:"
    return event.source.removeprefix(prefix) if event.source.startswith(prefix) else None


class LastDeliveries:
    """Notes the sources of applied deliveries; writes each one's time when due."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._interval = interval_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._pending: dict[str, datetime] = {}
        self._written: dict[str, float] = {}
        self.writes = 0
        """UPDATE statements sent (a test counts them)."""

    async def applied(self, events: Sequence[CloudEvent]) -> None:
        """A batch was applied: note its deliveries and write the sources that are due.

        A failed write is logged and kept for later: the batch is applied either way."""
        now = self._clock()
        for event in events:
            source_id = delivered_source(event)
            if source_id is not None:
                self._pending[source_id] = now
        try:
            await self.flush()
        except Exception:
            log.exception("recording the sources' last delivery failed; retrying later")

    async def flush(self) -> int:
        """Write the pending sources not written within `interval`; how many."""
        moment = self._monotonic()
        due = {
            source_id: at
            for source_id, at in self._pending.items()
            if moment - self._written.get(source_id, -self._interval) >= self._interval
        }
        if not due:
            return 0
        async with self._engine.begin() as connection:
            for source_id, at in due.items():
                await connection.execute(
                    update(sources)
                    .where(
                        and_(
                            sources.c.id == source_id,
                            or_(
                                sources.c.last_delivery_at.is_(None),
                                sources.c.last_delivery_at < at,
                            ),
                        )
                    )
                    .values(last_delivery_at=at)
                )
        self.writes += len(due)
        for source_id, at in due.items():
            if self._pending.get(source_id) == at:  # not noted again while writing
                del self._pending[source_id]
            self._written[source_id] = moment
        return len(due)

    async def flush_forever(self) -> None:
        """Write what waited for its interval, every interval, until cancelled."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("recording the sources' last delivery failed; retrying later")
