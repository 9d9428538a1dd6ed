"""The KafkaRunner prepares batch N+1 (the applier's pure part) while batch N is
written, on a real broker and PostgreSQL; each event is prepared once, and a poison
event still goes to the DLQ with the rest of its batch applied."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from itertools import pairwise

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier, PreparedBatch
from consumers.calendly.handler import EVENT_TYPES, CalendlyHandler, Prepared
from consumers.kafka_runner import KafkaRunner, KafkaRunnerConfig
from consumers.registry import HandlerRegistry
from gateway.bus.kafka_publisher import KafkaPublisher
from schemas import BusRecord, CloudEvent
from schemas.store import bookings
from tests.fixtures.kafka import create_topics
from tests.kafka.helpers import ce_id, read_topic
from tests.store import events
from tests.store.events import at

EVENTS = 60
BATCH = 10


class CountingCalendly(CalendlyHandler):
    """The store's Calendly handler, counting the events it prepares."""

    def __init__(self) -> None:
        self.prepared: list[str] = []

    def prepare(self, event: CloudEvent) -> Prepared:
        self.prepared.append(event.id)
        return super().prepare(event)


def _applier(engine: AsyncEngine) -> tuple[Applier, CountingCalendly]:
    handler = CountingCalendly()
    registry = HandlerRegistry()
    registry.register(EVENT_TYPES, handler)
    return Applier(engine, registry), handler


def _bookings(count: int) -> list[CloudEvent]:
    return [
        events.calendly("t", "invitee.created", at(n), invitee_uri=f"urn:i:{n:04d}")
        for n in range(count)
    ]


async def _publish(bootstrap: str, topic: str, made: Sequence[CloudEvent]) -> None:
    async with KafkaPublisher(bootstrap, timeout_seconds=10) as publisher:
        await publisher.start(wait_seconds=10)
        await publisher.publish([BusRecord.from_event(event, topic) for event in made])


async def _stored(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(bookings)) or 0)


async def test_the_next_batch_is_prepared_while_one_is_written(
    kafka_bootstrap: str, topic_prefix: str, postgres_engine: AsyncEngine
) -> None:
    topic, dlq, group = f"{topic_prefix}.calendly", f"{topic_prefix}.dlq", f"{topic_prefix}.store"
    await create_topics(kafka_bootstrap, [topic, dlq], partitions=1)
    made = _bookings(EVENTS)
    await _publish(kafka_bootstrap, topic, made)
    applier, handler = _applier(postgres_engine)
    timeline: list[tuple[str, str]] = []
    given: list[bool] = []
    runner: KafkaRunner

    async def prepare(batch: Sequence[CloudEvent]) -> Sequence[CloudEvent]:
        timeline.append(("prepare", batch[0].id))
        return await applier.prepare(batch)

    async def apply(batch: Sequence[CloudEvent]) -> None:
        given.append(isinstance(batch, PreparedBatch))
        timeline.append(("apply", batch[0].id))
        result = await applier.apply(batch)
        assert result.applied == len(batch)
        await asyncio.sleep(0.3)  # still writing: time for the runner to fetch the next batch
        timeline.append(("applied", batch[0].id))
        if len(given) * BATCH >= EVENTS:
            runner.stop()

    config = KafkaRunnerConfig(kafka_bootstrap, (topic,), group, dlq, max_batch=BATCH)
    runner = KafkaRunner(config, apply, prepare=prepare)
    await asyncio.wait_for(runner.run(), 60)

    firsts = [made[k].id for k in range(0, EVENTS, BATCH)]
    assert [first for step, first in timeline if step == "apply"] == firsts
    for before, after in pairwise(firsts):
        # batch N+1 was prepared before batch N's apply returned
        assert timeline.index(("prepare", after)) < timeline.index(("applied", before)), timeline
    assert all(given), given
    assert sorted(handler.prepared) == sorted(event.id for event in made)  # each once
    assert await _stored(postgres_engine) == EVENTS
    assert runner.stats.commits == EVENTS // BATCH


async def test_a_poison_event_in_a_prepared_batch_goes_to_the_dlq(
    kafka_bootstrap: str, topic_prefix: str, postgres_engine: AsyncEngine
) -> None:
    topic, dlq, group = f"{topic_prefix}.calendly", f"{topic_prefix}.dlq", f"{topic_prefix}.store"
    await create_topics(kafka_bootstrap, [topic, dlq], partitions=1)
    made = _bookings(BATCH * 3)
    poison = made[BATCH + 3].model_copy(
        update={"id": "poison", "data": b'{"event": "invitee.created"}'}
    )
    made[BATCH + 3] = poison
    await _publish(kafka_bootstrap, topic, made)
    applier, _ = _applier(postgres_engine)
    config = KafkaRunnerConfig(
        kafka_bootstrap, (topic,), group, dlq, max_batch=BATCH, backoff_initial_seconds=0.01
    )
    runner = KafkaRunner(config, applier.apply, prepare=applier.prepare)

    async def done() -> None:
        while runner.stats.events < len(made):
            await asyncio.sleep(0.05)
        runner.stop()

    await asyncio.wait_for(asyncio.gather(runner.run(), done()), 60)

    parked = await read_topic(kafka_bootstrap, dlq, expected=1)
    assert [ce_id(record) for record in parked] == ["poison"]
    assert runner.stats.dead_letters == 1
    assert await _stored(postgres_engine) == len(made) - 1
