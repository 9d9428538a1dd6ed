"""The spool: hookgate's local durable log, in one SQLite file.

It has two jobs (DESIGN.md, "One local log, two jobs"):

- the embedded default's bus: consumers in the same process read it by offset
  (`read`, `committed_offset`, `commit_offset`, `wait_for_append`, `trim`);
- the store-and-forward spool while Kafka is unreachable: a relay drains it into
  Kafka oldest first (`pending`, `delete`, `depth`, `oldest_age_seconds`). There each
  worker process has a file of its own (`gateway.bus.spool_slots`); the embedded bus is
  one file shared by the workers.

`append` returns only once the records are synced to disk. Concurrent callers share
one transaction and one fsync (group commit): a writer task takes everything queued
(up to `max_batch_records`) while the previous batch is being synced. All SQLite work
runs on two dedicated threads (a writer and a reader), never on the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from gateway.bus.publish import PublishUnavailable
from gateway.bus.spool_sql import SpoolConnection
from schemas import BusRecord

DEFAULT_MAX_BATCH_RECORDS = 1000

_T = TypeVar("_T")


class SpoolUnavailable(PublishUnavailable):
    """The spool could not make the records durable; the provider should retry."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class _PendingAppend:
    records: Sequence[BusRecord]
    done: asyncio.Future[list[int]]


@dataclass
class SpoolStats:
    """Counters for tests and metrics."""

    append_transactions: int = 0
    appended_records: int = 0
    failed_transactions: int = 0
    last_error: str | None = field(default=None, repr=False)


class Spool:
    """The local durable log. Use as `async with Spool(path) as spool:`."""

    def __init__(
        self,
        path: Path | str,
        *,
        consumer_groups: Iterable[str] = (),
        max_batch_records: int = DEFAULT_MAX_BATCH_RECORDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`consumer_groups` are registered at open, so `trim` keeps what they have not read."""
        self.path = Path(path)
        self.stats = SpoolStats()
        self._groups = tuple(consumer_groups)
        self._max_batch_records = max_batch_records
        self._clock = clock
        self._writer_thread = _single_thread("writer")
        self._reader_thread = _single_thread("reader")
        self._writer: SpoolConnection | None = None
        self._reader: SpoolConnection | None = None
        self._queue: deque[_PendingAppend] = deque()
        self._queued = asyncio.Event()
        self._appended = asyncio.Event()
        self._last_appended = 0
        self._write_task: asyncio.Task[None] | None = None
        self._closing = False
        self._write_failed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # lifecycle ------------------------------------------------------------------

    async def open(self) -> None:
        if self._write_task is not None:
            raise RuntimeError("the spool is already open")
        if self._writer is None and self._closing:  # reopened after close
            self._writer_thread = _single_thread("writer")
            self._reader_thread = _single_thread("reader")
        try:
            self._writer = await self._on_writer(self._open_writer)
            self._reader = await self._on_reader(lambda: SpoolConnection(self.path))
        except sqlite3.Error as exc:
            await self._close_connections()
            raise SpoolUnavailable(_sentence("could not be opened", self.path, exc)) from exc
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self._write_task = asyncio.create_task(self._write_loop(), name="hookgate-spool-writer")

    async def close(self) -> None:
        """Write everything already queued, then release the file and the threads."""
        self._closing = True
        self._queued.set()
        if self._write_task is not None:
            await self._write_task
            self._write_task = None
        await self._close_connections()
        self._writer_thread.shutdown(wait=False)
        self._reader_thread.shutdown(wait=False)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # appending ------------------------------------------------------------------

    async def append(self, records: Sequence[BusRecord]) -> list[int]:
        """Return the records' offsets once they are synced to disk.

        Raises `SpoolUnavailable` when the batch this call joined could not be written.
        """
        loop = self._loop  # asyncio.get_running_loop() is a getpid call on 3.11
        if self._closing or self._write_task is None or loop is None:
            raise SpoolUnavailable(f"The spool at {self.path} is not open.")
        if not records:
            return []
        done: asyncio.Future[list[int]] = loop.create_future()
        self._queue.append(_PendingAppend(records, done))
        self._queued.set()
        return await done

    async def writable(self) -> bool:
        """True when an append can currently succeed (re-probes the disk after a failure)."""
        if self._closing or self._write_task is None:
            return False
        if not self._write_failed:
            return True
        try:
            await self._write(lambda db: db.probe_write(self._clock()))
        except SpoolUnavailable:
            return False
        return True

    async def _write_loop(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._queued.clear()
                await self._queued.wait()
                continue
            batch = self._take_batch()
            records = [item.records for item in batch]
            now = self._clock()
            try:
                offsets = await self._write(
                    lambda db: db.append_batches(records, now),  # noqa: B023
                    "could not make the records durable",
                )
            except Exception as exc:  # noqa: BLE001 - handed to exactly this batch's callers
                self.stats.failed_transactions += 1
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            self._resolve(batch, offsets)

    def _take_batch(self) -> list[_PendingAppend]:
        batch = [self._queue.popleft()]
        count = len(batch[0].records)
        while self._queue and count + len(self._queue[0].records) <= self._max_batch_records:
            item = self._queue.popleft()
            batch.append(item)
            count += len(item.records)
        return batch

    def _resolve(self, batch: list[_PendingAppend], offsets: list[int]) -> None:
        self.stats.append_transactions += 1
        self.stats.appended_records += len(offsets)
        start = 0
        for item in batch:
            end = start + len(item.records)
            if not item.done.done():
                item.done.set_result(offsets[start:end])
            start = end
        self._last_appended = max(self._last_appended, offsets[-1])
        self._appended.set()
        self._appended = asyncio.Event()

    # the embedded bus -----------------------------------------------------------

    async def read(self, after: int, limit: int) -> list[tuple[int, BusRecord]]:
        """Up to `limit` records with offsets above `after`, in offset order."""
        return await self._read(lambda db: db.read(after, limit))

    async def committed_offset(self, group: str) -> int:
        """The last offset `group` committed; 0 when it has committed nothing."""
        return await self._read(lambda db: db.committed_offset(group))

    async def commit_offset(self, group: str, offset: int) -> None:
        """Durably store `group`'s offset; an offset below the stored one is ignored."""
        await self._write(lambda db: db.commit_offset(group, offset))

    async def register_group(self, group: str) -> None:
        """Make `trim` keep everything `group` has not committed yet."""
        await self._write(lambda db: db.register_groups([group]))

    async def wait_for_append(
        self,
        timeout: float,  # noqa: ASYNC109 - a poll interval: returning is not an error
        *,
        after: int | None = None,
    ) -> None:
        """Return when this process appended (above `after`, if given), or after `timeout`.

        Other processes' appends are not signalled: readers poll with the timeout.
        """
        if after is not None and self._last_appended > after:
            return
        appended = self._appended
        try:
            await asyncio.wait_for(appended.wait(), timeout)
        except TimeoutError:
            return

    async def trim(self) -> int:
        """Delete records every registered group has committed; return how many."""
        return await self._write(lambda db: db.trim())

    # store-and-forward ----------------------------------------------------------

    async def pending(self, limit: int) -> list[tuple[int, BusRecord]]:
        """The oldest `limit` records still in the spool, oldest first."""
        return await self._read(lambda db: db.read(0, limit))

    async def delete(self, offsets: Sequence[int]) -> int:
        """Durably delete records (once the relay got them acknowledged); return how many."""
        if not offsets:
            return 0
        return await self._write(lambda db: db.delete(offsets))

    async def depth(self) -> int:
        """How many records the spool holds."""
        return await self._read(lambda db: db.depth())

    async def oldest_age_seconds(self, now: float | None = None) -> float | None:
        """Age of the oldest record (`now` in epoch seconds); None when empty."""
        oldest = await self._read(lambda db: db.oldest_appended_at())
        if oldest is None:
            return None
        return max(0.0, (self._clock() if now is None else now) - oldest)

    # leases ---------------------------------------------------------------------

    async def try_acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take `name` for `owner` unless another owner holds it unexpired."""
        now = self._clock()
        return await self._write(
            lambda db: db.try_acquire_lease(name, owner, now + ttl_seconds, now)
        )

    async def renew_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Extend `owner`'s lease; False when another owner has taken it."""
        now = self._clock()
        return await self._write(lambda db: db.renew_lease(name, owner, now + ttl_seconds, now))

    async def release_lease(self, name: str, owner: str) -> None:
        await self._write(lambda db: db.release_lease(name, owner))

    # threads --------------------------------------------------------------------

    def _open_writer(self) -> SpoolConnection:
        connection = SpoolConnection(self.path)
        try:
            connection.create_schema(self._groups)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _write(
        self, job: Callable[[SpoolConnection], _T], what: str = "could not write"
    ) -> _T:
        writer = self._writer
        if writer is None:
            raise SpoolUnavailable(f"The spool at {self.path} is not open.")
        try:
            result = await self._on_writer(lambda: job(writer))
        except (sqlite3.Error, OSError) as exc:
            self._write_failed = True
            self.stats.last_error = type(exc).__name__
            raise SpoolUnavailable(_sentence(what, self.path, exc)) from exc
        self._write_failed = False
        return result

    async def _read(self, job: Callable[[SpoolConnection], _T]) -> _T:
        reader = self._reader
        if reader is None:
            raise SpoolUnavailable(f"The spool at {self.path} is not open.")
        try:
            return await self._on_reader(lambda: job(reader))
        except sqlite3.Error as exc:
            raise SpoolUnavailable(_sentence("could not be read", self.path, exc)) from exc

    async def _on_writer(self, job: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, job)

    async def _on_reader(self, job: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._reader_thread, job)

    async def _close_connections(self) -> None:
        writer, self._writer = self._writer, None
        reader, self._reader = self._reader, None
        if reader is not None:
            await self._on_reader(reader.close)
        if writer is not None:
            await self._on_writer(writer.close)


def _single_thread(role: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1, thread_name_prefix=f"hookgate-spool-{role}")


class SpoolPublisher:
    """`gateway.bus.publish.Publisher` over the spool: the embedded default's publisher."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    async def publish(self, records: Sequence[BusRecord]) -> None:
        await self._spool.append(records)

    async def ready(self) -> bool:
        return await self._spool.writable()


_CAUSES = {
    sqlite3.SQLITE_FULL: "the disk (or the file size limit) is full",
    sqlite3.SQLITE_READONLY: "the file or its directory is read-only",
    sqlite3.SQLITE_IOERR: "the disk refused the write or read (I/O error)",
    sqlite3.SQLITE_IOERR_WRITE: (
        "the disk refused the write (it is full, the file is over its size limit,"
        " or the disk is failing)"
    ),
    sqlite3.SQLITE_IOERR_FSYNC: "the disk could not sync the write (I/O error)",
    sqlite3.SQLITE_BUSY: "another process held the write lock too long",
    sqlite3.SQLITE_CANTOPEN: "the file cannot be opened",
    sqlite3.SQLITE_CORRUPT: "the file is corrupt",
    sqlite3.SQLITE_NOTADB: "the file is not an SQLite database",
}


def _sentence(what: str, path: Path, exc: BaseException) -> str:
    """One human sentence saying what failed and why (no record content)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        cause = _CAUSES.get(code) or _CAUSES.get(code & 0xFF) or str(exc)
    else:
        cause = str(exc)
    return f"The spool at {path} {what}: {cause}."
