"""The relay: drains the store-and-forward spool into Kafka, oldest first.

It takes the oldest records in batches, publishes them (acks=all), and deletes only
what Kafka acknowledged; while Kafka is unreachable it backs off. A lease in the
spool lets one process relay at a time when several gateway workers share it.
A batch whose acknowledgement timed out may still land in Kafka and is sent again:
records can reach Kafka twice (consumers dedupe by `ce_id`), never out of order.

The relay also keeps the `Backlog`: whether the spool may hold records, so that the
`DurablePublisher` sends new records behind them instead of overtaking them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

from gateway.publish import Publisher, PublishUnavailable
from schemas import BusRecord

log = logging.getLogger(__name__)

LEASE_NAME = "hookgate-relay"


class RelaySpool(Protocol):
    """What the relay needs of `gateway.spool.Spool`."""

    async def pending(self, limit: int) -> list[tuple[int, BusRecord]]: ...
    async def delete(self, offsets: list[int]) -> int: ...
    async def depth(self) -> int: ...
    async def oldest_age_seconds(self, now: float | None = None) -> float | None: ...
    async def try_acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool: ...
    async def release_lease(self, name: str, owner: str) -> None: ...


class Backlog:
    """Whether the spool may hold records that new ones must not overtake.

    Set as soon as an append starts; cleared only when the relay saw an empty spool
    and no append started or was running meanwhile. Other processes' appends are
    seen at the relay's next look (`idle_poll_seconds`).
    """

    def __init__(self) -> None:
        self.present = False
        self._started = 0
        self._running = 0

    def append_started(self) -> None:
        self.present = True
        self._started += 1
        self._running += 1

    def append_finished(self) -> None:
        self._running -= 1

    def token(self) -> int:
        """Take before reading the spool's depth; hand to `observed` with the depth."""
        return self._started

    def observed(self, depth: int, token: int) -> None:
        if depth > 0:
            self.present = True
        elif token == self._started and self._running == 0:
            self.present = False


@dataclass
class RelayStats:
    """Counters for tests and metrics."""

    relayed_records: int = 0
    batches: int = 0
    failed_attempts: int = 0
    last_error: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RelayStatus:
    """For readiness and metrics."""

    depth: int
    oldest_age_seconds: float | None
    kafka_ready: bool


class Relay:
    """Use as `async with Relay(spool, kafka):`, or `start()` / `stop()`."""

    def __init__(
        self,
        spool: RelaySpool,
        kafka: Publisher,
        *,
        batch_size: int = 500,
        idle_poll_seconds: float = 0.5,
        initial_backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        lease_ttl_seconds: float = 15.0,
    ) -> None:
        self.spool = spool
        self.kafka = kafka
        self.backlog = Backlog()
        self.stats = RelayStats()
        self.depth = 0
        """The spool's depth at the relay's last look."""
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._initial_backoff = initial_backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._lease_ttl = lease_ttl_seconds
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._holds_lease = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.look()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hookgate-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._holds_lease:
            self._holds_lease = False
            with contextlib.suppress(PublishUnavailable):
                await self.spool.release_lease(LEASE_NAME, self._owner)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def wake(self) -> None:
        """Look at the spool now rather than at the next poll."""
        self._wake.set()

    async def status(self) -> RelayStatus:
        return RelayStatus(
            depth=await self.spool.depth(),
            oldest_age_seconds=await self.spool.oldest_age_seconds(),
            kafka_ready=await self.kafka.ready(),
        )

    async def look(self) -> int:
        """Read the spool's depth and update the backlog."""
        token = self.backlog.token()
        self.depth = await self.spool.depth()
        self.backlog.observed(self.depth, token)
        return self.depth

    async def relay_once(self) -> int:
        """Publish the oldest batch and delete it; return how many records were relayed.

        Raises `PublishUnavailable` when Kafka (or the spool) did not take them.
        """
        if not await self._hold_lease():
            return 0
        pending = await self.spool.pending(self._batch_size)
        if not pending:
            return 0
        await self.kafka.publish([record for _, record in pending])
        await self.spool.delete([offset for offset, _ in pending])
        self.stats.relayed_records += len(pending)
        self.stats.batches += 1
        return len(pending)

    async def _run(self) -> None:
        backoff = self._initial_backoff
        while True:
            try:
                depth = await self.look()
                relayed = await self.relay_once() if depth else 0
            except PublishUnavailable as exc:
                self.stats.failed_attempts += 1
                self.stats.last_error = type(exc).__name__
                log.warning("Relaying the spool failed: %s Retrying in %.1f s.", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = self._initial_backoff
            if not relayed:
                await self._idle()

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._idle_poll)
        self._wake.clear()

    async def _hold_lease(self) -> bool:
        self._holds_lease = await self.spool.try_acquire_lease(
            LEASE_NAME, self._owner, self._lease_ttl
        )
        return self._holds_lease
