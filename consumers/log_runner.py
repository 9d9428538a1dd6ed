"""The in-process consumer of the embedded bus: reads a local log by offset.

Each batch is converted to CloudEvents and handed to `apply`; the group's offset is
committed only after `apply` returned, so a crash re-delivers at most the batch that
was being applied (apply is idempotent, DESIGN.md). A failing `apply` is retried with
the same batch after a bounded exponential back-off; nothing is skipped.

With several processes on one log (uvicorn workers), an optional lease makes sure
only one of them runs the consumer for a group. The log and the lease are small
protocols that `gateway.spool.Spool` satisfies structurally; consumers never import
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

from schemas import BusRecord, CloudEvent

logger = logging.getLogger(__name__)

Apply = Callable[[Sequence[CloudEvent]], Awaitable[None]]


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


@dataclass
class RunnerStats:
    applied_batches: int = 0
    applied_events: int = 0
    apply_failures: int = 0
    undecodable_records: int = 0


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
    ) -> None:
        self._log = log
        self._apply = apply
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
        """Apply `batch`, retrying on failure; False when stopped before it succeeded."""
        events = self._events(batch)
        attempt = 0
        while True:
            try:
                if events:
                    await self._apply(events)
            except Exception as exc:  # noqa: BLE001 - logged (without payloads) and retried
                self.stats.apply_failures += 1
                attempt += 1
                delay = self._backoff(attempt)
                logger.error(
                    "group %s: apply failed for offsets %d..%d (%d events) with %s;"
                    " retry %d in %.2fs",
                    self.group,
                    batch[0][0],
                    batch[-1][0],
                    len(events),
                    type(exc).__name__,
                    attempt,
                    delay,
                )
                if await self._pause_or_timeout(delay):
                    return False
                continue
            self.stats.applied_batches += 1
            self.stats.applied_events += len(events)
            return True

    def _events(self, batch: Sequence[tuple[int, BusRecord]]) -> list[CloudEvent]:
        events: list[CloudEvent] = []
        for offset, record in batch:
            try:
                events.append(record.to_event())
            except (KeyError, ValueError) as exc:
                # It can never become decodable; retrying would block the log forever.
                self.stats.undecodable_records += 1
                logger.error(
                    "group %s: skipping undecodable record at offset %d (%s)",
                    self.group,
                    offset,
                    type(exc).__name__,
                )
        return events

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
