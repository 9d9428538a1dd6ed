"""The gateway's Prometheus metrics, on a registry passed in (never the global one).

Names follow Prometheus conventions: `hookgate_` prefix, base units, `_total`
counters; labels are bounded (provider, outcome, reason, target), never a tenant or id.

The request path adds to plain tallies (`gateway.ingress.delivery_metrics`) that a collector
reads at scrape time. What lives elsewhere (the spool's depth and age, the relay's and
publisher's counters, readiness) is read by a small background task, `metrics_poller`,
every few seconds: the scrape handler then only formats numbers already in memory and
never waits on SQLite or Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ingress.delivery_metrics import DeliveryCollector
from gateway.tasks import running

if TYPE_CHECKING:
    from gateway.app import GatewayContext

log = logging.getLogger(__name__)

PROVIDER_LABELS = ("google", "calendly", "pco", "ghl")

OUTCOMES = (
    "accepted",
    "acknowledged",
    "unknown_source",
    "rejected",
    "too_large",
    "malformed",
    "unavailable",
    "rate_limited",
    "timeout",
    "disconnected",
    "refused",
    "error",
)
"""`hookgate_deliveries_total` outcomes: accepted (published), acknowledged (verified,
nothing to publish, e.g. Google's sync), the rejections (refused: 403, a verified
delivery the source must not take), error (the gateway failed), and the reliability limits
(rate_limited 429, timeout 408 for a body too slow, disconnected: the client left)."""

PUBLISH_TARGETS = ("kafka", "spool")
READY_CHECKS = ("store", "bus")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

POLL_INTERVAL_SECONDS = 5.0
POLL_TIMEOUT_SECONDS = 2.0


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.delivery_tallies = DeliveryCollector(PROVIDER_LABELS, OUTCOMES, LATENCY_BUCKETS)
        registry.register(self.delivery_tallies)
        self.verification_failures = Counter(
            "hookgate_verification_failures_total",
            "Deliveries refused by verification, by provider and reason code.",
            ["provider", "reason"],
            registry=registry,
        )
        self.publish_errors = Counter(
            "hookgate_publish_errors_total",
            "Publishes that failed, by target: kafka (the records then went to the spool) "
            "or spool (the delivery was answered 503/429).",
            ["target"],
            registry=registry,
        )
        self.spooled_events = Counter(
            "hookgate_spooled_events_total",
            "Events written to the spool because Kafka could not take them (Kafka mode).",
            registry=registry,
        )
        self.relayed_events = Counter(
            "hookgate_relayed_events_total",
            "Events the relay moved from the spool to Kafka.",
            registry=registry,
        )
        self.relay_errors = Counter(
            "hookgate_relay_errors_total",
            "Relay attempts Kafka did not acknowledge (retried with back-off).",
            registry=registry,
        )
        self.relay_restarts = Counter(
            "hookgate_relay_restarts_total",
            "Times the relay's loop crashed on an unexpected error and was restarted after a "
            "back-off (the spool does not drain meanwhile).",
            registry=registry,
        )
        self.relay_refused = Counter(
            "hookgate_relay_refused_events_total",
            "Spooled events Kafka refused for good: sent to the DLQ, or set aside beside the "
            "spool when the DLQ refused them too.",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("dlq", "set_aside"):
            self.relay_refused.labels(outcome)
        self.spool_depth = Gauge(
            "hookgate_spool_depth_events",
            "Events in the local spool not yet relayed to Kafka (embedded bus: not yet trimmed).",
            registry=registry,
        )
        self.spool_oldest_age = Gauge(
            "hookgate_spool_oldest_event_age_seconds",
            "Age of the oldest event in the spool; 0 when it is empty.",
            registry=registry,
        )
        self.ready = Gauge(
            "hookgate_ready",
            "1 when the check /readyz makes passes (store: SELECT 1; bus: Kafka or the spool "
            "can take records), else 0. Refreshed every few seconds.",
            ["check"],
            registry=registry,
        )
        self.poll_errors = Counter(
            "hookgate_metrics_poll_errors_total",
            "Background metric refreshes that failed (the values shown are stale).",
            ["poller"],
            registry=registry,
        )
        for target in PUBLISH_TARGETS:
            self.publish_errors.labels(target)
        for check in READY_CHECKS:
            self.ready.labels(check)
        self.poll_errors.labels("gateway")
        self._by_provider: dict[str, ProviderMetrics] = {}

    def for_provider(self, provider: str) -> ProviderMetrics:
        """The request path's metric children for one (known) provider, made once."""
        found = self._by_provider.get(provider)
        if found is None:
            found = self._by_provider[provider] = ProviderMetrics(self, provider)
        return found


class ProviderMetrics:
    """What the request path records for one provider, found once per provider."""

    def __init__(self, metrics: GatewayMetrics, provider: str) -> None:
        self._metrics = metrics
        self._provider = provider
        tally = metrics.delivery_tallies.serving(provider)
        self.delivered = tally.delivered
        self.published = tally.published
        self._failures: dict[str, Counter] = {}

    def verification_failed(self, reason: str) -> None:
        counter = self._failures.get(reason)
        if counter is None:
            counter = self._failures[reason] = self._metrics.verification_failures.labels(
                self._provider, reason
            )
        counter.inc()


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
        from gateway.bus.durable_publisher import DurablePublisher

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
