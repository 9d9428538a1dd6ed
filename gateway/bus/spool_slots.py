"""Per-worker spool files in Kafka mode: slots claimed by flock, and orphans found.

Each `hookgate serve` worker process appends to a spool file of its own, so workers
never wait on each other's synced commits. A worker claims the first free slot
n = 0, 1, 2, … by an exclusive non-blocking `flock` on `{spool}.slot-{n}.lock`, held
for the life of the process: the kernel frees it when the process dies, however it
dies, so a restarted worker takes the freed slot back (and relays what it holds).

Slot 0's file is `HOOKGATE_SPOOL_PATH` itself, so a single-worker gateway uses the
same file as before; slot n > 0 uses `{stem}.{n}{suffix}` beside it (for
`hookgate-spool.db`: `hookgate-spool.1.db`, `hookgate-spool.2.db`, …).

A slot file whose lock is free belongs to no running worker (the worker count was
lowered, or its worker is between a crash and its restart): it is an orphan. Relays
look for orphans (`OrphanSlots`), take their lock, relay what they hold and let go;
an emptied orphan of slot n > 0 is removed. The lock files are never removed:
unlinking a lock file another process may be about to open would let two processes
hold "the" lock at once.

The embedded mode (no Kafka) keeps one shared file and takes no slot. Slot files
n > 0 left from Kafka mode (records spooled while Kafka was away, not relayed before
the switch) are moved into it when it opens (`adopt_orphans`), so its consumers apply
them instead of nobody reading them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path

from gateway.bus.spool import Spool

MAX_SLOTS = 1024
"""A sanity bound: more live slots than this means something else holds the locks."""


def slot_file(spool_path: Path, number: int) -> Path:
    """Slot `number`'s spool file: the configured path for slot 0."""
    if number == 0:
        return spool_path
    return spool_path.with_name(f"{spool_path.stem}.{number}{spool_path.suffix}")


def slot_lock_file(spool_path: Path, number: int) -> Path:
    """The file whose flock says slot `number` is taken.

    (Not `{slot file}.lock`: that is the spool's own writer-queue side file.)"""
    return spool_path.with_name(f"{spool_path.name}.slot-{number}.lock")


def slot_files(spool_path: Path) -> dict[int, Path]:
    """The slot files on disk, by slot number."""
    pattern = re.compile(
        rf"{re.escape(spool_path.stem)}\.([1-9][0-9]*){re.escape(spool_path.suffix)}"
    )
    found: dict[int, Path] = {}
    if spool_path.exists():
        found[0] = spool_path
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(spool_path.parent):
            match = pattern.fullmatch(entry.name)
            if match is not None:
                found[int(match.group(1))] = Path(entry.path)
    return dict(sorted(found.items()))


@dataclass
class SpoolSlot:
    """A slot held by this process until `release()` (or until the process ends)."""

    number: int
    path: Path
    """The slot's spool file."""
    _fd: int | None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock

    @property
    def held(self) -> bool:
        return self._fd is not None


def try_slot(spool_path: Path, number: int) -> SpoolSlot | None:
    """Take slot `number` if no process holds it; None if one does.

    Raises `OSError` when the lock file cannot be opened (e.g. a read-only directory).
    """
    fd = os.open(slot_lock_file(spool_path, number), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return SpoolSlot(number, slot_file(spool_path, number), fd)


def claim_slot(spool_path: Path) -> SpoolSlot:
    """The first free slot, held for the life of this process (or until released)."""
    for number in range(MAX_SLOTS):
        slot = try_slot(spool_path, number)
        if slot is not None:
            return slot
    raise OSError(f"all {MAX_SLOTS} spool slots beside {spool_path} are taken")


def remove_spool_files(path: Path) -> None:
    """An emptied spool file and its SQLite and writer-queue side files."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}.lock"):
        path.with_name(name).unlink(missing_ok=True)


class OrphanSlots:
    """The other slots' files whose lock is free, for a relay to drain (`gateway.bus.relay`)."""

    def __init__(self, spool_path: Path, own: int) -> None:
        self.spool_path = spool_path
        self.own = own

    async def orphans(self) -> AsyncGenerator[Spool, None]:
        """Each orphan slot file, locked and open, until the caller moves on.

        Close it with `contextlib.aclosing`: the slot in hand is closed and let go
        whether the caller finished with it or failed. An orphan of slot n > 0 that
        holds no record once the caller moves on is removed.
        """
        for number in slot_files(self.spool_path):
            if number == self.own:
                continue
            try:
                slot = try_slot(self.spool_path, number)
            except OSError:
                continue
            if slot is None:
                continue  # its worker (or another relay) holds it
            try:
                if not slot.path.exists():  # drained and removed meanwhile
                    continue
                async with Spool(slot.path) as spool:
                    yield spool
                    empty = await spool.depth() == 0
                if empty and number > 0:
                    remove_spool_files(slot.path)
            finally:
                slot.release()


ADOPT_BATCH = 500
"""Records moved per step from an orphan slot file into the embedded spool."""


async def adopt_orphans(spool: Spool, spool_path: Path) -> int:
    """Move the records of orphan slot files n > 0 into `spool`, the embedded mode's
    file at `spool_path` (slot 0), oldest first; return how many.

    Each step is appended to `spool` (synced) before it is deleted from the orphan, so
    a crash in between leaves a record in both, never in neither: the consumers'
    ledger skips the second copy. Emptied orphans are removed; files whose slot a
    live process holds are left alone.
    """
    moved = 0
    async with contextlib.aclosing(OrphanSlots(spool_path, own=0).orphans()) as orphans:
        async for orphan in orphans:
            while pending := await orphan.pending(ADOPT_BATCH):
                await spool.append([record for _, record in pending])
                await orphan.delete([offset for offset, _ in pending])
                moved += len(pending)
    return moved
