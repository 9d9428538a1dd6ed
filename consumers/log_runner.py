"""The in-process consumer of the embedded bus: reads a local log by offset.

Each batch is converted to CloudEvents and handed to `apply`; the group's offset is
committed only after `apply` returned, so a crash re-delivers at most the batch that
was being applied (apply is idempotent, DESIGN.md).

Failures, as in Kafka mode (`consumers.kafka_runner`): a transient error (the store
or the network unreachable) is retried with a bounded exponential back-off until it
clears; nothing is skipped. Any other error is retried `max_retries` times; then the
batch is split in halves, each applied once, recursively (a bisection: a bad event
in a batch of 500 costs about 2 * 9 more applies, not 500), until the event(s) that
fail alone are found. Those, and records that are not CloudEvents at all, are
parked with their error in `dead_letters` (in the app, the store's table:
`consumers.dead_letter_table`); then the batch is committed and the line goes on.
Without `dead_letters` a failing batch is retried until it succeeds.

With several processes on one log (uvicorn workers), an optional lease makes sure
only one of them runs the consumer for a group. The log and the lease are small
protocols that `gateway.bus.spool.Spool` satisfies structurally; consumers never import
the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from consumers.dlq import describe_error, is_transient
from schemas import BusRecord, CloudEvent
from schemas.deadletter import DeadLetter

logger = logging.getLogger(__name__)

Apply = Callable[[Sequence[CloudEvent]], Awaitable[None]]
Item = tuple[int, BusRecord, CloudEvent]
"""A record of the batch being applied: its offset, itself, and its event."""


class DeadLetterSink(Protocol):
    """Where the events that cannot be applied are parked (`DeadLetterTable`)."""

    async def park(self, letters: Sequence[DeadLetter]) -> None: ...


class OffsetLog(Protocol):
    """A log read by offset, with per-group committed offsets."""

    async def read(self, after: int, limit: int) -> Sequence[tuple[int, BusRecord]]: ...

    async def committed_offset(self, group: str) -> int: ...

    async def commit_offset(self, group: str, offset: int) -> None: ...

    async def wait_for_append(
        self,
        timeout: float,  # noqa: ASYNC109 - a poll interval: returning is not an error
        *,
        after: int | None = None,
    ) -> None: ...


class LeaseStore(Protocol):
    """Named leases with an expiry, shared by the processes that could run the runner."""

    async def try_acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool: ...

    async def renew_lease(self, name: str, owner: str, ttl_seconds: float) -> bool: ...

    async def release_lease(self, name: str, owner: str) -> None: ...


@dataclass(frozen=True)
class RunnerOptions:
    batch_size: int = 500
    poll_seconds: float = 1.0
    """How long to wait for an append before reading again (other processes append too)."""
    backoff_initial_seconds: float = 0.1
    backoff_max_seconds: float = 5.0
    lease_ttl_seconds: float = 15.0
    """A holder renews every third of this; a crashed holder is replaced after it."""
    max_retries: int = 3
    """Retries of a batch failing with a non-transient error before it is split."""


@dataclass
class RunnerStats:
    applied_batches: int = 0
    applied_events: int = 0
    apply_failures: int = 0
    undecodable_records: int = 0
    retries: int = 0
    dead_letters: int = 0
    commit_failures: int = 0
    """Always 0 here (one runner per group); kept for the metrics' `RunnerStats`."""


class _Paused(Exception):
    """Stopped (or the lease lost) while a batch was not done: it stays uncommitted."""


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LogRunner:
    """Feeds `apply` from `log` for one consumer `group` until `stop()`."""

    def __init__(
        self,
        log: OffsetLog,
        apply: Apply,
        *,
        group: str,
        lease: LeaseStore | None = None,
        owner: str | None = None,
        options: RunnerOptions | None = None,
        dead_letters: DeadLetterSink | None = None,
    ) -> None:
        self._log = log
        self._apply = apply
        self._dead_letters = dead_letters
        self.group = group
        self._lease = lease
        self.owner = owner or default_owner()
        self._options = options or RunnerOptions()
        self.stats = RunnerStats()
        self.position = 0
        """The last offset this runner committed (or found committed)."""
        self._stopping = asyncio.Event()
        self._lease_lost = asyncio.Event()
        self._holding = False

    @property
    def lease_name(self) -> str:
        return f"consumer:{self.group}"

    @property
    def holding_lease(self) -> bool:
        return self._holding

    def stop(self) -> None:
        """Finish (apply and commit) the current batch, then make `run` return."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop()`; with a lease, only while holding it."""
        while not self._stopping.is_set():
            if self._lease is None:
                await self._consume()
                return
            if not await self._acquire(self._lease):
                return
            renewing = asyncio.create_task(self._keep_lease(self._lease))
            try:
                await self._consume()
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
                await self._release(self._lease)

    # consuming ------------------------------------------------------------------

    async def _consume(self) -> None:
        failures = 0
        while not self._should_pause():
            try:
                if failures == 0 or not await self._pause_or_timeout(self._backoff(failures)):
                    await self._consume_until_paused()
                return
            except Exception as exc:  # noqa: BLE001 - the log may be briefly unavailable
                failures += 1
                logger.error("group %s: the log failed (%s); retrying", self.group, exc)

    async def _consume_until_paused(self) -> None:
        self.position = await self._log.committed_offset(self.group)
        while not self._should_pause():
            batch = await self._log.read(self.position, self._options.batch_size)
            if not batch:
                await self._wait_for_records()
                continue
            if not await self._apply_until_done(batch):
                return
            last = batch[-1][0]
            await self._log.commit_offset(self.group, last)
            self.position = last

    def _backoff(self, attempt: int) -> float:
        """Bounded exponential back-off before retry number `attempt` (from 1)."""
        initial = self._options.backoff_initial_seconds
        return float(min(self._options.backoff_max_seconds, initial * 2 ** (attempt - 1)))

    async def _apply_until_done(self, batch: Sequence[tuple[int, BusRecord]]) -> bool:
        """Apply `batch`, parking what can never be applied; False when stopped before."""
        items, poison = self._decode(batch)
        try:
            if items:
                poison.extend(await self._apply_or_split(items, self._options.max_retries, 0))
            if poison and self._dead_letters is not None:  # only made with a sink
                await self._park(self._dead_letters, poison)
        except _Paused:
            return False
        self.stats.applied_batches += 1
        return True

    async def _apply_or_split(
        self, items: Sequence[Item], retries: int, earlier: int
    ) -> list[DeadLetter]:
        """Apply `items` (retrying non-transient errors `retries` times); if they keep
        failing, apply each half the same way, once. Return the events that fail alone.
        `earlier`: failed attempts these items were already part of."""
        failed = 0
        permanent = 0
        while True:
            try:
                await self._apply([event for _, _, event in items])
            except Exception as exc:
                failed += 1
                self.stats.apply_failures += 1
                transient = is_transient(exc)
                permanent += 0 if transient else 1
                if self._dead_letters is not None and not transient and permanent > retries:
                    error = exc
                    break
                delay = self._backoff(failed)
                self.stats.retries += 1
                logger.error(
                    "group %s: apply failed for offsets %d..%d (%d events) with %s;"
                    " retry %d in %.2fs",
                    self.group,
                    items[0][0],
                    items[-1][0],
                    len(items),
                    describe_error(exc)[0],
                    failed,
                    delay,
                )
                if await self._pause_or_timeout(delay):
                    raise _Paused from exc
                continue
            self.stats.applied_events += len(items)
            return []
        attempts = earlier + failed
        if len(items) == 1:
            offset, record, _ = items[0]
            return [self._dead_letter(offset, record, error, attempts)]
        if earlier == 0:
            logger.error(
                "group %s: offsets %d..%d keep failing with %s; splitting the batch to park"
                " the event(s) at fault",
                self.group,
                items[0][0],
                items[-1][0],
                describe_error(error)[0],
            )
        middle = len(items) // 2
        first = await self._apply_or_split(items[:middle], 0, attempts)
        return first + await self._apply_or_split(items[middle:], 0, attempts)

    def _decode(
        self, batch: Sequence[tuple[int, BusRecord]]
    ) -> tuple[list[Item], list[DeadLetter]]:
        """The batch's events, and the records that are not CloudEvents (never will be)."""
        items: list[Item] = []
        poison: list[DeadLetter] = []
        for offset, record in batch:
            try:
                items.append((offset, record, record.to_event()))
            except (KeyError, ValueError) as exc:
                self.stats.undecodable_records += 1
                if self._dead_letters is not None:
                    poison.append(self._dead_letter(offset, record, exc, 0))
                    continue
                logger.error(
                    "group %s: skipping undecodable record at offset %d (%s)",
                    self.group,
                    offset,
                    type(exc).__name__,
                )
        return items, poison

    def _dead_letter(
        self, offset: int, record: BusRecord, exc: BaseException, attempts: int
    ) -> DeadLetter:
        error_class, message = describe_error(exc)
        return DeadLetter(
            topic=record.topic,
            partition=0,
            offset=offset,
            key=record.key,
            value=record.value,
            headers=record.headers,
            group=self.group,
            attempts=attempts,
            error_class=error_class,
            error=message,
        )

    async def _park(self, sink: DeadLetterSink, letters: list[DeadLetter]) -> None:
        """Store the dead letters; keep trying while the store cannot take them."""
        failed = 0
        while True:
            try:
                await sink.park(letters)
                break
            except Exception as exc:
                failed += 1
                delay = self._backoff(failed)
                logger.error(
                    "group %s: parking %d dead letter(s) failed (%s); retry in %.2fs",
                    self.group,
                    len(letters),
                    describe_error(exc)[0],
                    delay,
                )
                if await self._pause_or_timeout(delay):
                    raise _Paused from exc
        self.stats.dead_letters += len(letters)
        for letter in letters:
            logger.error(
                "group %s: the event at offset %d was parked as a dead letter after %d"
                " attempt(s): %s",
                self.group,
                letter.offset,
                letter.attempts,
                letter.error_class,
            )

    def _should_pause(self) -> bool:
        return self._stopping.is_set() or self._lease_lost.is_set()

    async def _wait_for_records(self) -> None:
        waiting = asyncio.create_task(
            self._log.wait_for_append(self._options.poll_seconds, after=self.position)
        )
        await self._first_of(waiting)

    async def _pause_or_timeout(self, seconds: float) -> bool:
        """Sleep `seconds` unless stopped or the lease is lost; True when it must pause."""
        await self._first_of(asyncio.create_task(asyncio.sleep(seconds)))
        return self._should_pause()

    async def _first_of(self, task: asyncio.Task[None]) -> None:
        """Wait for `task`, a stop, or a lost lease, whichever comes first."""
        stopping = asyncio.create_task(self._stopping.wait())
        lost = asyncio.create_task(self._lease_lost.wait())
        try:
            await asyncio.wait({task, stopping, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, stopping, lost):
                pending.cancel()
            await asyncio.gather(task, stopping, lost, return_exceptions=True)

    # the lease ------------------------------------------------------------------

    async def _acquire(self, lease: LeaseStore) -> bool:
        """Wait until this runner holds the lease; False when stopped first."""
        ttl = self._options.lease_ttl_seconds
        while not self._stopping.is_set():
            try:
                acquired = await lease.try_acquire_lease(self.lease_name, self.owner, ttl)
            except Exception as exc:  # noqa: BLE001 - the lease store may be briefly unavailable
                logger.warning("group %s: could not ask for the lease (%s)", self.group, exc)
                acquired = False
            if acquired:
                self._lease_lost.clear()
                self._holding = True
                logger.info("group %s: %s holds the consumer lease", self.group, self.owner)
                return True
            await self._pause_or_timeout(ttl / 3)
        return False

    async def _keep_lease(self, lease: LeaseStore) -> None:
        ttl = self._options.lease_ttl_seconds
        loop = asyncio.get_running_loop()
        renewed_at = loop.time()
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                renewed = await lease.renew_lease(self.lease_name, self.owner, ttl)
            except Exception as exc:  # noqa: BLE001 - retried at the next renewal
                logger.warning("group %s: could not renew the lease (%s)", self.group, exc)
                renewed = loop.time() - renewed_at < ttl
            else:
                renewed_at = loop.time() if renewed else renewed_at
            if not renewed:
                logger.warning("group %s: %s lost the consumer lease", self.group, self.owner)
                self._lease_lost.set()
                return

    async def _release(self, lease: LeaseStore) -> None:
        self._holding = False
        try:
            await lease.release_lease(self.lease_name, self.owner)
        except Exception as exc:  # noqa: BLE001 - the lease then simply expires
            logger.warning("group %s: could not release the lease (%s)", self.group, exc)
