"""The consumers' Prometheus metrics, on a registry passed in (never the global one).

Three ways in, so that a scrape never waits on the store or Kafka:

- the apply path: `ConsumerMetrics` is the `Applier`'s `ApplyMetrics` (batch latency,
  duplicates, unhandled types) and `instrument(apply)` wraps what the runner calls
  (events applied or failed by type, end-to-end freshness);
- pollers run by `polling(...)` every few seconds: Kafka lag and DLQ size
  (`KafkaLagPoller`, from the brokers, so lag keeps rising while a consumer is stuck),
  the store's sources and Google channels (`StoreStatePoller`), and the runner's
  in-process counters (`RunnerStatsPoller`);
- calls from the Google code: `oauth_refresh_failed`, `source_error`, and every
  completed sync run and write-outbox attempt (`watch_google` hooks a `GoogleSync`'s
  listeners).

Labels are bounded: event types outside the registry's set become `other`; never a
tenant, source or channel id. Consumers never import the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Protocol, TypeVar
from weakref import WeakKeyDictionary

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.metrics import _use_created
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import ApplyResult
from consumers.google.scheduler import TRIGGERS
from consumers.google.sync import SyncResult
from consumers.google.wiring import GoogleSync
from consumers.google.writer import CONFLICT_POLICIES, OUTCOMES
from schemas import CloudEvent
from schemas.deadletter import DeadLetter
from schemas.google_store import (
    CHANNEL_ACTIVE,
    WRITE_OPS,
    google_channels,
    google_sync_state,
)
from schemas.tables import sources

log = logging.getLogger(__name__)

OTHER = "other"
ORIGINS = ("remote", "self")
OAUTH_REASONS = ("revoked", "client_rejected", "rejected", "unavailable")
APPLY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FRESHNESS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 86400.0)
POLL_INTERVAL_SECONDS = 15.0

T = TypeVar("T")
Apply = Callable[[Sequence[CloudEvent]], Awaitable[T]]


def _bounded(value: str, allowed: Collection[str]) -> str:
    return value if value in allowed else OTHER


class _NextExpiry(Collector):
    """`hookgate_google_channel_next_expiry_seconds`: no sample while no channel is active
    (a 0 would look like a channel about to expire)."""

    def __init__(self) -> None:
        self.expires_at: datetime | None = None
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hookgate_google_channel_next_expiry_seconds",
            "Seconds until the soonest active Google push channel expires (absent: none "
            "active). Channels are renewed 12 h ahead, so a low value means renewal fails.",
        )
        if self.expires_at is not None:
            family.add_metric([], (self.expires_at - self.clock()).total_seconds())
        yield family


class _FreshnessTally(Collector):
    """`hookgate_event_freshness_seconds`, kept as plain per-provider tallies.

    A `Histogram` observation takes a label lookup and a lock per event: about a tenth
    of the consumer's CPU per event. Here a batch adds its events to a list of bucket
    counts, and the samples are made at scrape time; names, help, labels and buckets
    are those of the `Histogram` this replaces, `_created` included. A scrape from
    another thread may see a batch in the buckets but not yet in the sum.
    """

    name = "hookgate_event_freshness_seconds"
    documentation = "From the provider's event time to the store's commit, by provider."

    def __init__(self, buckets: Sequence[float]) -> None:
        self._bounds = tuple(buckets)
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}
        self._created: dict[str, float] = {}

    def add(self, provider: str, ages: Iterable[float]) -> None:
        """Observe each of `ages` (seconds; negative ones as 0) under `provider`."""
        counts = self._counts.get(provider)
        if counts is None:
            self._created[provider] = time.time()
            self._sums[provider] = 0.0
            counts = self._counts[provider] = [0] * (len(self._bounds) + 1)
        bounds = self._bounds
        total = 0.0
        for age in ages:
            seconds = age if age > 0.0 else 0.0
            counts[bisect_left(bounds, seconds)] += 1
            total += seconds
        self._sums[provider] += total

    def describe(self) -> Iterable[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=["provider"])

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["provider"])
        for provider, counts in list(self._counts.items()):
            running = 0
            buckets = []
            for bound, count in zip((*self._bounds, float("inf")), list(counts), strict=True):
                running += count
                buckets.append((floatToGoString(bound), float(running)))  # type: ignore[no-untyped-call]
            family.add_metric([provider], buckets, self._sums[provider])
            if _use_created:
                family.samples.append(
                    Sample(f"{self.name}_created", {"provider": provider}, self._created[provider])
                )
        yield family


_REFRESH_FAILURES: WeakKeyDictionary[CollectorRegistry, Counter] = WeakKeyDictionary()


def oauth_refresh_failures(registry: CollectorRegistry, providers: Collection[str] = ()) -> Counter:
    """`hookgate_oauth_refresh_failures_total` on `registry`: one counter, whoever counts
    first (the Google sync, the connections' token keepers); `providers`' children are
    made at once, so each shows 0 before its first failure."""
    found = _REFRESH_FAILURES.get(registry)
    if found is None:
        found = Counter(
            "hookgate_oauth_refresh_failures_total",
            "OAuth access-token refreshes that failed, by provider and reason.",
            ["provider", "reason"],
            registry=registry,
        )
        _REFRESH_FAILURES[registry] = found
    for provider in providers:
        for reason in OAUTH_REASONS:
            found.labels(provider, reason)
    return found


def refresh_failure_counter(registry: CollectorRegistry, provider: str) -> Callable[[str], None]:
    """Counts one of `provider`'s refresh failures by reason (bounded); `provider` is one
    of the registry's, named by the caller."""
    counter = oauth_refresh_failures(registry, (provider,))

    def count(reason: str) -> None:
        counter.labels(provider, _bounded(reason, OAUTH_REASONS)).inc()

    return count


class ConsumerMetrics:
    """Every consumer-side metric; also the `consumers.apply.ApplyMetrics` of an `Applier`."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        event_types: Collection[str] = (),
        providers: Collection[str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`providers`: the label values of the per-provider metrics (any other provider
        counts as `other`); by default those of `event_types`, which are
        `{provider}.{resource}.{action}`."""
        self.registry = registry
        self.event_types = frozenset(event_types)
        if providers is None:
            providers = {event_type.split(".", 1)[0] for event_type in self.event_types}
        self.providers = tuple(sorted(providers))
        self._clock = clock
        self.lag = Gauge(
            "hookgate_consumer_lag_events",
            "Events on a partition the consumer group has not committed yet.",
            ["topic", "partition"],
            registry=registry,
        )
        self.events_applied = Counter(
            "hookgate_events_applied_total",
            "Events in batches the store committed, by type (a redelivered duplicate counts "
            "again; hookgate_events_duplicate_total says how many were).",
            ["type"],
            registry=registry,
        )
        self.events_failed = Counter(
            "hookgate_events_failed_total",
            "Events in apply attempts that failed, by type (each retry counts).",
            ["type"],
            registry=registry,
        )
        self.events_duplicate = Counter(
            "hookgate_events_duplicate_total",
            "Events skipped because the ledger had them (redeliveries).",
            registry=registry,
        )
        self.events_unhandled = Counter(
            "hookgate_events_unhandled_total",
            "New events no handler takes, by type (recorded in the ledger, otherwise skipped).",
            ["type"],
            registry=registry,
        )
        self.apply_duration = Histogram(
            "hookgate_apply_duration_seconds",
            "Time to apply one batch to the store, commit included.",
            buckets=APPLY_BUCKETS,
            registry=registry,
        )
        self.freshness = _FreshnessTally(FRESHNESS_BUCKETS)
        registry.register(self.freshness)
        self.dlq_sent = Counter(
            "hookgate_dlq_sent_total",
            "Events sent to the dead-letter topic after their retries ran out.",
            registry=registry,
        )
        self.dlq_depth = Gauge(
            "hookgate_dlq_events",
            "Dead letters not replayed yet: on the dead-letter topic past the replay group's"
            " position (Kafka mode), or in the store's dead_letters table (embedded default).",
            registry=registry,
        )
        self.retries = Counter(
            "hookgate_consumer_retries_total",
            "Apply attempts retried after an error (transient or not).",
            registry=registry,
        )
        self.commit_failures = Counter(
            "hookgate_consumer_commit_failures_total",
            "Offset commits refused after a rebalance (the new owner re-delivers).",
            registry=registry,
        )
        self.sources = Gauge(
            "hookgate_sources",
            "Sources by provider and status (active, error, disconnected).",
            ["provider", "status"],
            registry=registry,
        )
        self.google_channels = Gauge(
            "hookgate_google_channels",
            "Google push channels by state (active, stopped).",
            ["state"],
            registry=registry,
        )
        self.google_calendars = Gauge(
            "hookgate_google_calendars",
            "Synced Google calendars by sync status (idle, ok, error).",
            ["status"],
            registry=registry,
        )
        self.google_syncs = Counter(
            "hookgate_google_syncs_total",
            "Completed Google calendar sync runs, by trigger (notification, periodic).",
            ["trigger"],
            registry=registry,
        )
        self.google_sync_changes = Counter(
            "hookgate_google_sync_changes_total",
            "Events Google sync runs found changed or removed, by trigger and origin "
            "(remote: made at Google; self: hookgate's own writes come back); a periodic "
            "run's remote changes are ones no notification announced.",
            ["trigger", "origin"],
            registry=registry,
        )
        self.google_writes = Counter(
            "hookgate_google_writes_total",
            "Attempts of the Google write outbox, by op (insert, patch, delete) and outcome "
            "(done, conflict, failed; retried: Google unavailable, tried again later).",
            ["op", "outcome"],
            registry=registry,
        )
        self.google_write_conflicts = Counter(
            "hookgate_google_write_conflicts_total",
            "Google writes that met a newer version at Google (412), by conflict policy.",
            ["policy"],
            registry=registry,
        )
        self.oauth_refresh_failures = oauth_refresh_failures(registry, self.providers)
        self.source_errors = Counter(
            "hookgate_source_errors_total",
            "Errors talking to a provider's API on a source's behalf, by provider and reason.",
            ["provider", "reason"],
            registry=registry,
        )
        self.poll_errors = Counter(
            "hookgate_consumer_poll_errors_total",
            "Background consumer-metric refreshes that failed (the values shown are stale).",
            ["poller"],
            registry=registry,
        )
        self.next_expiry = _NextExpiry()
        self.next_expiry.clock = clock
        registry.register(self.next_expiry)
        for poller in ("kafka", "store", "runner", "dead_letters"):
            self.poll_errors.labels(poller)
        for op in WRITE_OPS:
            for outcome in OUTCOMES:
                self.google_writes.labels(op, outcome)
        for policy in CONFLICT_POLICIES:
            self.google_write_conflicts.labels(policy)
        for trigger in TRIGGERS:
            self.google_syncs.labels(trigger)
            for origin in ORIGINS:
                self.google_sync_changes.labels(trigger, origin)

    def type_label(self, event_type: str) -> str:
        return _bounded(event_type, self.event_types)

    # ApplyMetrics ------------------------------------------------------------------

    def observe(self, result: ApplyResult, seconds: float) -> None:
        self.apply_duration.observe(seconds)
        if result.duplicates:
            self.events_duplicate.inc(result.duplicates)
        for event_type, count in result.unhandled_types.items():
            self.events_unhandled.labels(self.type_label(event_type)).inc(count)

    def instrument(self, apply: Apply[T]) -> Apply[T]:
        """Wrap the runner's apply: count by type, and freshness once the store committed.

        Per batch, not per event: the types are tallied as they come and bounded once
        each, and the freshness goes to `_FreshnessTally` a provider at a time.
        """

        async def instrumented(events: Sequence[CloudEvent]) -> T:
            types = self._type_counts(events)
            try:
                result = await apply(events)
            except Exception:
                for event_type, count in types.items():
                    self.events_failed.labels(event_type).inc(count)
                raise
            for event_type, count in types.items():
                self.events_applied.labels(event_type).inc(count)
            self._observe_freshness(events)
            return result

        return instrumented

    def _type_counts(self, events: Sequence[CloudEvent]) -> Tally[str]:
        bounded: Tally[str] = Tally()
        for event_type, count in Tally(event.type for event in events).items():
            bounded[self.type_label(event_type)] += count
        return bounded

    def _observe_freshness(self, events: Sequence[CloudEvent]) -> None:
        now = self._clock()
        by_provider: dict[str, list[float]] = {}
        for event in events:
            ages = by_provider.get(event.provider)
            if ages is None:
                ages = by_provider[event.provider] = []
            ages.append((now - event.time).total_seconds())
        for provider, ages in by_provider.items():
            self.freshness.add(_bounded(provider, self.providers), ages)

    # calls from the provider code ----------------------------------------------------

    def watch_google(self, google: GoogleSync) -> None:
        """Count `google`'s token-refresh failures, sync runs and writes."""
        google.refresh_failure_listeners.append(partial(self.oauth_refresh_failed, "google"))
        google.run_listeners.append(self.google_sync_ran)
        google.writer.listeners.outcome.append(self.google_write_ended)
        google.writer.listeners.conflict.append(self.google_write_conflicted)

    def google_write_ended(self, op: str, outcome: str) -> None:
        self.google_writes.labels(_bounded(op, WRITE_OPS), _bounded(outcome, OUTCOMES)).inc()

    def google_write_conflicted(self, policy: str) -> None:
        self.google_write_conflicts.labels(_bounded(policy, CONFLICT_POLICIES)).inc()

    def google_sync_ran(self, trigger: str, result: SyncResult) -> None:
        label = _bounded(trigger, TRIGGERS)
        self.google_syncs.labels(label).inc()
        self.google_sync_changes.labels(label, "remote").inc(result.changed + result.removed)
        self.google_sync_changes.labels(label, "self").inc(result.own)

    def oauth_refresh_failed(self, provider: str, reason: str) -> None:
        self.oauth_refresh_failures.labels(
            _bounded(provider, self.providers), _bounded(reason, OAUTH_REASONS)
        ).inc()

    def source_error(self, provider: str, reason: str) -> None:
        """`reason` must be a code from a fixed set (e.g. `unavailable`, `rejected`)."""
        self.source_errors.labels(_bounded(provider, self.providers), reason).inc()


class _GaugeRows:
    """Sets a labelled gauge from query rows; label sets seen before and now gone go to 0."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._seen: set[tuple[str, ...]] = set()

    def set(self, rows: Iterable[tuple[tuple[str, ...], float]]) -> None:
        current = dict(rows)
        for labels in self._seen - current.keys():
            self._gauge.labels(*labels).set(0)
        for labels, value in current.items():
            self._gauge.labels(*labels).set(value)
        self._seen |= current.keys()


class StoreStatePoller:
    """Sources by status, Google channels by state, the next channel expiry, calendars."""

    def __init__(self, engine: AsyncEngine, metrics: ConsumerMetrics) -> None:
        self._engine = engine
        self._metrics = metrics
        self._sources = _GaugeRows(metrics.sources)
        self._channels = _GaugeRows(metrics.google_channels)
        self._calendars = _GaugeRows(metrics.google_calendars)

    async def poll(self) -> None:
        async with self._engine.connect() as connection:
            by_status = await connection.execute(
                select(sources.c.provider, sources.c.status, func.count()).group_by(
                    sources.c.provider, sources.c.status
                )
            )
            providers = self._metrics.providers
            source_rows = [((_bounded(p, providers), s), float(n)) for p, s, n in by_status]
            channel_rows = await connection.execute(
                select(google_channels.c.state, func.count()).group_by(google_channels.c.state)
            )
            channels = [((state,), float(n)) for state, n in channel_rows]
            soonest = await connection.scalar(
                select(func.min(google_channels.c.expires_at)).where(
                    google_channels.c.state == CHANNEL_ACTIVE
                )
            )
            calendar_rows = await connection.execute(
                select(google_sync_state.c.status, func.count()).group_by(
                    google_sync_state.c.status
                )
            )
            calendars = [((status,), float(n)) for status, n in calendar_rows]
        self._sources.set(_summed(source_rows))
        self._channels.set(channels)
        self._calendars.set(calendars)
        self._metrics.next_expiry.expires_at = _aware(soonest)


def _summed(rows: Iterable[tuple[tuple[str, ...], float]]) -> list[tuple[tuple[str, ...], float]]:
    """Rows whose labels collapsed (to `other`) are added together."""
    total: dict[tuple[str, ...], float] = {}
    for labels, value in rows:
        total[labels] = total.get(labels, 0.0) + value
    return list(total.items())


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back text for min() of a datetime column
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LagConfig:
    bootstrap_servers: str
    group_id: str
    topics: tuple[str, ...]
    dlq_topic: str
    replay_group_id: str
    client_id: str = "hookgate-metrics"


class KafkaLagPoller:
    """Consumer lag and DLQ size, from the brokers: end offsets against committed offsets.

    Its own clients (an admin client and a group-less consumer), so the numbers keep
    coming while the worker is stuck. Use as `async with KafkaLagPoller(...) as poller:`.
    """

    def __init__(self, config: LagConfig, metrics: ConsumerMetrics) -> None:
        self._config = config
        self._metrics = metrics
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=config.bootstrap_servers, client_id=config.client_id
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=config.bootstrap_servers,
            client_id=config.client_id,
            group_id=None,
            enable_auto_commit=False,
        )

    async def __aenter__(self) -> KafkaLagPoller:
        await self._admin.start()
        try:
            await self._consumer.start()
        except BaseException:
            await self._admin.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def poll(self) -> None:
        cfg = self._config
        await self._consumer.topics()  # refresh the metadata: partitions may have been added
        lag = await self._unconsumed(cfg.group_id, cfg.topics)
        for tp, value in lag.items():
            self._metrics.lag.labels(tp.topic, str(tp.partition)).set(value)
        dlq = await self._unconsumed(cfg.replay_group_id, (cfg.dlq_topic,))
        self._metrics.dlq_depth.set(sum(dlq.values()))

    async def _unconsumed(self, group: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(self._consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return {}
        ends = await self._consumer.end_offsets(partitions)
        starts = await self._consumer.beginning_offsets(partitions)
        committed = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
        result = {}
        for tp in partitions:
            position = committed.get(tp)
            offset = position.offset if position is not None and position.offset >= 0 else -1
            result[tp] = max(0, ends[tp] - max(offset, starts[tp]))
        return result


class DeadLetterStore(Protocol):
    """The embedded default's dead letters (`consumers.dead_letter_table.DeadLetterTable`)."""

    async def park(self, letters: Sequence[DeadLetter]) -> None: ...

    async def pending(self) -> int: ...


@dataclass
class CountedDeadLetters:
    """`hookgate_dlq_events` on the embedded default: the dead letters not replayed yet,
    polled, and refreshed at once when the runner parks some (in Kafka mode
    `KafkaLagPoller` sets it from the DLQ topic), so one alert serves both modes."""

    table: DeadLetterStore
    metrics: ConsumerMetrics

    async def park(self, letters: Sequence[DeadLetter]) -> None:
        await self.table.park(letters)
        self.metrics.dlq_sent.inc(len(letters))
        try:
            await self.poll()
        except Exception:
            log.warning("counting the dead letters failed; the next poll will", exc_info=True)

    async def poll(self) -> None:
        self.metrics.dlq_depth.set(await self.table.pending())


class RunnerStats(Protocol):
    """What the poller reads of `consumers.kafka_runner.KafkaRunnerStats`."""

    @property
    def dead_letters(self) -> int: ...
    @property
    def retries(self) -> int: ...
    @property
    def commit_failures(self) -> int: ...


@dataclass
class RunnerStatsPoller:
    """Advances the counters to the runner's in-process totals (which only grow)."""

    stats: RunnerStats
    metrics: ConsumerMetrics
    _last: dict[str, int] = field(default_factory=dict)

    async def poll(self) -> None:
        for name, counter in (
            ("dead_letters", self.metrics.dlq_sent),
            ("retries", self.metrics.retries),
            ("commit_failures", self.metrics.commit_failures),
        ):
            total = int(getattr(self.stats, name))
            delta = total - self._last.get(name, 0)
            if delta > 0:
                counter.inc(delta)
            self._last[name] = max(total, self._last.get(name, 0))


class Poller(Protocol):
    async def poll(self) -> None: ...


async def _every(
    name: str, poller: Poller, metrics: ConsumerMetrics, interval_seconds: float
) -> None:
    while True:
        try:
            await poller.poll()
        except Exception:
            metrics.poll_errors.labels(name).inc()
            log.warning("refreshing the %s metrics failed; retrying", name, exc_info=True)
        await asyncio.sleep(interval_seconds)


@contextlib.asynccontextmanager
async def polling(
    metrics: ConsumerMetrics,
    *,
    engine: AsyncEngine | None = None,
    lag: LagConfig | None = None,
    runner_stats: RunnerStats | None = None,
    dead_letters: CountedDeadLetters | None = None,
    interval_seconds: float = POLL_INTERVAL_SECONDS,
) -> AsyncIterator[None]:
    """Run the pollers that apply, each in its own task, for the duration of the block."""
    async with contextlib.AsyncExitStack() as stack:
        pollers: list[tuple[str, Poller]] = []
        if lag is not None:
            pollers.append(("kafka", await stack.enter_async_context(KafkaLagPoller(lag, metrics))))
        if engine is not None:
            pollers.append(("store", StoreStatePoller(engine, metrics)))
        if runner_stats is not None:
            pollers.append(("runner", RunnerStatsPoller(runner_stats, metrics)))
        if dead_letters is not None:
            pollers.append(("dead_letters", dead_letters))
        tasks = [
            asyncio.create_task(
                _every(name, poller, metrics, interval_seconds), name=f"hookgate-metrics-{name}"
            )
            for name, poller in pollers
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
