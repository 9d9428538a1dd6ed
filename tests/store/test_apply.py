"""The applier: the ledger, unknown types, one transaction per batch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from consumers.apply import Applier, ApplyResult
from consumers.providers import build_registry
from consumers.upsert import Rows, insert_new
from gateway.store.engine import store_engine
from schemas import CloudEvent
from schemas.store import bookings, processed_events
from tests.store import events
from tests.store.events import at
from tests.store.rows import rows


def _unknown(tenant: str, event_id: str) -> CloudEvent:
    return CloudEvent(
        id=event_id,
        source=f"urn:hookgate:calendly:src-calendly-{tenant}",
        type="calendly.routing_form_submission.created",
        time=at(0),
        subject="s",
        tenant=tenant,
        provider="calendly",
        partitionkey=f"{tenant}:s",
        data=b"{}",
    )


async def _ledger_size(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(processed_events)) or 0)


async def test_redelivered_events_are_skipped(engine: AsyncEngine, applier: Applier) -> None:
    created = events.calendly("t", "invitee.created", at(0))
    first = await applier.apply([created, created])
    again = await applier.apply([created])
    assert (first.applied, first.duplicates) == (1, 1)
    assert (again.applied, again.duplicates) == (0, 1)
    assert await _ledger_size(engine) == 1


async def test_unknown_types_are_counted_once_and_skipped(
    engine: AsyncEngine, applier: Applier
) -> None:
    known = events.calendly("t", "invitee.created", at(0))
    result = await applier.apply([_unknown("t", "u1"), known, _unknown("t", "u2")])
    assert result == ApplyResult(
        applied=1,
        unhandled=2,
        unhandled_types={"calendly.routing_form_submission.created": 2},
        statements=result.statements,
    )
    redelivered = await applier.apply([_unknown("t", "u1")])
    assert (redelivered.unhandled, redelivered.duplicates) == (0, 1)
    assert len(await rows(engine, bookings, "t")) == 1


async def test_a_failing_handler_writes_nothing_of_the_batch(engine: AsyncEngine) -> None:
    registry = build_registry()

    async def explode(connection: AsyncConnection, batch: Sequence[CloudEvent]) -> None:
        raise RuntimeError("handler failed")

    registry.register(["calendly.routing_form_submission.created"], explode)
    applier = Applier(engine, registry)
    with pytest.raises(RuntimeError, match="handler failed"):
        await applier.apply([events.calendly("t", "invitee.created", at(0)), _unknown("t", "u")])
    assert await rows(engine, bookings, "t") == []
    assert await _ledger_size(engine) == 0


async def test_prune_forgets_old_ledger_rows(engine: AsyncEngine, applier: Applier) -> None:
    await applier.apply([_unknown("t", "old")])
    assert await applier.prune(at(0)) == 0  # processed now, after at(0)
    assert await applier.prune(at(10**7)) == 1
    assert await _ledger_size(engine) == 0


async def test_a_batch_of_new_and_redelivered_events_applies_each_once(
    engine: AsyncEngine, applier: Applier
) -> None:
    seen = [events.calendly("t", "invitee.created", at(n), invitee_uri=_invitee(n)) for n in (0, 1)]
    await applier.apply(seen)
    fresh = [
        events.calendly("t", "invitee.created", at(n), invitee_uri=_invitee(n)) for n in (2, 3)
    ]
    result = await applier.apply([seen[0], fresh[0], seen[1], fresh[1]])
    assert (result.applied, result.duplicates) == (2, 2)
    assert await _ledger_size(engine) == 4
    assert len(await rows(engine, bookings, "t")) == 4


def _invitee(n: int) -> str:
    return f"https://api.calendly.com/scheduled_events/E{n}/invitees/I{n}"


def _ledger_rows(*event_ids: str) -> Rows:
    return Rows(
        processed_events,
        [
            {"source": "urn:s", "event_id": event_id, "type": "t", "outcome": "applied"}
            for event_id in event_ids
        ],
    )


async def test_a_claim_racing_another_for_the_same_events_waits_and_takes_the_rest(
    postgres_url: str,
) -> None:
    """PostgreSQL: the second claim's COPY waits for the first transaction's keys; once
    that commits, the claim takes only the keys left."""
    engine = store_engine(postgres_url)
    key, same = ("source", "event_id"), {"processed_at": at(0)}
    try:
        async with engine.connect() as first, engine.connect() as second:
            first_tx = await first.begin()
            assert await insert_new(first, _ledger_rows("e1", "e2"), key=key, same=same) == {
                ("urn:s", "e1"),
                ("urn:s", "e2"),
            }
            second_tx = await second.begin()
            racing = asyncio.ensure_future(
                insert_new(second, _ledger_rows("e2", "e3"), key=key, same=same)
            )
            await asyncio.sleep(0.5)
            assert not racing.done()  # waiting for the first transaction's e2
            await first_tx.commit()
            assert await asyncio.wait_for(racing, 10) == {("urn:s", "e3")}
            await second_tx.commit()
        assert await _ledger_size(engine) == 3
    finally:
        await engine.dispose()
