"""Per-worker spool files: a relay drains the files of workers no longer running
(orphans) into Kafka, oldest first, once each, and never a file a live worker holds."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest

from gateway.bus.kafka_publisher import KafkaPublisher
from gateway.bus.relay import Relay
from gateway.bus.spool import Spool
from gateway.bus.spool_slots import OrphanSlots, claim_slot, slot_file, slot_files
from tests.fixtures.kafka import OutageBroker, create_topics
from tests.fixtures.load import calendly_load
from tests.fixtures.processes import Service
from tests.fixtures.serve import ServeProcess
from tests.kafka.helpers import ce_id, read_topic, sample_record
from tests.reliability.readback import (
    calendly_topic,
    migrate_and_add_calendly,
    read_spool,
    store_settings,
)
from tests.spool.slot_holder import slot_holder


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def fill(path: Path, topic: str, numbers: range, key: str) -> list[str]:
    records = [sample_record(topic, n, key=key) for n in numbers]
    async with Spool(path) as spool:
        for start in range(0, len(records), 50):  # several appends, as a worker makes them
            await spool.append(records[start : start + 50])
    return [record.event_id for record in records]


def depth(path: Path) -> int:
    return read_spool(path).depth if path.exists() else 0


async def test_a_relay_drains_orphan_files_into_kafka_in_order_once_each(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topic = f"{topic_prefix}.calendly"
    await create_topics(kafka_bootstrap, [topic])
    spool_path = tmp_path / "spool.db"
    orphaned = {
        1: await fill(slot_file(spool_path, 1), topic, range(0, 300), "acme:one"),
        3: await fill(slot_file(spool_path, 3), topic, range(300, 340), "acme:three"),
    }
    own = claim_slot(spool_path)
    kafka = KafkaPublisher(kafka_bootstrap, timeout_seconds=5)
    await kafka.start(wait_seconds=10)
    try:
        async with Spool(own.path) as spool:
            mine = [sample_record(topic, n, key="acme:own") for n in range(400, 410)]
            await spool.append(mine)
            relay = Relay(
                spool,
                kafka,
                batch_size=64,
                idle_poll_seconds=0.1,
                orphans=OrphanSlots(spool_path, own.number),
                orphan_first_scan_seconds=0,
            )
            async with relay:

                async def drained() -> bool:
                    return list(slot_files(spool_path)) == [0] and not await spool.depth()

                await eventually(drained, 30, "the relay to drain and remove the orphans")
            assert relay.stats.orphans_drained == 2
            assert relay.stats.relayed_records == 350
    finally:
        await kafka.stop()
        own.release()
    records = await read_topic(kafka_bootstrap, topic, expected=350)
    by_key: dict[bytes, list[str]] = {}
    for record in records:
        assert record.key is not None
        by_key.setdefault(record.key, []).append(ce_id(record))
    assert by_key == {
        b"acme:one": orphaned[1],
        b"acme:three": orphaned[3],
        b"acme:own": [record.event_id for record in mine],
    }, "every record once, each file's in order"


async def test_a_held_file_is_left_alone_and_its_records_relayed_once_its_worker_died(
    outage_broker: OutageBroker, topic_prefix: str, tmp_path: Path
) -> None:
    broker = outage_broker.broker
    topic = f"{topic_prefix}.calendly"
    await create_topics(outage_broker.bootstrap_servers, [topic])
    spool_path = tmp_path / "spool.db"
    orphan = slot_file(spool_path, 1)
    expected = await fill(orphan, topic, range(200), "acme:one")
    own = claim_slot(spool_path)
    kafka = KafkaPublisher(outage_broker.bootstrap_servers, timeout_seconds=0.5)
    await kafka.start(wait_seconds=10)
    with slot_holder(spool_path, 1) as (holder, _, _):
        try:
            async with Spool(own.path) as spool:
                relay = Relay(
                    spool,
                    kafka,
                    batch_size=50,
                    idle_poll_seconds=0.05,
                    max_backoff_seconds=0.3,
                    orphans=OrphanSlots(spool_path, own.number),
                    orphan_first_scan_seconds=0,
                    orphan_scan_seconds=0.2,
                )
                async with relay:
                    await asyncio.sleep(1.0)
                    assert depth(orphan) == 200, "a live worker's file is its own"
                    broker.pause()
                    try:
                        os.kill(holder.pid, signal.SIGKILL)
                        holder.wait(10)
                        await asyncio.sleep(2.0)  # scans find the orphan; Kafka does not answer
                        assert relay.stats.failed_attempts > 0
                        assert depth(orphan) == 200, "nothing is deleted that Kafka did not take"
                    finally:
                        broker.resume()

                    async def drained() -> bool:
                        return not orphan.exists()

                    await eventually(drained, 30, "the relay to drain the dead worker's file")
                assert relay.stats.orphans_drained == 1
        finally:
            await kafka.stop()
            own.release()
    records = await read_topic(outage_broker.direct_bootstrap_servers, topic, expected=200)
    first_seen = list(dict.fromkeys(ce_id(record) for record in records))
    assert first_seen == expected, "nothing lost, in order (a timed-out batch may come twice)"


def _kill_all(server: Service) -> None:
    """kill -9 a multi-worker `hookgate serve`: its worker processes, then itself."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    for pid in children:
        os.kill(int(pid), signal.SIGKILL)
    server.kill()
    for pid in children:
        while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
            time.sleep(0.05)


def _state(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


@pytest.mark.slow
async def test_two_workers_spool_to_two_files_and_one_worker_later_relays_both(
    outage_broker: OutageBroker, postgres_url: str, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = outage_broker.bootstrap_servers
    two = ServeProcess.on_loopback(
        tmp_path,
        **store_settings(postgres_url, bootstrap, topic_prefix),
        workers=2,
        log_level="WARNING",
    )
    source = migrate_and_add_calendly(two)
    server = two.start()
    load = calendly_load(two.url, source)
    running = asyncio.create_task(load.run(16))
    try:
        await asyncio.sleep(1.5)
        outage_broker.broker.pause()
        await asyncio.sleep(3.0)
        _kill_all(server)
    finally:
        load.stopping = True
        await running
    spool_path = tmp_path / "spool.db"
    files = slot_files(spool_path)
    at_kill = {number: read_spool(path) for number, path in files.items()}
    assert sorted(files) == [0, 1], "each worker opened a spool file of its own"
    # (how many each worker spooled depends on which accepted the client's connections)
    assert sum(state.depth for state in at_kill.values()) > 20
    outage_broker.broker.resume()

    one = ServeProcess.on_loopback(
        tmp_path,
        **store_settings(postgres_url, bootstrap, topic_prefix),
        port=two.port,
        workers=1,
    )
    restarted = one.start()
    try:

        async def drained() -> bool:
            return list(slot_files(spool_path)) == [0] and depth(spool_path) == 0

        await eventually(drained, 60, "one worker to relay its own file and the orphan")
    finally:
        assert restarted.terminate() == 0, one.log_tail()
    spooled = frozenset().union(*(state.event_ids for state in at_kill.values()))
    records = await read_topic(
        bootstrap, calendly_topic(topic_prefix), expected=len(load.acknowledged)
    )
    on_kafka = {ce_id(record) for record in records}
    invitees = {orjson.loads(record.value or b"{}")["payload"]["uri"] for record in records}
    print(
        f"\ntwo workers then one: {load.statuses}; acknowledged {len(load.acknowledged)}; "
        f"spooled at the kill {[s.depth for s in at_kill.values()]}; on Kafka {len(records)} "
        f"records, {len(on_kafka)} events"
    )
    assert load.bad == [], load.bad[:5]
    assert spooled <= on_kafka, "every spooled record was relayed, the orphan's too"
    assert load.acknowledged <= invitees, "every acknowledged delivery is on Kafka"
