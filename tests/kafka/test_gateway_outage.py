"""A broker outage in the middle of a load of signed deliveries, through the real gateway.

The gateway is built from settings (Kafka through the outage broker's proxy, the spool
beside it). Mid-load the proxy is cut, or the broker paused; the gateway keeps
answering from the spool. After the broker is back, every delivery answered 2xx is on
its topic (once or more: dedup by `ce_id`), in order per key, and `hookgate consume`
applies each exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.app import create_app
from gateway.bus.transport import Bus
from schemas import samples
from tests.fixtures.gateway import RunningGateway, make_settings, running_gateway
from tests.fixtures.kafka import OutageBroker
from tests.gateway import deliveries
from tests.kafka.consume_cli import consume_env, consuming
from tests.kafka.consuming import count_rows, eventually
from tests.kafka.helpers import ce_id, read_topic

KEYS = 8
PER_KEY = 40
CUT_AFTER = 80
"""Acknowledged deliveries before the broker is taken away..."""
RESTORE_AFTER = 200
"""...and before it comes back."""


class Load:
    """Signed Calendly deliveries, each invitee's one after another, invitees concurrently."""

    def __init__(self, gateway: RunningGateway, source_id: str) -> None:
        self.gateway = gateway
        self.url = f"/webhooks/calendly/{source_id}"
        self.acknowledged: dict[str, list[str]] = {}
        self.statuses: dict[int, int] = {}
        self._progress = asyncio.Condition()

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.acknowledged.values())

    async def run(self) -> None:
        await asyncio.gather(*(self._invitee(k) for k in range(KEYS)))

    async def wait_for(self, acknowledged: int) -> None:
        async with self._progress:
            await self._progress.wait_for(lambda: self.total >= acknowledged)

    async def _invitee(self, k: int) -> None:
        uri = f"{samples.CALENDLY_API}/scheduled_events/ev-{k}/invitees/inv-{k}"
        key = f"acme:{uri}"
        self.acknowledged[key] = []
        base = datetime.now(UTC)
        for n in range(PER_KEY):
            body = samples.calendly(
                "invitee.created", now=base + timedelta(milliseconds=n), invitee_uri=uri
            )
            signed = deliveries.calendly(datetime.now(UTC), body=body)
            response = await self.gateway.client.post(
                self.url, content=signed.body, headers=signed.headers
            )
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.is_success:
                async with self._progress:
                    self.acknowledged[key].append(response.json()["id"])
                    self._progress.notify_all()


def take_down(outage_broker: OutageBroker, how: str) -> Callable[[], None]:
    """Make the broker unreachable; return how to bring it back."""
    if how == "proxy_cut":
        outage_broker.proxy.cut()
        return outage_broker.proxy.restore
    outage_broker.broker.pause()
    return outage_broker.broker.resume


async def wait_for_empty_spool(bus: Bus, timeout: float = 30.0) -> None:
    assert bus.durable is not None
    deadline = time.monotonic() + timeout
    while await bus.spool.depth() or bus.durable.relay.backlog.present:
        assert time.monotonic() < deadline, "the relay did not drain the spool"
        await asyncio.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["proxy_cut", "broker_paused"])
async def test_outage_mid_load_through_the_gateway(
    outage_broker: OutageBroker, topic_prefix: str, postgres_url: str, tmp_path: Path, how: str
) -> None:
    bootstrap = outage_broker.bootstrap_servers
    settings = make_settings(
        tmp_path,
        kafka_bootstrap_servers=bootstrap,
        kafka_publish_timeout_seconds=0.5,
        kafka_topic_partitions=3,
        topic_prefix=topic_prefix,
        rate_limit_per_second=0,
    )
    async with running_gateway(settings, create_app) as gateway:
        bus: Bus = gateway.app.state.context.bus
        assert bus.durable is not None
        source = await gateway.add_source("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY)
        load = Load(gateway, source["id"])
        sending = asyncio.create_task(load.run())
        await asyncio.wait_for(load.wait_for(CUT_AFTER), 30)
        bring_back = take_down(outage_broker, how)
        try:
            await asyncio.wait_for(load.wait_for(RESTORE_AFTER), 30)
            spooled_during_outage = bus.durable.stats.spooled_records
        finally:
            bring_back()
        await asyncio.wait_for(sending, 60)
        await wait_for_empty_spool(bus)
        stats, relayed = bus.durable.stats, bus.durable.relay.stats.relayed_records

    assert load.statuses == {200: KEYS * PER_KEY}, load.statuses
    assert spooled_during_outage > 0, stats
    assert stats.spooled_records + stats.kafka_records == load.total
    records = await read_topic(bootstrap, settings.topic("calendly"), expected=load.total)
    on_kafka: dict[str, list[str]] = {}
    for record in records:
        assert record.key is not None
        on_kafka.setdefault(record.key.decode(), []).append(ce_id(record))
    assert on_kafka.keys() == load.acknowledged.keys()
    for key, acknowledged in load.acknowledged.items():
        assert list(dict.fromkeys(on_kafka[key])) == acknowledged, key
    unique = len({ce_id(record) for record in records})
    assert unique == load.total

    engine = create_async_engine(postgres_url)
    env = consume_env(bootstrap, postgres_url, topic_prefix)
    try:
        async with consuming("consume", env, tmp_path, "--provider", "calendly") as worker:

            async def all_applied() -> bool:
                return worker.count("applied") >= load.total

            await eventually(all_applied, timeout=40, what="hookgate consume applying")
            assert await worker.terminate() == 0, worker.log_tail()
        assert worker.count("applied") == load.total
        assert await count_rows(engine, "SELECT count(*) FROM processed_events") == load.total
        assert await count_rows(engine, "SELECT count(*) FROM bookings") == KEYS
    finally:
        await engine.dispose()
    print(
        f"{how}: acknowledged={load.total} (all 2xx) kafka_direct={stats.kafka_records} "
        f"spooled={stats.spooled_records} relayed={relayed} on_kafka={len(records)} "
        f"duplicates={len(records) - unique} applied={worker.count('applied')} "
        f"consumer_duplicates={worker.count('duplicates')}"
    )
