"""The gateway poller reads the spool, the Kafka fallback and the relay into metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.bus.durable_publisher import DurablePublisher
from gateway.bus.publish import PublishUnavailable
from gateway.bus.spool import Spool
from gateway.ingress.metrics import GatewayMetrics
from gateway.runtime.poller import GatewayPoller
from schemas import BusRecord
from tests.kafka.helpers import sample_record


class SwitchableKafka:
    """A `gateway.bus.publish.Publisher` standing in for Kafka: up or down, keeps what it took."""

    def __init__(self) -> None:
        self.up = False
        self.taken: list[BusRecord] = []

    async def publish(self, records: Sequence[BusRecord]) -> None:
        if not self.up:
            raise PublishUnavailable("Kafka is down in this test.")
        self.taken.extend(records)

    async def ready(self) -> bool:
        return self.up


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    sample = registry.get_sample_value(name, labels)
    assert sample is not None, f"{name}{labels} is not exported"
    return sample


async def test_fallback_spool_and_relay_show_in_the_metrics(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    kafka = SwitchableKafka()
    async with Spool(tmp_path / "spool.db") as spool:
        durable = DurablePublisher(kafka, spool)
        poller = GatewayPoller(metrics, spool=spool, publisher=durable, engine=None)

        await durable.publish([sample_record("hookgate.calendly", n) for n in range(3)])
        await poller.poll()
        assert value(registry, "hookgate_publish_errors_total", target="kafka") == 1
        assert value(registry, "hookgate_spooled_events_total") == 3
        assert value(registry, "hookgate_spool_depth_events") == 3
        assert value(registry, "hookgate_spool_oldest_event_age_seconds") >= 0
        assert value(registry, "hookgate_ready", check="bus") == 1  # the spool takes records
        assert value(registry, "hookgate_ready", check="store") == 0  # no store attached

        await poller.poll()  # polling again adds nothing: counters follow totals
        assert value(registry, "hookgate_publish_errors_total", target="kafka") == 1

        kafka.up = True
        assert await durable.relay.relay_once() == 3
        await poller.poll()
        assert value(registry, "hookgate_relayed_events_total") == 3
        assert value(registry, "hookgate_spool_depth_events") == 0
        assert value(registry, "hookgate_spool_oldest_event_age_seconds") == 0
        assert len(kafka.taken) == 3

        assert value(registry, "hookgate_relay_refused_events_total", outcome="dlq") == 0
        durable.relay.stats.dead_lettered += 1  # as the relay counts a permanent refusal
        durable.relay.stats.set_aside += 2
        await poller.poll()
        assert value(registry, "hookgate_relay_refused_events_total", outcome="dlq") == 1
        assert value(registry, "hookgate_relay_refused_events_total", outcome="set_aside") == 2


async def test_a_closed_spool_reads_as_not_ready_not_as_a_crash(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    spool = Spool(tmp_path / "spool.db")
    await spool.open()
    await spool.close()
    kafka = SwitchableKafka()
    poller = GatewayPoller(
        metrics, spool=None, publisher=DurablePublisher(kafka, spool), engine=None
    )
    await poller.poll()
    assert value(registry, "hookgate_ready", check="bus") == 0
