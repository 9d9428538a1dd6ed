"""Records Kafka refuses for good do not hold the spool up: the relay sends them to the
DLQ, or sets them aside when the DLQ refuses them too, and relays the rest in order."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
from pathlib import Path

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)

from gateway.bus.kafka_publisher import KafkaPublisher
from gateway.bus.publish import PublishUnavailable
from gateway.bus.relay import Relay, permanent_refusal, topic_refusal
from gateway.bus.spool import Spool
from tests.fixtures.kafka import create_topics
from tests.kafka.helpers import ce_id, read_topic, sample_record

MAX_RECORD_BYTES = 100_000


async def wait_until_drained(spool: Spool, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while await spool.depth():
        assert time.monotonic() < deadline, "the relay is stuck on the spool"
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_refused_records_go_to_the_dlq_or_aside_and_the_rest_flows(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topic, dlq = f"{topic_prefix}.calendly", f"{topic_prefix}.dlq"
    await create_topics(kafka_bootstrap, [topic, dlq])
    good = [sample_record(topic, n) for n in (0, 2, 4)]
    illegal_topic = dataclasses.replace(sample_record(topic, 1), topic=f"{topic_prefix}.bad topic!")
    no_dlq = dataclasses.replace(sample_record(topic, 5), topic="bad topic without prefix")
    too_large = dataclasses.replace(sample_record(topic, 3), value=b"x" * (2 * MAX_RECORD_BYTES))
    kafka = KafkaPublisher(kafka_bootstrap, timeout_seconds=5)
    await kafka.start(wait_seconds=10)
    try:
        async with Spool(tmp_path / "spool.db") as spool:
            await spool.append([good[0], illegal_topic, good[1], too_large, no_dlq, good[2]])
            relay = Relay(
                spool,
                kafka,
                idle_poll_seconds=0.1,
                max_backoff_seconds=0.5,
                max_record_bytes=MAX_RECORD_BYTES,
            )
            async with relay:
                await wait_until_drained(spool)
                later = sample_record(topic, 6)
                await spool.append([later])
                await wait_until_drained(spool)
            stats = relay.stats
    finally:
        await kafka.stop()

    on_topic = await read_topic(kafka_bootstrap, topic, expected=4)
    assert [ce_id(record) for record in on_topic] == [
        "evt-000000",
        "evt-000002",
        "evt-000004",
        "evt-000006",
    ]

    [letter] = await read_topic(kafka_bootstrap, dlq, expected=1)
    headers = {name: value.decode() for name, value in letter.headers}
    assert headers["ce_id"] == "evt-000001"
    assert headers["hookgate_dlq_topic"] == illegal_topic.topic
    assert headers["hookgate_dlq_error_class"] == "InvalidTopicError"
    assert "is not a legal Kafka topic name" in headers["hookgate_dlq_error"]
    assert letter.key == illegal_topic.key
    assert letter.value == illegal_topic.value

    aside = {entry["event_id"]: entry for entry in relay.set_aside.read()}
    assert aside.keys() == {"evt-000003", "evt-000005"}
    big = aside["evt-000003"]
    assert base64.b64decode(str(big["value"])) == too_large.value
    assert big["topic"] == topic
    assert [r["error_class"] for r in big["refusals"]] == [
        "MessageSizeTooLargeError",  # on its topic, then on the DLQ
        "MessageSizeTooLargeError",
    ]
    assert [r["error_class"] for r in aside["evt-000005"]["refusals"]] == [
        "InvalidTopicError"  # its topic names no prefix, so no DLQ either
    ]
    assert stats.relayed_records == 4
    assert stats.dead_lettered == 1
    assert stats.set_aside == 2
    print(
        f"relayed={stats.relayed_records} dead_lettered={stats.dead_lettered} "
        f"set_aside={stats.set_aside} failed_attempts={stats.failed_attempts}"
    )


def failure(cause: BaseException | None) -> PublishUnavailable:
    """A publish failure as `KafkaPublisher` raises it: `raise ... from cause`."""
    exc = PublishUnavailable("Kafka refused the records.")
    exc.__cause__ = cause
    exc.__suppress_context__ = True
    return exc


def test_only_refusals_of_the_record_itself_are_permanent() -> None:
    refusal = permanent_refusal(failure(MessageSizeTooLargeError("too big")))
    assert refusal is not None
    assert refusal.error_class == "MessageSizeTooLargeError"
    assert permanent_refusal(failure(KafkaConnectionError("down"))) is None
    assert permanent_refusal(failure(TopicAuthorizationFailedError())) is None
    assert permanent_refusal(failure(None)) is None
    assert permanent_refusal(failure(TimeoutError())) is None


def test_topic_names_follow_kafkas_rules() -> None:
    assert topic_refusal("hookgate.calendly") is None
    assert topic_refusal("a-b_c.D9") is None
    for illegal in ("", ".", "..", "has space", "sl/ash", "é", "x" * 250):
        assert topic_refusal(illegal) is not None, illegal
