"""Appending: group commit, offsets, closing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.bus.publish import PublishUnavailable
from gateway.bus.spool import Spool, SpoolPublisher, SpoolUnavailable
from tests.spool.records import make_record, make_records


async def test_concurrent_appends_share_few_transactions(spool: Spool) -> None:
    callers = 300
    results = await asyncio.gather(*(spool.append([make_record(n)]) for n in range(callers)))

    offsets = [result[0] for result in results]
    assert all(len(result) == 1 for result in results)
    assert offsets == sorted(offsets)
    assert len(set(offsets)) == callers
    # One transaction for the first caller, the rest gathered while it synced.
    assert spool.stats.append_transactions <= 5
    assert spool.stats.appended_records == callers
    stored = await spool.read(0, callers + 1)
    assert [record.event_id for _, record in stored] == [f"evt-{n}" for n in range(callers)]
    assert [offset for offset, _ in stored] == offsets


async def test_a_batch_stops_at_max_records_but_never_splits_a_caller(spool_path: Path) -> None:
    async with Spool(spool_path, max_batch_records=10) as spool:
        small = [spool.append([make_record(n)]) for n in range(40)]
        large = spool.append(make_records(100, 25))
        results = await asyncio.gather(*small, large)

        assert spool.stats.append_transactions >= 5
        large_offsets = results[-1]
        assert len(large_offsets) == 25
        assert large_offsets == list(range(large_offsets[0], large_offsets[0] + 25))
        flat = [offset for result in results for offset in result]
        assert flat == sorted(flat)


async def test_records_round_trip_byte_for_byte(spool: Spool) -> None:
    record = make_record(7)
    [offset] = await spool.append([record])

    [(read_offset, stored)] = await spool.read(offset - 1, 10)

    assert read_offset == offset
    assert stored == record
    assert stored.to_event() == record.to_event()


async def test_empty_append_writes_nothing(spool: Spool) -> None:
    assert await spool.append([]) == []
    assert spool.stats.append_transactions == 0


async def test_close_flushes_queued_appends_and_then_refuses(spool_path: Path) -> None:
    spool = Spool(spool_path)
    await spool.open()
    appends = [asyncio.create_task(spool.append([make_record(n)])) for n in range(50)]
    await asyncio.sleep(0)  # let every task queue its records

    await spool.close()

    assert sorted(offset for task in appends for offset in task.result()) == list(range(1, 51))
    with pytest.raises(SpoolUnavailable, match="is not open"):
        await spool.append([make_record(99)])
    async with Spool(spool_path) as other:
        assert await other.depth() == 50
    await spool.open()
    assert await spool.append([make_record(99)]) == [51]
    await spool.close()


async def test_offsets_keep_growing_after_records_are_deleted(spool: Spool) -> None:
    first = await spool.append(make_records(0, 3))
    await spool.delete(first)

    [later] = await spool.append([make_record(3)])

    assert later > first[-1]


async def test_publisher_appends_and_reports_ready(spool: Spool) -> None:
    publisher = SpoolPublisher(spool)

    await publisher.publish(make_records(0, 2))

    assert await publisher.ready()
    assert await spool.depth() == 2


async def test_spool_unavailable_is_a_publish_unavailable() -> None:
    assert issubclass(SpoolUnavailable, PublishUnavailable)
    assert SpoolUnavailable.retriable


async def test_a_path_that_cannot_be_opened_says_why(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "missing-dir" / "spool.db")

    with pytest.raises(SpoolUnavailable, match=r"could not be opened: the file cannot be opened\."):
        await spool.open()
    await spool.close()
