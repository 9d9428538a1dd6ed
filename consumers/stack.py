"""The consumer side, assembled one way: `ConsumerStack`.

Every handler the store has (Google's sync included), the applier, its metrics, and
the periodic upkeep. Embedded `serve`, `hookgate consume`, `hookgate replay` and the
tests all apply through one; they differ only in what feeds it (the spool, Kafka, the
dead letters) and in where the Google sync comes from: `serve` shares its own with
the Google channels it keeps open (`ConsumerStack.build`), the commands open one for
the stack (`open_stack`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier, ApplyResult
from consumers.deliveries import LastDeliveries
from consumers.google.credentials import CredentialStore
from consumers.google.handler import CALENDAR_CHANGED
from consumers.google.scheduler import DEFAULT_MAX_RUNNING
from consumers.google.sync import PublishChanges
from consumers.google.wiring import GoogleSync, build_google_sync
from consumers.google.writer import ConflictPolicy
from consumers.metrics import ConsumerMetrics
from consumers.providers import build_registry
from consumers.registry import HandlerRegistry
from consumers.retention import audit_pruner
from consumers.upkeep import upkeep_forever
from schemas import CloudEvent

Apply = Callable[[Sequence[CloudEvent]], Awaitable[ApplyResult]]


@dataclass(frozen=True)
class StackSettings:
    """What the consumer side is configured with (the runtime reads it from `Settings`)."""

    google_api_base: str
    google_token_url: str
    google_sync_concurrency: int = DEFAULT_MAX_RUNNING
    google_resync_seconds: float = 3600.0
    """Sync a watched calendar not synced for this long; 0: never (lost notifications)."""
    google_page_size: int = 250
    audit_retention_days: int = 90
    """How long the gateway's `audit_log` entries are kept."""
    google_conflict_policy: ConflictPolicy = "remote_wins"
    """What a write that meets a newer version at Google (412) does."""
    google_write_poll_seconds: float = 1.0
    """How often the write outbox is looked at for due writes."""
    http_timeout_seconds: float = 30.0


def handled_event_types() -> frozenset[str]:
    """Every event type the consumers apply: the handlers' registry and Google's (whose
    handler needs its clients, so it is named rather than built)."""
    return build_registry().event_types | {CALENDAR_CHANGED}


@dataclass(frozen=True)
class ConsumerStack:
    engine: AsyncEngine
    registry: HandlerRegistry
    applier: Applier
    metrics: ConsumerMetrics
    google: GoogleSync
    settings: StackSettings

    @classmethod
    def build(
        cls,
        engine: AsyncEngine,
        google: GoogleSync,
        settings: StackSettings,
        *,
        metrics_registry: CollectorRegistry | None = None,
    ) -> ConsumerStack:
        """The stack over `google` (owned by the caller); metrics on `metrics_registry`."""
        registry = build_registry()
        google.register(registry)
        metrics = ConsumerMetrics(
            metrics_registry or CollectorRegistry(), event_types=registry.event_types
        )
        metrics.watch_google(google)
        applier = Applier(engine, registry, metrics=metrics, deliveries=LastDeliveries(engine))
        return cls(engine, registry, applier, metrics, google, settings)

    @property
    def apply(self) -> Apply:
        """The applier's `apply`, counted in the metrics."""
        return self.metrics.instrument(self.applier.apply)

    async def start(self) -> None:
        """Resume the Google syncs a stopped process still owed."""
        await self.google.start()

    def upkeep(self) -> Coroutine[Any, Any, None]:
        """Ledger and audit log pruning, the periodic Google sync, the Google write outbox,
        the bookings' sweep and the sources' last deliveries, until cancelled."""
        return upkeep_forever(
            self.applier,
            self.google,
            google_resync_seconds=self.settings.google_resync_seconds,
            prune_audit=audit_pruner(self.engine),
            audit_retention=timedelta(days=self.settings.audit_retention_days),
            google_write_poll_seconds=self.settings.google_write_poll_seconds,
        )


@contextlib.asynccontextmanager
async def open_stack(
    engine: AsyncEngine,
    credentials: CredentialStore,
    settings: StackSettings,
    *,
    metrics_registry: CollectorRegistry | None = None,
    publish_changes: PublishChanges | None = None,
) -> AsyncIterator[ConsumerStack]:
    """A stack with a Google sync of its own (its HTTP client and scheduler closed at exit);
    remote appointment changes go to `publish_changes` (None: nowhere)."""
    async with httpx.AsyncClient(timeout=settings.http_timeout_seconds) as http:
        google = google_sync(engine, credentials, http, settings, publish_changes)
        try:
            yield ConsumerStack.build(engine, google, settings, metrics_registry=metrics_registry)
        finally:
            await google.aclose()


def google_sync(
    engine: AsyncEngine,
    credentials: CredentialStore,
    http: httpx.AsyncClient,
    settings: StackSettings,
    publish_changes: PublishChanges | None = None,
) -> GoogleSync:
    """The Google sync a stack runs, configured from `settings` (`http` is the caller's)."""
    return build_google_sync(
        engine,
        credentials,
        http,
        api_base=settings.google_api_base,
        token_url=settings.google_token_url,
        page_size=settings.google_page_size,
        max_running_syncs=settings.google_sync_concurrency,
        conflict_policy=settings.google_conflict_policy,
        publish_changes=publish_changes,
    )
