"""KafkaPublisher against a real broker: the binding on the wire, and batching."""

from __future__ import annotations

import asyncio

import pytest

from gateway.bus.kafka_publisher import KafkaPublisher
from gateway.bus.publish import PublishUnavailable
from schemas import BusRecord
from tests.fixtures.kafka import OutageBroker, create_topics
from tests.fixtures.net import free_port
from tests.kafka.helpers import ce_id, read_topic, sample_event, sample_record


async def test_published_record_carries_the_cloudevents_binding(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.calendly"
    await create_topics(kafka_bootstrap, [topic])
    event = sample_event(1, key="acme:invitee-42")
    async with KafkaPublisher(kafka_bootstrap) as publisher:
        await publisher.start(wait_seconds=10)
        await publisher.publish([BusRecord.from_event(event, topic)])

    [record] = await read_topic(kafka_bootstrap, topic, expected=1)
    assert record.key == b"acme:invitee-42"
    assert record.value == event.data
    headers = dict(record.headers)
    assert headers == {
        "ce_specversion": b"1.0",
        "ce_id": b"evt-000001",
        "ce_source": b"urn:hookgate:calendly:src-1",
        "ce_type": b"calendly.invitee.created",
        "ce_time": b"2024-05-01T12:00:00Z",
        "ce_subject": b"invitee-42",
        "content-type": b"application/json",
        "ce_tenant": b"acme",
        "ce_provider": b"calendly",
    }
    assert len(record.headers) == len(headers)


async def test_concurrent_publishes_share_produce_batches(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.calendly"
    await create_topics(kafka_bootstrap, [topic], partitions=3)
    requests = 400
    async with KafkaPublisher(kafka_bootstrap) as publisher:
        await publisher.start(wait_seconds=10)
        await asyncio.gather(
            *(
                publisher.publish([sample_record(topic, n, key=f"acme:invitee-{n % 20}")])
                for n in range(requests)
            )
        )
        stats = publisher.stats

    records = await read_topic(kafka_bootstrap, topic, expected=requests)
    assert sorted(ce_id(r) for r in records) == [f"evt-{n:06d}" for n in range(requests)]
    assert stats.acknowledged_records == requests
    # one produce per partition per flush, not one per request
    assert stats.produce_batches <= requests // 10, stats
    assert stats.flushes <= requests // 10, stats
    # one key keeps its order within its partition
    for key in (b"acme:invitee-0", b"acme:invitee-7"):
        ids = [ce_id(r) for r in records if r.key == key]
        assert ids == sorted(ids)


async def test_publish_is_bounded_while_the_broker_is_paused(
    outage_broker: OutageBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.calendly"
    await create_topics(outage_broker.bootstrap_servers, [topic])
    publisher = KafkaPublisher(outage_broker.bootstrap_servers, timeout_seconds=0.5)
    await publisher.start(wait_seconds=10)
    try:
        await publisher.publish([sample_record(topic, 0)])
        outage_broker.broker.pause()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(PublishUnavailable, match="did not acknowledge"):
            await publisher.publish([sample_record(topic, 1)])
        assert loop.time() - started < 2.0
        assert not await publisher.ready()
        outage_broker.broker.resume()
        await publisher.publish([sample_record(topic, 2)])
        assert await publisher.ready()
    finally:
        outage_broker.broker.resume()
        await publisher.stop()


async def test_while_a_flush_is_unacknowledged_what_arrives_waits_to_go_out_together(
    outage_broker: OutageBroker, topic_prefix: str
) -> None:
    """At most two flushes are unacknowledged (one in flight, the next ready); the
    publishes of many loop turns after them go out in one flush, not one per turn."""
    topic = f"{topic_prefix}.calendly"
    await create_topics(outage_broker.bootstrap_servers, [topic])
    publisher = KafkaPublisher(outage_broker.bootstrap_servers, timeout_seconds=10)
    await publisher.start(wait_seconds=10)
    try:
        await publisher.publish([sample_record(topic, 0)])
        before = publisher.stats.flushes
        outage_broker.broker.pause()
        waves = []
        for wave in range(30):
            waves.append(asyncio.ensure_future(publisher.publish([sample_record(topic, wave + 1)])))
            await asyncio.sleep(0.01)
        assert publisher.stats.flushes - before == 2, publisher.stats
        outage_broker.broker.resume()
        await asyncio.gather(*waves)
        assert publisher.stats.flushes - before == 3, publisher.stats
    finally:
        outage_broker.broker.resume()
        await publisher.stop()
    records = await read_topic(outage_broker.bootstrap_servers, topic, expected=31)
    assert sorted(ce_id(r) for r in records) == [f"evt-{n:06d}" for n in range(31)]


@pytest.mark.parametrize("outage", ["cut", "pause"])
async def test_stop_is_bounded_while_the_broker_holds_unacknowledged_batches(
    outage_broker: OutageBroker, topic_prefix: str, outage: str
) -> None:
    """aiokafka's own stop would wait for those batches up to request_timeout_ms (30 s)."""
    topic = f"{topic_prefix}.calendly"
    await create_topics(outage_broker.bootstrap_servers, [topic])
    publisher = KafkaPublisher(
        outage_broker.bootstrap_servers, timeout_seconds=0.5, stop_seconds=1.0
    )
    await publisher.start(wait_seconds=10)
    loop = asyncio.get_running_loop()
    try:
        await publisher.publish([sample_record(topic, 0)])
        if outage == "cut":
            outage_broker.proxy.cut()
        else:
            outage_broker.broker.pause()
        waiting = [publisher.publish([sample_record(topic, n)]) for n in range(1, 20)]
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(o, PublishUnavailable) for o in outcomes), outcomes
        started = loop.time()
        await publisher.stop()
        assert loop.time() - started < 3.0
    finally:
        outage_broker.proxy.restore()
        outage_broker.broker.resume()
        await publisher.stop()


async def test_publish_before_connecting_is_unavailable_at_once() -> None:
    publisher = KafkaPublisher(f"127.0.0.1:{free_port()}", timeout_seconds=5)
    await publisher.start()
    try:
        with pytest.raises(PublishUnavailable, match="not connected"):
            await publisher.publish([sample_record("x.calendly", 0)])
        assert not await publisher.ready()
    finally:
        await publisher.stop()
