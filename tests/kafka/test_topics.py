"""Topic creation at start: creates what is missing, leaves what exists."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from gateway.bus.topics import ensure_hookgate_topics
from gateway.settings import Settings


async def test_creates_provider_topics_bookings_and_dlq_once(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, kafka_topic_partitions=4
    )
    first = await ensure_hookgate_topics(settings, ["calendly", "pco"])
    assert sorted(first.created) == sorted(
        [
            f"{topic_prefix}.calendly",
            f"{topic_prefix}.pco",
            f"{topic_prefix}.bookings",
            f"{topic_prefix}.dlq",
        ]
    )
    second = await ensure_hookgate_topics(settings, ["calendly", "pco"])
    assert second.created == []
    assert len(second.existing) == 4

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([f"{topic_prefix}.calendly"])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 4
