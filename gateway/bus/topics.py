"""Create hookgate's topics at start, where the cluster allows it.

Topics are created with the configs durability needs: `min.insync.replicas` (so that
acks=all means that many copies), and, on the dead-letter topic, retention without a
limit (dead letters must not expire unseen). Topics that already exist are left as they
are: their configs are read back and each one that differs from what hookgate would
have set is logged as a warning (an operator alters it; hookgate does not). A cluster
that does not let this client create topics (authorization, policy) is logged, not
fatal: its operators create them. Anything else is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from gateway.settings import Settings

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36
NOT_ALLOWED = {
    29: "topic authorization failed",
    31: "cluster authorization failed",
    44: "the cluster's create-topic policy refused it",
}
UNLIMITED = "-1"


class TopicSetupError(Exception):
    """The cluster refused to create a topic for a reason other than permission."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic as hookgate creates it."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)

    def new_topic(self) -> NewTopic:
        return NewTopic(
            self.name, self.partitions, self.replication_factor, topic_configs=dict(self.configs)
        )


@dataclass(frozen=True)
class ConfigDifference:
    """A config of an existing topic that is not what hookgate would have created."""

    topic: str
    name: str
    wanted: str
    actual: str | None
    """None: the broker did not report it."""


@dataclass
class TopicsReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    not_allowed: list[str] = field(default_factory=list)
    differing: list[ConfigDifference] = field(default_factory=list)
    """Configs of existing topics that differ from the specs (each logged as a warning)."""
    unchecked: list[str] = field(default_factory=list)
    """Existing topics whose configs the broker would not describe."""


BOOKINGS = "bookings"
"""`{prefix}.bookings`: hookgate's own events, `hookgate.booking.state_changed`."""


def hookgate_topics(settings: Settings, providers: Iterable[str]) -> list[str]:
    """`{prefix}.{provider}` for each provider, `{prefix}.bookings` and `{prefix}.dlq`."""
    own = [settings.topic(BOOKINGS), settings.dlq_topic]
    return [settings.topic(provider) for provider in providers] + own


def hookgate_topic_specs(settings: Settings, providers: Iterable[str]) -> list[TopicSpec]:
    """The providers' topics and the DLQ, with the configured partitions, replication,
    `min.insync.replicas`, and the DLQ's retention (`retention.bytes` unlimited)."""
    durable = {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
    dlq = durable | {
        "retention.ms": str(settings.kafka_dlq_retention_ms),
        "retention.bytes": UNLIMITED,
    }
    return [
        TopicSpec(
            topic,
            settings.kafka_topic_partitions,
            settings.kafka_topic_replication_factor,
            dlq if topic == settings.dlq_topic else durable,
        )
        for topic in hookgate_topics(settings, providers)
    ]


async def ensure_topics(
    bootstrap_servers: str, specs: Sequence[TopicSpec], *, request_timeout_ms: int = 10_000
) -> TopicsReport:
    """Create the topics of `specs` that do not exist yet; check the configs of the others."""
    report = TopicsReport()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="hookgate-topics",
        request_timeout_ms=request_timeout_ms,
    )
    await admin.start()
    try:
        response = await admin.create_topics([spec.new_topic() for spec in specs])
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
                    f"Kafka refused to create topic {topic} "
                    f"(error {code}: {message or 'no detail'})."
                )
        existing = [spec for spec in specs if spec.name in report.existing and spec.configs]
        if existing:
            await _check_configs(admin, existing, report)
    finally:
        await admin.close()
    return report


async def _check_configs(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec], report: TopicsReport
) -> None:
    """Compare existing topics' configs with `specs`; warn about each difference.

    Every config is asked for (no names): tansu drops the connection on a named list.
    """
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, spec.name) for spec in specs]
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        report.unchecked += [spec.name for spec in specs]
        log.warning(
            "The configs of the existing topics %s could not be checked (%s).",
            ", ".join(spec.name for spec in specs),
            type(exc).__name__,
        )
        return
    described = _described(responses)
    for spec in specs:
        actual = described.get(spec.name)
        if actual is None:
            report.unchecked.append(spec.name)
            log.warning("The broker did not describe the configs of topic %s.", spec.name)
            continue
        for name, wanted in spec.configs.items():
            if actual.get(name) == wanted:
                continue
            report.differing.append(ConfigDifference(spec.name, name, wanted, actual.get(name)))
            log.warning(
                "Topic %s exists with %s=%s, not %s as configured; hookgate does not "
                "change existing topics: alter it with kafka-configs if it should be.",
                spec.name,
                name,
                actual.get(name, "(unset)"),
                wanted,
            )


def _described(responses: Iterable[Any]) -> dict[str, dict[str, str | None]]:
    """Each described topic's configs, by name (topics the broker refused are left out)."""
    topics: dict[str, dict[str, str | None]] = {}
    for response in responses:
        for error_code, _, _, topic, entries, *_ in response.resources:
            if error_code == 0:
                topics[topic] = {entry[0]: entry[1] for entry in entries}
    return topics


async def ensure_hookgate_topics(settings: Settings, providers: Iterable[str]) -> TopicsReport:
    """Create the providers' topics and the DLQ as `hookgate_topic_specs` describes them."""
    if not settings.kafka_bootstrap_servers:
        raise ValueError("HOOKGATE_KAFKA_BOOTSTRAP_SERVERS is not set")
    return await ensure_topics(
        settings.kafka_bootstrap_servers, hookgate_topic_specs(settings, providers)
    )
