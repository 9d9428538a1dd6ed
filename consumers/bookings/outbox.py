"""`hookgate.booking.state_changed`, published from the history (the outbox).

The handler writes each change of a booking's state to `booking_history` in the
apply transaction; this publishes the rows not published yet, oldest first. A row is
claimed (`published_at` set where it was NULL) in the transaction that publishes it,
which commits only after the bus took the events: a process killed in between
publishes the row again with the same CloudEvent id (consumers dedupe on it), two
processes never both publish it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import CloudEvent, source_uri
from schemas.booking_store import booking_history

STATE_CHANGED = "hookgate.booking.state_changed"
PROVIDER = "hookgate"
Publish = Callable[[Sequence[CloudEvent]], Awaitable[None]]

log = logging.getLogger(__name__)


class StateChanges:
    def __init__(
        self,
        engine: AsyncEngine,
        publish: Publish,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch: int = 100,
    ) -> None:
        self._engine = engine
        self._publish = publish
        self._clock = clock
        self._batch = batch

    async def publish_pending(self) -> int:
        """Publish the unpublished changes (one batch); returns how many."""
        async with self._engine.begin() as connection:
            rows = (
                await connection.execute(
                    select(booking_history)
                    .where(booking_history.c.published_at.is_(None))
                    .order_by(booking_history.c.id)
                    .limit(self._batch)
                )
            ).mappings()
            now = self._clock()
            claimed = []
            for row in rows.all():
                result = await connection.execute(
                    update(booking_history)
                    .where(
                        booking_history.c.id == row["id"], booking_history.c.published_at.is_(None)
                    )
                    .values(published_at=now)
                )
                if result.rowcount == 1:
                    claimed.append(state_changed(row))
            if claimed:
                await self._publish(claimed)
        return len(claimed)

    async def run_forever(self, interval_seconds: float = 1.0) -> None:
        while True:
            try:
                while await self.publish_pending() == self._batch:
                    pass
            except Exception:
                log.exception("publishing booking state changes failed; retrying")
            await asyncio.sleep(interval_seconds)


def state_changed(row: Any) -> CloudEvent:
    """The event of one history row: data `{booking_id, from, to, cause_event_id}`."""
    changed_at = row["changed_at"]
    if changed_at.tzinfo is None:
        changed_at = changed_at.replace(tzinfo=UTC)
    data = {
        "booking_id": row["booking_id"],
        "from": row["from_state"],
        "to": row["to_state"],
        "cause_event_id": row["cause_event_id"],
    }
    return CloudEvent(
        id=f"{row['booking_id']}.{row['id']}",
        source=source_uri(PROVIDER, "bookings"),
        type=STATE_CHANGED,
        time=changed_at,
        subject=row["booking_id"],
        tenant=row["tenant"],
        provider=PROVIDER,
        partitionkey=f"{row['tenant']}:{row['booking_id']}",
        data=orjson.dumps(data),
    )
