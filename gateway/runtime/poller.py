"""Keeps the gateway's polled metrics fresh: the bus's state read every few seconds.

What the request path does not count itself (the spool's depth and age, the relay's and
the durable publisher's counters, readiness) is read here by one background task, so a
scrape only formats numbers already in memory and never waits on SQLite or Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import GatewayContext
from gateway.bus.durable_publisher import DurablePublisher
from gateway.ingress.metrics import GatewayMetrics
from gateway.tasks import running

log = logging.getLogger(__name__)

POLL_INTERVAL_SECONDS = 5.0
POLL_TIMEOUT_SECONDS = 2.0


class _SpoolStats(Protocol):
    failed_transactions: int


class PolledSpool(Protocol):
    """What the poller reads of `gateway.bus.spool.Spool`."""

    @property
    def stats(self) -> _SpoolStats: ...

    async def depth(self) -> int: ...
    async def oldest_age_seconds(self, now: float | None = None) -> float | None: ...


class Readiness(Protocol):
    async def ready(self) -> bool: ...


@dataclass
class CounterSync:
    """Advances Prometheus counters to match in-process totals (which only grow)."""

    _last: dict[int, float] = field(default_factory=dict)

    def advance(self, counter: Counter, total: float) -> None:
        key = id(counter)
        delta = total - self._last.get(key, 0.0)
        if delta > 0:
            counter.inc(delta)
        self._last[key] = max(total, self._last.get(key, 0.0))


class GatewayPoller:
    """Reads the bus's state into `GatewayMetrics`; `poll()` once, or `run()` forever."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        *,
        spool: PolledSpool | None,
        publisher: Readiness,
        engine: AsyncEngine | None,
    ) -> None:
        self._metrics = metrics
        self._spool = spool
        self._publisher = publisher
        self._engine = engine
        self._counters = CounterSync()

    async def poll(self) -> None:
        metrics = self._metrics
        if self._spool is not None:
            metrics.spool_depth.set(await self._spool.depth())
            metrics.spool_oldest_age.set(await self._spool.oldest_age_seconds() or 0.0)
            self._counters.advance(
                metrics.publish_errors.labels("spool"), self._spool.stats.failed_transactions
            )
        self._advance_durable_publisher()
        metrics.ready.labels("store").set(await self._store_ok())
        metrics.ready.labels("bus").set(await _passes(self._publisher.ready()))

    def _advance_durable_publisher(self) -> None:
        publisher = self._publisher
        if not isinstance(publisher, DurablePublisher):
            return
        metrics, sync = self._metrics, self._counters
        sync.advance(metrics.publish_errors.labels("kafka"), publisher.stats.fallbacks)
        sync.advance(metrics.spooled_events, publisher.stats.spooled_records)
        sync.advance(metrics.relayed_events, publisher.relay.stats.relayed_records)
        sync.advance(metrics.relay_errors, publisher.relay.stats.failed_attempts)
        sync.advance(metrics.relay_restarts, publisher.relay.stats.restarts)
        sync.advance(metrics.relay_refused.labels("dlq"), publisher.relay.stats.dead_lettered)
        sync.advance(metrics.relay_refused.labels("set_aside"), publisher.relay.stats.set_aside)

    async def _store_ok(self) -> bool:
        if self._engine is None:
            return False
        engine = self._engine

        async def select_one() -> bool:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return True

        return await _passes(select_one())

    async def run(self, interval_seconds: float = POLL_INTERVAL_SECONDS) -> None:
        while True:
            try:
                await self.poll()
            except Exception:
                self._metrics.poll_errors.labels("gateway").inc()
                log.exception("refreshing the gateway's metrics failed; retrying")
            await asyncio.sleep(interval_seconds)


async def _passes(check: Awaitable[bool]) -> bool:
    """Await a readiness check with a bound; any failure or timeout counts as not ready."""
    try:
        async with asyncio.timeout(POLL_TIMEOUT_SECONDS):
            return bool(await check)
    except Exception:  # noqa: BLE001 (any failure means not ready)
        return False


@contextlib.asynccontextmanager
async def metrics_poller(context: GatewayContext) -> AsyncIterator[None]:
    """A `Background` factory for `create_app`: keeps the polled metrics fresh."""
    poller = GatewayPoller(
        context.metrics,
        spool=context.bus.spool if context.bus is not None else None,
        publisher=context.publisher,
        engine=context.engine,
    )
    async with running(poller.run(), name="hookgate-metrics-poller"):
        yield
