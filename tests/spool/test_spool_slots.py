"""Spool slots: each process claims a file of its own; a dead process's slot is freed;
orphans (slot files nobody holds) are offered to a relay and removed once empty."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from gateway.bus.spool import Spool
from gateway.bus.spool_slots import (
    OrphanSlots,
    claim_slot,
    slot_file,
    slot_files,
    slot_lock_file,
    try_slot,
)
from tests.spool.records import make_records, spool_records
from tests.spool.slot_holder import slot_holder


def test_slot_files_are_named_beside_the_configured_path(tmp_path: Path) -> None:
    spool = tmp_path / "hookgate-spool.db"
    assert slot_file(spool, 0) == spool
    assert slot_file(spool, 1) == tmp_path / "hookgate-spool.1.db"
    assert slot_file(spool, 12) == tmp_path / "hookgate-spool.12.db"
    assert slot_lock_file(spool, 1) == tmp_path / "hookgate-spool.db.slot-1.lock"
    assert slot_file(tmp_path / "spool", 2) == tmp_path / "spool.2"


def test_two_claims_get_different_files_and_a_released_slot_is_claimed_again(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool.db"
    first, second = claim_slot(spool), claim_slot(spool)
    try:
        assert (first.number, first.path) == (0, spool)
        assert (second.number, second.path) == (1, tmp_path / "spool.1.db")
        assert try_slot(spool, 0) is None
        first.release()
        again = claim_slot(spool)
        assert (again.number, again.path) == (0, spool)
        again.release()
    finally:
        first.release()
        second.release()


def test_a_process_gets_another_file_than_a_live_process_and_the_slot_of_a_dead_one(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool.db"
    with slot_holder(spool) as (holder, number, path):
        assert (number, path) == (0, spool)
        mine = claim_slot(spool)
        assert (mine.number, mine.path) == (1, tmp_path / "spool.1.db")
        assert try_slot(spool, 0) is None
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        reclaimed = try_slot(spool, 0)
        assert reclaimed is not None, "the kernel freed the dead process's slot"
        assert reclaimed.path == spool
        reclaimed.release()
        mine.release()


async def test_a_slot_file_without_a_suffix_takes_appends(tmp_path: Path) -> None:
    """The slot lock is not the spool's writer-queue side file (`{file}.lock`): sharing
    it would make the spool's first write wait forever on the slot's own lock."""
    spool = tmp_path / "spool"
    for number in range(3):
        assert slot_lock_file(spool, number) != Path(f"{slot_file(spool, number)}.lock")
    first, slot = claim_slot(spool), claim_slot(spool)
    try:
        assert slot.path == tmp_path / "spool.1"
        async with Spool(slot.path) as opened:
            assert len(await opened.append(make_records(0, 3))) == 3
    finally:
        first.release()
        slot.release()


def test_slot_files_lists_slot_files_only(tmp_path: Path) -> None:
    spool = tmp_path / "spool.db"
    assert slot_files(spool) == {}
    for name in (
        "spool.db",
        "spool.1.db",
        "spool.3.db",
        "spool.db-wal",
        "spool.1.db-wal",
        "spool.1.db.lock",
        "spool.db.slot-1.lock",
        "spool.01.db",
        "spool.x.db",
        "other.2.db",
        "spool.1.db.set-aside.jsonl",
    ):
        (tmp_path / name).touch()
    assert slot_files(spool) == {
        0: spool,
        1: tmp_path / "spool.1.db",
        3: tmp_path / "spool.3.db",
    }


async def test_orphans_are_the_unheld_slot_files_of_others_and_emptied_ones_go(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool.db"
    own = claim_slot(spool)
    live = claim_slot(spool)  # slot 1: a live worker's
    for number in (1, 2, 3):
        await spool_records(slot_file(spool, number), 0, number)
    try:
        seen: dict[Path, int] = {}
        async with contextlib.aclosing(OrphanSlots(spool, own.number).orphans()) as orphans:
            async for orphan in orphans:
                assert try_slot(spool, int(orphan.path.name.split(".")[1])) is None, "held"
                seen[orphan.path] = await orphan.depth()
                if orphan.path == slot_file(spool, 2):
                    await orphan.delete([offset for offset, _ in await orphan.pending(10)])
        assert seen == {slot_file(spool, 2): 2, slot_file(spool, 3): 3}
        assert not slot_file(spool, 2).exists(), "the emptied orphan was removed"
        assert slot_file(spool, 3).exists(), "the orphan still holding records stays"
        assert slot_file(spool, 1).exists()
        assert slot_lock_file(spool, 2).exists(), "lock files are never removed"
        assert sorted(slot_files(spool)) == [1, 3]
        for number in (2, 3):
            taken = try_slot(spool, number)
            assert taken is not None, "the orphans were let go"
            taken.release()
    finally:
        own.release()
        live.release()


async def test_an_orphan_in_hand_is_let_go_and_kept_when_the_caller_fails(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool.db"
    await spool_records(slot_file(spool, 1), 0, 4)

    async def drain_then_fail() -> None:
        async with contextlib.aclosing(OrphanSlots(spool, 0).orphans()) as orphans:
            async for orphan in orphans:
                await orphan.delete([offset for offset, _ in await orphan.pending(10)])
                raise RuntimeError("Kafka went away")

    with pytest.raises(RuntimeError):
        await drain_then_fail()
    assert slot_file(spool, 1).exists(), "only a drain that finished removes the file"
    taken = try_slot(spool, 1)
    assert taken is not None
    taken.release()


async def test_slot_zero_is_offered_when_free_but_never_removed(tmp_path: Path) -> None:
    spool = tmp_path / "spool.db"
    await spool_records(spool, 0, 2)
    own = claim_slot(spool)
    own.release()
    mine = try_slot(spool, 1)
    assert mine is not None
    try:
        async with contextlib.aclosing(OrphanSlots(spool, 1).orphans()) as orphans:
            offered = [orphan.path async for orphan in orphans]
        assert offered == [spool]
        async with contextlib.aclosing(OrphanSlots(spool, 1).orphans()) as orphans:
            async for orphan in orphans:
                await orphan.delete([offset for offset, _ in await orphan.pending(10)])
        assert spool.exists(), "the configured path stays, even empty"
    finally:
        mine.release()
