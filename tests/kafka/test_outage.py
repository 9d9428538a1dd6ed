"""Broker outages under load: every acknowledged record reaches Kafka, in order per key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.bus.durable_publisher import DurablePublisher
from gateway.bus.kafka_publisher import KafkaPublisher
from gateway.bus.publish import PublishUnavailable
from gateway.bus.relay import Relay
from gateway.bus.spool import Spool
from tests.fixtures.kafka import OutageBroker, create_topics
from tests.fixtures.net import free_port
from tests.kafka.helpers import ce_id, read_topic, sample_record

KEYS = [f"acme:invitee-{k}" for k in range(8)]


@dataclass
class Gateway:
    topic: str
    kafka: KafkaPublisher
    spool: Spool
    durable: DurablePublisher


@pytest_asyncio.fixture
async def gateway(
    outage_broker: OutageBroker, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[Gateway]:
    topic = f"{topic_prefix}.calendly"
    await create_topics(outage_broker.bootstrap_servers, [topic], partitions=3)
    kafka = KafkaPublisher(outage_broker.bootstrap_servers, timeout_seconds=0.5)
    await kafka.start(wait_seconds=10)
    async with Spool(tmp_path / "spool.db") as spool:
        relay = Relay(spool, kafka, idle_poll_seconds=0.1, max_backoff_seconds=0.5)
        async with DurablePublisher(kafka, spool, relay=relay) as durable:
            yield Gateway(topic, kafka, spool, durable)
    await kafka.stop()


class Load:
    """Publishes numbered events, each key's one after the other, keys concurrently."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.acknowledged: dict[str, list[str]] = {key: [] for key in KEYS}
        self.refused = 0
        self._next = 0

    async def run(self, per_key: int) -> None:
        await asyncio.gather(*(self._key(key, per_key) for key in KEYS))

    async def _key(self, key: str, count: int) -> None:
        for _ in range(count):
            n = self._next
            self._next += 1
            record = sample_record(self.gateway.topic, n, key=key)
            await self.gateway.durable.publish([record])
            self.acknowledged[key].append(record.event_id)

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.acknowledged.values())


async def wait_for_empty_spool(gateway: Gateway, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while await gateway.spool.depth() or gateway.durable.relay.backlog.present:
        assert time.monotonic() < deadline, "the relay did not drain the spool"
        await asyncio.sleep(0.1)


def take_down(outage_broker: OutageBroker, how: str) -> Callable[[], None]:
    """Make the broker unreachable; return how to bring it back."""
    if how == "proxy_cut":
        outage_broker.proxy.cut()
        return outage_broker.proxy.restore
    outage_broker.broker.pause()
    return outage_broker.broker.resume


@pytest.mark.slow
@pytest.mark.parametrize("how", ["proxy_cut", "broker_paused"])
async def test_outage_loses_nothing_and_keeps_order_per_key(
    gateway: Gateway, outage_broker: OutageBroker, how: str
) -> None:
    load = Load(gateway)
    await load.run(per_key=10)  # broker up
    assert gateway.durable.stats.spooled_records == 0

    bring_back = take_down(outage_broker, how)
    try:
        await load.run(per_key=40)  # broker unreachable: answered from the spool
        spooled = await gateway.spool.depth()
        assert spooled >= 8 * 39, gateway.durable.stats
        # the circuit: only the first record of each key waited for Kafka's bound
        assert gateway.durable.stats.fallbacks <= 2 * len(KEYS), gateway.durable.stats
    finally:
        bring_back()
    await load.run(per_key=10)  # while the relay drains: queued behind the spool
    await wait_for_empty_spool(gateway)
    await load.run(per_key=5)  # back to Kafka directly
    assert gateway.durable.stats.kafka_records > 8 * 10

    records = await read_topic(gateway.kafka.bootstrap_servers, gateway.topic, expected=load.total)
    on_kafka: dict[str, list[str]] = {key: [] for key in KEYS}
    for record in records:
        assert record.key is not None
        on_kafka[record.key.decode()].append(ce_id(record))
    for key in KEYS:
        first_seen = list(dict.fromkeys(on_kafka[key]))
        assert first_seen == load.acknowledged[key], key
    assert load.total == 8 * 65
    print(
        f"{how}: acknowledged={load.total} spooled={gateway.durable.stats.spooled_records}"
        f" relayed={gateway.durable.relay.stats.relayed_records} on_kafka={len(records)}"
        f" duplicates={len(records) - load.total} fallbacks={gateway.durable.stats.fallbacks}"
    )


async def test_neither_kafka_nor_spool_is_unavailable(tmp_path: Path) -> None:
    kafka = KafkaPublisher(f"127.0.0.1:{free_port()}", timeout_seconds=0.2)
    await kafka.start()
    spool = Spool(tmp_path / "spool.db")
    await spool.open()
    durable = DurablePublisher(kafka, spool)
    await durable.start()
    await durable.stop()
    await spool.close()  # the spool can no longer take anything
    try:
        with pytest.raises(PublishUnavailable):
            await durable.publish([sample_record("x.calendly", 0)])
        assert not await durable.ready()
    finally:
        await kafka.stop()
