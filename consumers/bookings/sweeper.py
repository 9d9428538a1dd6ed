"""`completed`: a confirmed booking whose meeting has ended.

No event says a meeting ended, so a sweeper looks for confirmed bookings whose end
time has passed and records the `ended` fact for each (as of its end time), settling
it as the handler would; the change is published from the outbox like any other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.bookings import ledger
from consumers.bookings.facts import BOOKING, ENDED, Fact, Observation, subject
from schemas.booking_store import booking_payments

log = logging.getLogger(__name__)


class MeetingSweeper:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch: int = 200,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._batch = batch

    async def sweep(self) -> int:
        """Mark the ended meetings of confirmed bookings; returns how many."""
        now = self._clock()
        async with self._engine.connect() as connection:
            due = (
                await connection.execute(
                    select(
                        booking_payments.c.tenant,
                        booking_payments.c.booking_id,
                        booking_payments.c.end_time,
                    )
                    .where(
                        booking_payments.c.state == "confirmed",
                        booking_payments.c.end_time <= now,
                    )
                    .order_by(booking_payments.c.end_time)
                    .limit(self._batch)
                )
            ).all()
        for tenant, booking_id, end_time in due:
            ended_at = end_time if end_time.tzinfo else end_time.replace(tzinfo=UTC)
            cause = f"{booking_id}.ended"
            fact = Fact(subject(BOOKING, booking_id), ENDED, {}, ended_at, cause)
            async with self._engine.begin() as connection:
                await ledger.lock_tenant(connection, tenant)
                await ledger.record(connection, tenant, Observation((fact,)))
                await ledger.settle(connection, tenant, booking_id, cause, now)
        return len(due)

    async def run_forever(self, interval_seconds: float = 60.0) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("sweeping ended meetings failed; retrying")
            await asyncio.sleep(interval_seconds)
