"""Calendly invitee and Stripe payment events → booking facts, and the state they give.

Runs in the applier's transaction: each event's facts and links are merged, then every
booking they belong to is settled, each change of state going to the history (the
outbox `consumers.bookings.outbox` publishes from). The Calendly invitee events keep
their `bookings` handler too: this one is chained after it, and writes nothing for an
invitee that can belong to no booking (`events.observe` shows nothing of it), so the
Calendly bookings of plain scheduling cost no more than before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.bookings import ledger
from consumers.bookings.events import CALENDLY_TYPES, STRIPE_TYPES, observe
from consumers.bookings.facts import Observation
from consumers.registry import HandlerRegistry, PreparedHandler
from schemas import CloudEvent


def register(registry: HandlerRegistry) -> None:
    handler = BookingHandler()
    registry.register(STRIPE_TYPES, handler)
    registry.chain(CALENDLY_TYPES, handler)


class BookingHandler(PreparedHandler[Observation]):
    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock

    def prepare(self, event: CloudEvent) -> Observation:
        return observe(event)

    async def write(
        self, connection: AsyncConnection, prepared: Sequence[tuple[CloudEvent, Observation]]
    ) -> None:
        observed = [(event, seen) for event, seen in prepared if seen.facts or seen.links]
        for tenant in sorted({event.tenant for event, _ in observed}):
            await ledger.lock_tenant(connection, tenant)
        for event, observation in observed:
            await ledger.record(connection, event.tenant, observation)
            await ledger.settle_observed(
                connection, event.tenant, observation, event.id, self._clock()
            )
