"""Reading by offset, consumer offsets, retention, store-and-forward and leases."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway.bus.spool import Spool
from tests.spool.records import make_record, make_records


async def test_read_returns_records_after_an_offset_in_order(spool: Spool) -> None:
    offsets = await spool.append(make_records(0, 10))

    first = await spool.read(0, 4)
    rest = await spool.read(first[-1][0], 100)

    assert [offset for offset, _ in first + rest] == offsets
    assert [record.event_id for _, record in first] == ["evt-0", "evt-1", "evt-2", "evt-3"]
    assert await spool.read(offsets[-1], 10) == []


async def test_committed_offsets_are_per_group_and_never_go_back(spool: Spool) -> None:
    assert await spool.committed_offset("projections") == 0

    await spool.commit_offset("projections", 5)
    await spool.commit_offset("projections", 3)
    await spool.commit_offset("audit", 2)

    assert await spool.committed_offset("projections") == 5
    assert await spool.committed_offset("audit") == 2


async def test_committed_offsets_survive_reopening(spool_path: Path) -> None:
    async with Spool(spool_path) as spool:
        await spool.commit_offset("projections", 9)
    async with Spool(spool_path) as spool:
        assert await spool.committed_offset("projections") == 9


async def test_trim_deletes_only_what_every_group_committed(spool_path: Path) -> None:
    async with Spool(spool_path, consumer_groups=["projections", "audit"]) as spool:
        offsets = await spool.append(make_records(0, 10))
        assert await spool.trim() == 0  # both registered groups are at 0

        await spool.commit_offset("projections", offsets[7])
        await spool.commit_offset("audit", offsets[3])
        assert await spool.trim() == 4

        remaining = await spool.read(0, 100)
        assert [offset for offset, _ in remaining] == offsets[4:]
        # what the slower group has not committed is still readable from its offset
        after_audit = await spool.read(await spool.committed_offset("audit"), 100)
        assert [offset for offset, _ in after_audit] == offsets[4:]


async def test_trim_without_registered_groups_deletes_nothing(spool: Spool) -> None:
    await spool.append(make_records(0, 3))

    assert await spool.trim() == 0
    assert await spool.depth() == 3


async def test_a_group_registered_later_holds_back_trim(spool: Spool) -> None:
    offsets = await spool.append(make_records(0, 3))
    await spool.commit_offset("projections", offsets[-1])
    await spool.register_group("late")

    assert await spool.trim() == 0
    await spool.commit_offset("late", offsets[0])
    assert await spool.trim() == 1


async def test_pending_is_oldest_first_and_delete_removes(spool: Spool) -> None:
    offsets = await spool.append(make_records(0, 5))

    oldest = await spool.pending(2)
    assert [offset for offset, _ in oldest] == offsets[:2]
    assert await spool.delete([offset for offset, _ in oldest]) == 2

    assert [offset for offset, _ in await spool.pending(10)] == offsets[2:]
    assert await spool.depth() == 3
    assert await spool.delete([]) == 0
    assert await spool.delete([offsets[0]]) == 0  # already gone


async def test_oldest_age_is_measured_from_the_oldest_record(spool_path: Path) -> None:
    clock = [1_000.0]
    async with Spool(spool_path, clock=lambda: clock[0]) as spool:
        assert await spool.oldest_age_seconds() is None
        first = await spool.append([make_record(0)])
        clock[0] = 1_030.0
        await spool.append([make_record(1)])

        assert await spool.oldest_age_seconds(1_100.0) == 100.0
        assert await spool.oldest_age_seconds() == 30.0
        await spool.delete(first)
        assert await spool.oldest_age_seconds(1_100.0) == 70.0


async def test_wait_for_append_wakes_on_an_append_and_times_out_otherwise(spool: Spool) -> None:
    started = time.monotonic()
    await spool.wait_for_append(0.2)
    assert time.monotonic() - started >= 0.19

    waiting = asyncio.create_task(spool.wait_for_append(30))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    [offset] = await spool.append([make_record(0)])
    await asyncio.wait_for(waiting, 5)

    # an append the reader has not seen yet returns at once
    started = time.monotonic()
    await spool.wait_for_append(30, after=offset - 1)
    assert time.monotonic() - started < 1


async def test_a_lease_has_one_holder_until_it_is_released_or_expires(spool_path: Path) -> None:
    clock = [0.0]
    async with Spool(spool_path, clock=lambda: clock[0]) as spool:
        assert await spool.try_acquire_lease("consumer:g", "a", 10)
        assert not await spool.try_acquire_lease("consumer:g", "b", 10)
        assert await spool.try_acquire_lease("consumer:g", "a", 10)  # re-entrant
        assert await spool.try_acquire_lease("consumer:other", "b", 10)

        clock[0] = 9.0
        assert await spool.renew_lease("consumer:g", "a", 10)
        clock[0] = 18.0
        assert not await spool.try_acquire_lease("consumer:g", "b", 10)  # renewed to 19
        clock[0] = 19.5
        assert await spool.try_acquire_lease("consumer:g", "b", 10)  # expired: taken over
        assert not await spool.renew_lease("consumer:g", "a", 10)

        await spool.release_lease("consumer:g", "a")  # not the holder: no effect
        assert not await spool.try_acquire_lease("consumer:g", "a", 10)
        await spool.release_lease("consumer:g", "b")
        assert await spool.try_acquire_lease("consumer:g", "a", 10)


async def test_two_spools_on_one_file_share_records_and_leases(spool_path: Path) -> None:
    async with Spool(spool_path) as one, Spool(spool_path) as two:
        offsets = await asyncio.gather(
            one.append(make_records(0, 50)), two.append(make_records(50, 50))
        )
        assert len({*offsets[0], *offsets[1]}) == 100
        assert await one.depth() == 100
        assert await one.try_acquire_lease("consumer:g", "one", 10)
        assert not await two.try_acquire_lease("consumer:g", "two", 10)
