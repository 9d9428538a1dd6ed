"""Faults on a Kafka-mode `hookgate serve` under load, counted end to end.

The gateway publishes to a tansu broker of its own reached through a TCP proxy
(`outage_broker`), keeps its sources in a fresh PostgreSQL database, and spools to
a SQLite file when Kafka cannot take a delivery in time; `hookgate consume` applies
the topic to the same database afterwards. Every delivery answered 200 ends up
applied exactly once; nothing refused is ever applied.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fixtures.gateway import ADMIN_HEADERS
from tests.fixtures.kafka import OutageBroker
from tests.fixtures.load import Sender, calendly_load
from tests.fixtures.serve import ServeProcess
from tests.gateway import deliveries
from tests.gateway.conftest import public_pem
from tests.kafka.consume_cli import ConsumeProcess, consume_env, consuming
from tests.kafka.helpers import ce_id, read_topic
from tests.reliability.database_outage import eventually
from tests.reliability.readback import (
    calendly_topic,
    migrate_and_add_calendly,
    processed_event_ids,
    read_spool,
    read_store,
    store_settings,
)

LOAD_WORKERS = 16


async def _wait_drained(gateway: ServeProcess, timeout: float = 60) -> None:
    async def drained() -> bool:
        return (await asyncio.to_thread(read_spool, gateway.spool_path)).depth == 0

    await eventually(drained, timeout, "the relay to drain the spool into Kafka")


async def _stop(worker: ConsumeProcess) -> None:
    assert await worker.terminate() == 0, worker.log_tail()


async def test_kill_9_with_deliveries_in_kafka_and_the_spool_then_restart_applies_each_once(
    outage_broker: OutageBroker, postgres_url: str, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = outage_broker.bootstrap_servers
    gateway = ServeProcess.on_loopback(
        tmp_path, **store_settings(postgres_url, bootstrap, topic_prefix)
    )
    source = migrate_and_add_calendly(gateway)
    server = gateway.start()
    load = calendly_load(gateway.url, source)
    running = asyncio.create_task(load.run(LOAD_WORKERS))
    try:
        await asyncio.sleep(2.0)
        outage_broker.broker.pause()
        await asyncio.sleep(2.5)
        server.kill()
    finally:
        load.stopping = True
        await running
    spool_at_kill = await asyncio.to_thread(read_spool, tmp_path / "spool.db")
    outage_broker.broker.resume()

    restarted = gateway.start()
    env = consume_env(bootstrap, postgres_url, topic_prefix)
    try:
        await _wait_drained(gateway)
        async with consuming("consume", env, tmp_path, "--provider", "calendly") as worker:

            async def all_applied() -> bool:
                return load.acknowledged <= (await read_store(postgres_url)).invitees

            await eventually(
                all_applied, 60, "hookgate consume to apply every acknowledged delivery"
            )
            await asyncio.sleep(1.0)  # anything beyond the acknowledged would show now
            await _stop(worker)
    finally:
        restarted.terminate()
    stored = await read_store(postgres_url)
    applied = await processed_event_ids(postgres_url)
    records = await read_topic(bootstrap, calendly_topic(topic_prefix), expected=len(applied))
    on_kafka = {ce_id(record) for record in records}
    direct = on_kafka - spool_at_kill.event_ids
    print(
        f"\nKafka-mode kill -9: {load.statuses}; sent {len(load.sent)}, acknowledged "
        f"{len(load.acknowledged)}; in the spool at the kill {spool_at_kill.depth}, straight to "
        f"Kafka {len(direct)}; on Kafka after the restart {len(records)} records, "
        f"{len(on_kafka)} events; stored {stored.bookings} "
        f"(not acknowledged {len(stored.invitees - load.acknowledged)}), "
        f"processed_events {stored.processed_events}"
    )
    assert load.bad == [], load.bad[:5]
    assert len(load.acknowledged) > 100
    assert len(direct) > 20, "some deliveries went straight to Kafka"
    assert spool_at_kill.depth > 20, "some deliveries were only in the spool at the kill"
    assert spool_at_kill.event_ids <= on_kafka, "the relay drained the spool at the restart"
    assert applied == on_kafka
    assert load.acknowledged <= stored.invitees <= load.sent
    assert len(stored.invitees - load.acknowledged) <= LOAD_WORKERS, "at most the in-flight ones"
    assert stored.processed_events == stored.bookings, "each delivery applied once"


def _file_size_limit(limit_bytes: int) -> None:
    """In the child: files may not grow past `limit_bytes`; writes fail with EFBIG, no signal."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


SPOOL_LIMIT_BYTES = 1024 * 1024


async def test_spool_disk_full_while_kafka_is_unreachable_refuses_and_never_acknowledges_it(
    outage_broker: OutageBroker,
    postgres_url: str,
    topic_prefix: str,
    tmp_path: Path,
    ghl_key: Ed25519PrivateKey,
) -> None:
    bootstrap = outage_broker.bootstrap_servers
    gateway = ServeProcess.on_loopback(
        tmp_path,
        **store_settings(postgres_url, bootstrap, topic_prefix),
        ghl_public_key_ed25519=public_pem(ghl_key),
        log_level="WARNING",
    )
    calendly = migrate_and_add_calendly(gateway)
    server = gateway.start(preexec=lambda: _file_size_limit(SPOOL_LIMIT_BYTES))
    try:
        ghl = await _add_ghl_source(gateway)
        senders = [
            Sender(
                gateway.url,
                f"/webhooks/calendly/{calendly}",
                deliveries.calendly,
                retry_status=503,
            ),
            Sender(
                gateway.url,
                f"/webhooks/ghl/{ghl}",
                lambda now: deliveries.ghl(now, ghl_key),
                retry_status=429,
            ),
        ]
        running = [asyncio.create_task(sender.run(4)) for sender in senders]
        try:
            await asyncio.sleep(1.0)
            outage_broker.proxy.cut()
            deadline = time.monotonic() + 60
            while any(s.refused < 30 for s in senders) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
        finally:
            for sender in senders:
                sender.stopping = True
            await asyncio.gather(*running)
    finally:
        server.terminate()
    spool_when_full = await asyncio.to_thread(read_spool, tmp_path / "spool.db")
    outage_broker.proxy.restore()

    acknowledged = senders[0].acknowledged | senders[1].acknowledged
    restarted = gateway.start()
    env = consume_env(bootstrap, postgres_url, topic_prefix)
    try:
        await _wait_drained(gateway)
        async with consuming(
            "consume", env, tmp_path, "--provider", "calendly", "--provider", "ghl"
        ) as worker:

            async def applied() -> bool:
                return acknowledged <= await processed_event_ids(postgres_url)

            await eventually(applied, 60, "hookgate consume to apply every acknowledged delivery")
            await asyncio.sleep(2.0)  # a refused delivery on Kafka would be applied by now
            await _stop(worker)
    finally:
        restarted.terminate()
    processed = await processed_event_ids(postgres_url)
    direct = acknowledged - spool_when_full.event_ids
    print(
        f"\nKafka-mode spool full: calendly {dict(senders[0].statuses)}, ghl "
        f"{dict(senders[1].statuses)}; acknowledged {len(acknowledged)} (straight to Kafka "
        f"{len(direct)}, spooled {spool_when_full.depth}), applied {len(processed)}"
    )
    for sender in senders:
        assert sender.bad == [], sender.bad[:5]
        assert sender.refused >= 30, (sender.path, sender.statuses, gateway.log_tail())
        assert len(sender.acknowledged) > 10
    assert direct, "some went to Kafka before the cut"
    assert spool_when_full.depth > 0
    assert processed == acknowledged, "exactly what was acknowledged, nothing refused"


async def _add_ghl_source(gateway: ServeProcess) -> str:
    async with httpx.AsyncClient(base_url=gateway.url, headers=ADMIN_HEADERS) as admin:
        added = await admin.post("/admin/sources", json={"provider": "ghl", "tenant": "acme"})
    assert added.status_code == 201, added.text
    source_id: str = added.json()["id"]
    return source_id
