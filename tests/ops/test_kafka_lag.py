"""Lag and DLQ size come from the broker: end offsets against the groups' commits."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import CollectorRegistry

from consumers.metrics import ConsumerMetrics, KafkaLagPoller, LagConfig
from tests.fixtures.kafka import create_topics


async def _produce(bootstrap: str, topic: str, partition: int, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(topic, f"v{n}".encode(), partition=partition)
    finally:
        await producer.stop()


async def _commit(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(offset, "")})
    finally:
        await consumer.stop()


async def test_lag_per_partition_and_unreplayed_dead_letters(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic, dlq = f"{topic_prefix}.calendly", f"{topic_prefix}.dlq"
    await create_topics(kafka_bootstrap, [topic], partitions=2)
    await create_topics(kafka_bootstrap, [dlq], partitions=1)
    await _produce(kafka_bootstrap, topic, 0, 5)
    await _produce(kafka_bootstrap, topic, 1, 2)
    await _produce(kafka_bootstrap, dlq, 0, 4)
    group, replay = f"{topic_prefix}.store", f"{topic_prefix}.replay"
    await _commit(kafka_bootstrap, group, TopicPartition(topic, 0), 2)

    registry = CollectorRegistry()
    metrics = ConsumerMetrics(registry)
    config = LagConfig(kafka_bootstrap, group, (topic,), dlq, replay)
    async with KafkaLagPoller(config, metrics) as poller:
        await poller.poll()

        def lag(partition: int) -> float | None:
            return registry.get_sample_value(
                "hookgate_consumer_lag_events", {"topic": topic, "partition": str(partition)}
            )

        assert lag(0) == 3  # committed 2 of 5
        assert lag(1) == 2  # nothing committed: everything from the start
        assert registry.get_sample_value("hookgate_dlq_events") == 4

        await _commit(kafka_bootstrap, replay, TopicPartition(dlq, 0), 3)
        await _commit(kafka_bootstrap, group, TopicPartition(topic, 1), 2)
        await poller.poll()
        assert lag(1) == 0
        assert registry.get_sample_value("hookgate_dlq_events") == 1
