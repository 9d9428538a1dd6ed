"""What the admin routes do to bookings: open one, record its checkout, read it back.

These are facts too, recorded and settled as the handler does, in one transaction
under the tenant's lock: the intent (`POST /admin/bookings`) and the Checkout Session
hookgate opened (`POST /admin/bookings/{id}/checkout`), whose expiry Stripe reports.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.bookings import ledger
from consumers.bookings.events import BOOKING_ID_PREFIX
from consumers.bookings.facts import (
    BOOKING,
    CHECKOUT,
    CHECKOUT_OPENED,
    INTENT,
    Fact,
    Link,
    Observation,
    subject,
)
from schemas.booking_store import booking_history, booking_payments


def new_booking_id() -> str:
    return BOOKING_ID_PREFIX + secrets.token_hex(12)


class BookingDesk:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    async def open(self, tenant: str, booking_id: str, intent: Mapping[str, Any]) -> str:
        """Record the booking's intent; returns its state (`initiated` when new)."""
        own = subject(BOOKING, booking_id)
        now = self._clock()
        fact = Fact(own, INTENT, dict(intent), now, f"{booking_id}.intent")
        return await self._observe(tenant, booking_id, Observation((fact,)), fact.event_id)

    async def checkout_opened(
        self, tenant: str, booking_id: str, session_id: str, details: Mapping[str, Any]
    ) -> str:
        """Record the Checkout Session opened for the booking; returns its state."""
        own = subject(CHECKOUT, session_id)
        fact = Fact(own, CHECKOUT_OPENED, dict(details), self._clock(), session_id)
        link = Link(own, subject(BOOKING, booking_id))
        return await self._observe(tenant, booking_id, Observation((fact,), (link,)), session_id)

    async def _observe(
        self, tenant: str, booking_id: str, observation: Observation, cause: str
    ) -> str:
        async with self._engine.begin() as connection:
            await ledger.lock_tenant(connection, tenant)
            await ledger.record(connection, tenant, observation)
            await ledger.settle(connection, tenant, booking_id, cause, self._clock())
            state = await connection.scalar(
                select(booking_payments.c.state).where(
                    booking_payments.c.tenant == tenant,
                    booking_payments.c.booking_id == booking_id,
                )
            )
        return str(state)

    async def get(self, booking_id: str) -> dict[str, Any] | None:
        """The booking's row and its history (oldest first), or None."""
        async with self._engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(booking_payments).where(booking_payments.c.booking_id == booking_id)
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            history = await connection.execute(
                select(booking_history)
                .where(
                    booking_history.c.tenant == row["tenant"],
                    booking_history.c.booking_id == booking_id,
                )
                .order_by(booking_history.c.id)
            )
            facts, _ = await ledger.facts_of(connection, row["tenant"], booking_id)
        intent = next((fact.value for fact in facts if fact.name == INTENT), {})
        return {
            "booking": _plain(row),
            "intent": dict(intent),
            "history": [_plain(change) for change in history.mappings()],
        }


def _plain(row: RowMapping) -> dict[str, Any]:
    """A row as a dict of plain `str` keys (SQLAlchemy's may be `quoted_name`s)."""
    return {str(key): value for key, value in row.items()}
