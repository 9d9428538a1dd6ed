"""`Applier.prepare`: a batch prepared ahead (as the Kafka runner does while the batch
before is written) applies as the same events would, its prepared part used once."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.providers import build_registry
from schemas.store import bookings, processed_events
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


async def test_a_batch_prepared_ahead_is_recorded_when_it_is_applied(engine: AsyncEngine) -> None:
    """The ledger rows are made ahead; their time is the apply's, their outcome the plan's."""
    now = [at(100)]
    applier = Applier(engine, build_registry(), clock=lambda: now[0])
    created = events.calendly("t", "invitee.created", at(1), invitee_uri="urn:i:1")
    unknown = events.calendly("t", "invitee.created", at(1), invitee_uri="urn:i:2").model_copy(
        update={"id": "unknown-1", "type": "calendly.routing_form_submission.created"}
    )
    batch = await applier.prepare([created, unknown])
    now[0] = at(200)  # the batch before it took a while to write
    result = await applier.apply(batch)
    assert (result.applied, result.unhandled) == (1, 1)
    async with engine.connect() as connection:
        found = await connection.execute(
            select(
                processed_events.c.event_id,
                processed_events.c.outcome,
                processed_events.c.processed_at,
            ).order_by(processed_events.c.event_id)
        )
        recorded = {(event_id, outcome, when.astimezone(UTC)) for event_id, outcome, when in found}
    assert recorded == {(created.id, "applied", at(200)), ("unknown-1", "unhandled", at(200))}
