"""Prepared handlers: every event is prepared before the ledger answers, but an event
that fails to prepare fails the batch only if the ledger finds it new."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import PREPARE_CHUNK, Applier
from consumers.calendly.handler import CalendlyHandler
from consumers.providers import build_registry
from consumers.registry import PreparedHandler
from schemas import CloudEvent, MalformedPayload
from schemas.store import bookings, processed_events
from tests.store import events
from tests.store.events import at
from tests.store.rows import rows


def _malformed(tenant: str, event_id: str) -> CloudEvent:
    good = events.calendly(tenant, "invitee.created", at(0))
    return good.model_copy(update={"id": event_id, "data": b'{"event": "invitee.created"}'})


async def _ledger_size(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(processed_events)) or 0)


def test_the_store_handlers_are_prepared_handlers() -> None:
    registry = build_registry()
    for event_type in sorted(registry.event_types):
        assert isinstance(registry.resolve(event_type), PreparedHandler), event_type


async def test_a_malformed_new_event_fails_the_batch_and_writes_nothing(
    engine: AsyncEngine, applier: Applier
) -> None:
    good = events.calendly("t", "invitee.created", at(0))
    with pytest.raises(MalformedPayload, match="Calendly delivery"):
        await applier.apply([good, _malformed("t", "bad")])
    assert await rows(engine, bookings, "t") == []
    assert await _ledger_size(engine) == 0


async def test_a_malformed_duplicate_is_skipped_like_any_duplicate(
    engine: AsyncEngine, applier: Applier
) -> None:
    bad = _malformed("t", "bad")
    # recorded once (e.g. applied before the payload model got stricter)
    await Applier(engine, build_registry()).apply([bad.model_copy(update={"type": "x.y"})])
    good = events.calendly("t", "invitee.created", at(0))
    result = await applier.apply([bad, good])
    assert (result.applied, result.duplicates) == (1, 1)
    assert len(await rows(engine, bookings, "t")) == 1


async def test_called_as_a_plain_handler_it_prepares_and_writes(engine: AsyncEngine) -> None:
    handler = CalendlyHandler()
    made = [
        events.calendly("t", "invitee.created", at(n), invitee_uri=f"urn:i:{n}")
        for n in range(PREPARE_CHUNK + 3)
    ]
    async with engine.begin() as connection:
        await handler(connection, made)
    assert len(await rows(engine, bookings, "t")) == PREPARE_CHUNK + 3


async def test_batches_larger_than_a_prepare_chunk_apply_whole(
    engine: AsyncEngine, applier: Applier
) -> None:
    made = [
        events.calendly("t", "invitee.created", at(n), invitee_uri=f"urn:i:{n}")
        for n in range(2 * PREPARE_CHUNK + 1)
    ]
    result = await applier.apply(made)
    assert result.applied == len(made)
    assert len(await rows(engine, bookings, "t")) == len(made)
