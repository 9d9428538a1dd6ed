"""The embedded mode takes in what Kafka-mode workers left in their slot files.

Switching a gateway from Kafka mode back to the embedded mode while records wait in
slot files n > 0 (spooled while Kafka was away) must not leave them unread: opening
the embedded bus moves them into its one spool, in order, and removes the emptied
files; a file whose slot a live process holds is left alone.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.bus.spool import Spool
from gateway.bus.spool_slots import adopt_orphans, slot_file
from gateway.bus.transport import open_bus
from gateway.ingress.metrics import GatewayMetrics
from tests.fixtures.gateway import make_settings
from tests.spool.records import spool_records
from tests.spool.slot_holder import slot_holder


async def _ids(path: Path) -> list[str]:
    async with Spool(path) as spool:
        return [record.event_id for _, record in await spool.pending(10_000)]


async def test_opening_the_embedded_bus_moves_orphan_slot_records_into_its_spool(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    spool_path = settings.spool_path
    await spool_records(spool_path, 0, 3)  # the embedded spool's own records come first
    await spool_records(slot_file(spool_path, 1), 10, 40)
    await spool_records(slot_file(spool_path, 3), 60, 5)
    await spool_records(slot_file(spool_path, 2), 100, 4)

    with slot_holder(spool_path, 2):  # a live Kafka-mode worker's file stays with it
        async with open_bus(settings, GatewayMetrics(CollectorRegistry())) as bus:
            taken = [record.event_id for _, record in await bus.spool.pending(1_000)]

    expected = [f"evt-{n}" for n in (*range(3), *range(10, 50), *range(60, 65))]
    assert taken == expected, "each orphan's records, in order, after the spool's own"
    assert not slot_file(spool_path, 1).exists()
    assert not slot_file(spool_path, 3).exists()
    assert await _ids(slot_file(spool_path, 2)) == [f"evt-{n}" for n in range(100, 104)]


async def test_adopting_again_moves_nothing_twice(tmp_path: Path) -> None:
    spool_path = tmp_path / "spool.db"
    await spool_records(slot_file(spool_path, 1), 0, 1_200)  # more than one step
    async with Spool(spool_path) as spool:
        assert await adopt_orphans(spool, spool_path) == 1_200
        assert await adopt_orphans(spool, spool_path) == 0
        assert await spool.depth() == 1_200
    assert await _ids(spool_path) == [f"evt-{n}" for n in range(1_200)]
