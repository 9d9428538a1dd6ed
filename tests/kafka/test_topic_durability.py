"""Topics hookgate creates carry the configs acks=all and dead letters rely on, read back
from the broker (tansu answers DescribeConfigs when no config names are given); topics
that exist already are checked, not silently claimed.

The broker tests create topics with replication factor 3, so that the default
`min.insync.replicas` is 2: tansu accepts that on one broker, Apache Kafka needs three.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from gateway import cli
from gateway.bus.topics import ConfigDifference, ensure_hookgate_topics
from gateway.settings import Settings

THIRTY_DAYS_MS = 30 * 86_400_000


async def topic_configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    """What the broker says each topic's configs are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
        )
    finally:
        await admin.close()
    return {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in responses
        for resource in response.resources
    }


async def test_topics_get_min_insync_replicas_and_the_dlq_keeps_everything(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_prefix,
        kafka_topic_partitions=1,
        kafka_topic_replication_factor=3,
    )
    report = await ensure_hookgate_topics(settings, ["calendly"])
    topic, dlq = f"{topic_prefix}.calendly", f"{topic_prefix}.dlq"
    assert sorted(report.created) == sorted([topic, f"{topic_prefix}.bookings", dlq])

    configs = await topic_configs(kafka_bootstrap, [topic, dlq])
    assert configs[topic]["min.insync.replicas"] == "2"
    assert "retention.ms" not in configs[topic]  # the cluster's default applies
    assert configs[dlq]["min.insync.replicas"] == "2"
    assert configs[dlq]["retention.ms"] == "-1"
    assert configs[dlq]["retention.bytes"] == "-1"


async def test_settings_choose_min_insync_replicas_and_dlq_retention(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_prefix,
        kafka_topic_partitions=1,
        kafka_topic_replication_factor=3,
        kafka_min_insync_replicas=3,
        kafka_dlq_retention_ms=THIRTY_DAYS_MS,
    )
    await ensure_hookgate_topics(settings, ["pco"])

    configs = await topic_configs(kafka_bootstrap, [f"{topic_prefix}.pco", f"{topic_prefix}.dlq"])
    assert configs[f"{topic_prefix}.pco"]["min.insync.replicas"] == "3"
    assert configs[f"{topic_prefix}.dlq"]["retention.ms"] == str(THIRTY_DAYS_MS)


async def test_existing_topics_whose_configs_differ_are_reported_not_claimed(
    kafka_bootstrap: str, topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    dlq = f"{topic_prefix}.dlq"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(dlq, 1, 1, topic_configs={"retention.ms": "604800000"})]
        )
    finally:
        await admin.close()
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)

    with caplog.at_level(logging.WARNING, logger="gateway.bus.topics"):
        report = await ensure_hookgate_topics(settings, ["ghl"])

    assert report.existing == [dlq]
    assert report.unchecked == []
    assert sorted(report.differing, key=lambda d: d.name) == [
        ConfigDifference(dlq, "min.insync.replicas", "1", None),
        ConfigDifference(dlq, "retention.bytes", "-1", None),
        ConfigDifference(dlq, "retention.ms", "-1", "604800000"),
    ]
    assert f"Topic {dlq} exists with retention.ms=604800000, not -1" in caplog.text
    # nothing was changed behind the operator's back
    assert (await topic_configs(kafka_bootstrap, [dlq]))[dlq]["retention.ms"] == "604800000"


def test_min_insync_replicas_above_the_replication_factor_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # whatever starts despite the refusal writes here
    monkeypatch.setenv("HOOKGATE_KAFKA_TOPIC_REPLICATION_FACTOR", "2")
    monkeypatch.setenv("HOOKGATE_KAFKA_MIN_INSYNC_REPLICAS", "3")

    assert cli.main(["serve"]) == 2

    error = capsys.readouterr().err
    assert "HOOKGATE_KAFKA_MIN_INSYNC_REPLICAS" in error
    assert "3 is more than HOOKGATE_KAFKA_TOPIC_REPLICATION_FACTOR (2)" in error
