"""`Applier.prepare`: a batch prepared ahead (as the Kafka runner does while the batch
before is written) applies as the same events would, its prepared part used once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.handlers import build_registry
from schemas.store import bookings
from tests.store import events
from tests.store.events import at
from tests.store.rows import rows


async def test_a_batch_prepared_ahead_applies_once_prepared_then_as_events(
    engine: AsyncEngine, applier: Applier
) -> None:
    made = [
        events.calendly("t", "invitee.created", at(n), invitee_uri=f"urn:i:{n}") for n in range(3)
    ]
    batch = await applier.prepare([*made, made[0]])
    assert list(batch) == [*made, made[0]]
    assert batch.take(Applier(engine, build_registry())) is None  # not the preparing applier's
    result = await applier.apply(batch)
    assert (result.applied, result.duplicates) == (3, 1)
    assert batch.take(applier) is None  # used once: a retry prepares again
    again = await applier.apply(batch)
    assert (again.applied, again.duplicates) == (0, 4)
    assert len(await rows(engine, bookings, "t")) == 3
