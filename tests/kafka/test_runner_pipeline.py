"""The pipelined KafkaRunner: the next batch is fetched while one is applied, but a
batch is applied only after the previous batch's offsets were committed, and stopping
commits nothing that was not applied."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from consumers.kafka_runner import KafkaRunner, KafkaRunnerConfig
from gateway.bus.kafka_publisher import KafkaPublisher
from schemas import CloudEvent
from tests.fixtures.kafka import create_topics
from tests.kafka.consuming import eventually
from tests.kafka.helpers import sample_record

EVENTS = 60
BATCH = 10


async def test_each_batch_starts_after_the_previous_commit(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic, dlq, group = f"{topic_prefix}.calendly", f"{topic_prefix}.dlq", f"{topic_prefix}.store"
    await create_topics(kafka_bootstrap, [topic, dlq], partitions=1)
    tp = TopicPartition(topic, 0)
    probe = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    await probe.start()
    applied: list[str] = []
    committed_at_start: list[int] = []
    runner: KafkaRunner

    async def apply(events: Sequence[CloudEvent]) -> None:
        committed_at_start.append(await probe.committed(tp) or 0)
        await asyncio.sleep(0.3)  # time for the runner to fetch and decode the next batch
        applied.extend(event.id for event in events)
        if len(applied) >= EVENTS // 2:
            runner.stop()

    await _publish(kafka_bootstrap, topic)

    config = KafkaRunnerConfig(kafka_bootstrap, (topic,), group, dlq, max_batch=BATCH)
    runner = KafkaRunner(config, apply)
    try:
        await asyncio.wait_for(runner.run(), 60)
        final = await probe.committed(tp)
    finally:
        await probe.stop()

    batches = len(committed_at_start)
    assert batches == EVENTS // 2 // BATCH, committed_at_start
    # batch k began with exactly the k batches before it committed, no more, no less
    assert committed_at_start == [k * BATCH for k in range(batches)]
    # stopping dropped the batch fetched ahead: committed is what was applied
    assert final == len(applied) == EVENTS // 2
    assert applied == [f"evt-{n:06d}" for n in range(EVENTS // 2)]
    assert runner.stats.commits == batches
    assert runner.stats.events == EVENTS // 2


async def test_restart_after_stop_resumes_at_the_committed_offset(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic, dlq, group = f"{topic_prefix}.calendly", f"{topic_prefix}.dlq", f"{topic_prefix}.store"
    await create_topics(kafka_bootstrap, [topic, dlq], partitions=1)
    await _publish(kafka_bootstrap, topic)
    seen: list[str] = []
    config = KafkaRunnerConfig(kafka_bootstrap, (topic,), group, dlq, max_batch=BATCH)

    def runner_stopping_after(count: int) -> KafkaRunner:
        async def apply(events: Sequence[CloudEvent]) -> None:
            seen.extend(event.id for event in events)
            await asyncio.sleep(0.05)
            if len(seen) >= count:
                runner.stop()

        runner = KafkaRunner(config, apply)
        return runner

    await asyncio.wait_for(runner_stopping_after(BATCH * 2).run(), 60)
    await asyncio.wait_for(runner_stopping_after(EVENTS).run(), 60)

    async def everything() -> bool:
        return len(seen) >= EVENTS

    await eventually(everything, what="every event")
    assert seen == [f"evt-{n:06d}" for n in range(EVENTS)]  # none skipped, none twice


async def _publish(bootstrap: str, topic: str) -> None:
    async with KafkaPublisher(bootstrap, timeout_seconds=10) as publisher:
        await publisher.start(wait_seconds=10)
        await publisher.publish([sample_record(topic, n) for n in range(EVENTS)])
