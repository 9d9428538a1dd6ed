"""An unexpected error does not stop the relay: its loop is restarted after a back-off,
the restart is logged (class only) and counted, and the spool drains into Kafka."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.bus.durable_publisher import DurablePublisher
from gateway.bus.kafka_publisher import KafkaPublisher
from gateway.bus.relay import Relay
from gateway.bus.spool import Spool
from gateway.ingress.metrics import GatewayMetrics
from gateway.runtime.poller import GatewayPoller
from gateway.tasks import supervised
from schemas import BusRecord
from tests.fixtures.kafka import create_topics
from tests.kafka.helpers import ce_id, read_topic, sample_record

PAYLOAD = "a caller's value that must not be logged"


class SpoolFailingOnce(Spool):
    """A spool whose first read of pending records fails in a way nobody foresaw."""

    failures = 0

    async def pending(self, limit: int) -> list[tuple[int, BusRecord]]:
        if not self.failures:
            self.failures += 1
            raise ValueError(PAYLOAD)
        return await super().pending(limit)


async def wait_until_drained(spool: Spool, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while await spool.depth():
        assert time.monotonic() < deadline, "the spool stopped draining"
        await asyncio.sleep(0.05)


async def test_a_crashed_relay_restarts_counts_it_and_drains_the_spool(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"{topic_prefix}.calendly"
    await create_topics(kafka_bootstrap, [topic])
    records = [sample_record(topic, n) for n in range(5)]
    metrics = GatewayMetrics(CollectorRegistry())
    kafka = KafkaPublisher(kafka_bootstrap, timeout_seconds=5)
    await kafka.start(wait_seconds=10)
    try:
        async with SpoolFailingOnce(tmp_path / "spool.db") as spool:
            await spool.append(records)
            relay = Relay(spool, kafka, idle_poll_seconds=0.05, restart_backoff_seconds=0.1)
            with caplog.at_level(logging.ERROR):
                async with DurablePublisher(kafka, spool, relay=relay) as durable:
                    poller = GatewayPoller(metrics, spool=spool, publisher=durable, engine=None)
                    await wait_until_drained(spool)
                    await poller.poll()
    finally:
        await kafka.stop()

    assert spool.failures == 1
    assert relay.stats.restarts == 1
    assert metrics.registry.get_sample_value("hookgate_relay_restarts_total") == 1
    [crash] = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert "The relay crashed (ValueError at " in crash.getMessage()
    assert PAYLOAD not in caplog.text
    on_topic = await read_topic(kafka_bootstrap, topic, expected=len(records))
    assert [ce_id(record) for record in on_topic] == [f"evt-{n:06d}" for n in range(5)]


async def test_restarts_back_off_doubling_to_a_bound_and_start_over_after_a_long_run() -> None:
    now = 0.0
    runs: list[float] = []
    waits: list[float] = []

    async def run() -> None:
        runs.append(now)
        if len(runs) == 6:
            raise asyncio.CancelledError  # stop the test's loop
        if len(runs) == 5:
            advance(100.0)  # this run lasted long: the back-off starts over
        raise RuntimeError("boom")

    def advance(seconds: float) -> None:
        nonlocal now
        now += seconds

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        advance(seconds)

    with pytest.raises(asyncio.CancelledError):
        await supervised(
            run,
            what="A loop",
            initial_backoff_seconds=1.0,
            max_backoff_seconds=4.0,
            clock=lambda: now,
            sleep=sleep,
        )
    assert waits == [1.0, 2.0, 4.0, 4.0, 1.0]
