"""Create hookgate's topics at start, where the cluster allows it.

Topics that already exist are left as they are; a cluster that does not let this
client create topics (authorization, policy) is logged, not fatal: its operators
create them. Anything else is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from gateway.settings import Settings

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36
NOT_ALLOWED = {
    29: "topic authorization failed",
    31: "cluster authorization failed",
    44: "the cluster's create-topic policy refused it",
}


class TopicSetupError(Exception):
    """The cluster refused to create a topic for a reason other than permission."""


@dataclass
class TopicsReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    not_allowed: list[str] = field(default_factory=list)


def hookgate_topics(settings: Settings, providers: Iterable[str]) -> list[str]:
    """`{prefix}.{provider}` for each provider, and `{prefix}.dlq`."""
    return [settings.topic(provider) for provider in providers] + [settings.dlq_topic]


async def ensure_topics(
    bootstrap_servers: str,
    topics: Sequence[str],
    *,
    partitions: int,
    replication_factor: int,
    request_timeout_ms: int = 10_000,
) -> TopicsReport:
    """Create `topics` that do not exist yet."""
    report = TopicsReport()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="hookgate-topics",
        request_timeout_ms=request_timeout_ms,
    )
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(topic, partitions, replication_factor) for topic in topics]
        )
    finally:
        await admin.close()
    for topic, code, message in response.topic_errors:
        if code == 0:
            report.created.append(topic)
        elif code == TOPIC_ALREADY_EXISTS:
            report.existing.append(topic)
        elif code in NOT_ALLOWED:
            report.not_allowed.append(topic)
            log.warning("Topic %s was not created: %s.", topic, NOT_ALLOWED[code])
        else:
            raise TopicSetupError(
                f"Kafka refused to create topic {topic} (error {code}: {message or 'no detail'})."
            )
    return report


async def ensure_hookgate_topics(settings: Settings, providers: Iterable[str]) -> TopicsReport:
    """Create the providers' topics and the DLQ with the configured partitions/replication."""
    if not settings.kafka_bootstrap_servers:
        raise ValueError("HOOKGATE_KAFKA_BOOTSTRAP_SERVERS is not set")
    return await ensure_topics(
        settings.kafka_bootstrap_servers,
        hookgate_topics(settings, providers),
        partitions=settings.kafka_topic_partitions,
        replication_factor=settings.kafka_topic_replication_factor,
    )
