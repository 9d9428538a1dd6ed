"""Imports composed into the serving process: the sync routes and the sync runner.

The runner publishes through the gateway's own publisher (`context.publisher`) onto
the providers' topics, so an import's events reach the same consumers as webhooks
(in this process on the embedded default, `hookgate consume` with Kafka). A source's
provider is called with its stored credentials: token credentials as they are, OAuth
through a `TokenKeeper` (refresh ahead of expiry and once on a 401).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx
from starlette.routing import BaseRoute

from consumers.imports.jobs import SyncJobs
from consumers.imports.metrics import ImportMetrics
from consumers.imports.paced import PacedApi
from consumers.imports.runner import SyncRunner
from consumers.imports.schedule import ReconcileSchedule
from consumers.oauth.api import OAuthBearer
from consumers.providers import CONSUMER_PROVIDERS, IMPORTERS
from gateway.admin.syncs import SyncRoutes
from gateway.app import GatewayContext
from gateway.runtime.connect import HTTP_TIMEOUT_SECONDS, token_keeper
from gateway.runtime.credentials import RepositoryTokenStore
from gateway.runtime.webhook_repair import WebhookRepair
from gateway.store.sources import SourceRecord
from gateway.tasks import running
from schemas import BusRecord, CloudEvent


class SourceApis:
    """`SourceAccess` over the sources table: a paced API per source, on one client."""

    def __init__(self, context: GatewayContext, http: httpx.AsyncClient) -> None:
        self._context = context
        self._http = http
        self._store = RepositoryTokenStore(context.sources)

    async def open(self, source_id: str) -> tuple[PacedApi, Mapping[str, Any]] | None:
        source = await self._context.sources.get(source_id)
        if source is None or source.provider not in IMPORTERS or not source.has_credentials:
            return None
        facts = CONSUMER_PROVIDERS[source.provider].connect
        settings = self._context.settings
        credentials = await self._store.read(source_id)
        auth = facts.token_auth(credentials)
        if auth is None:
            auth = OAuthBearer(
                token_keeper(facts, self._context, self._http, self._store), source_id
            )
        api = PacedApi(
            self._http,
            getattr(settings, f"{facts.name}_api_base"),
            auth,
            name=facts.name,
            headers=facts.api_headers,
        )
        account = dict(source.account or {})
        account.update({k: v for k, v in credentials.items() if k in ACCOUNT_FIELDS})
        return api, account


ACCOUNT_FIELDS = ("location_id", "organization", "owner")
"""Credentials that name the account (GHL's location, Calendly's organization), which
the importers need where the source's `account` is not known yet."""


class Imports:
    """One app's sync routes and runner, made on first use and shared."""

    def __init__(self) -> None:
        self._runner: SyncRunner | None = None
        self._jobs: SyncJobs | None = None
        self._metrics: ImportMetrics | None = None
        self._access = _LazyAccess()

    def _made(self, context: GatewayContext) -> tuple[SyncJobs, SyncRunner]:
        if self._jobs is None or self._runner is None:
            self._jobs = SyncJobs(context.engine, lease_seconds=context.settings.sync_lease_seconds)
            self._metrics = ImportMetrics(context.metrics.registry, IMPORTERS)
            self._runner = SyncRunner(
                context.engine,
                self._jobs,
                IMPORTERS,
                self._access,
                publisher_of(context),
                clock=context.clock,
                metrics=self._metrics,
            )
        return self._jobs, self._runner

    def on_connected(self, context: GatewayContext) -> Callable[[SourceRecord], Awaitable[None]]:
        """The initial import of a source just connected (a full sync, started now)."""
        jobs, runner = self._made(context)

        async def start_import(source: SourceRecord) -> None:
            if source.provider not in IMPORTERS or not source.has_credentials:
                return
            started = await jobs.create(
                source_id=source.id,
                provider=source.provider,
                tenant=source.tenant,
                mode="full",
                now=context.clock(),
            )
            if started is not None:
                runner.wake()

        return start_import

    def admin_routes(self, context: GatewayContext) -> Sequence[BaseRoute]:
        jobs, runner = self._made(context)
        return SyncRoutes(
            jobs,
            context.sources,
            importable=frozenset(IMPORTERS),
            clock=context.clock,
            started=runner.wake,
        ).routes()

    @contextlib.asynccontextmanager
    async def running(self, context: GatewayContext) -> AsyncIterator[None]:
        """Run sync jobs, and start the scheduled reconciliations, while the app runs."""
        jobs, runner = self._made(context)
        settings = context.settings
        schedule = ReconcileSchedule(
            context.engine,
            jobs,
            IMPORTERS,
            incremental_seconds=settings.reconcile_seconds,
            full_seconds=settings.full_reconcile_seconds,
            clock=context.clock,
            started=runner.wake,
            repair_webhooks=WebhookRepair(context),
            repaired=self._reprovisioned,
        )
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
            self._access.apis = SourceApis(context, http)
            async with (
                running(runner.run_forever(), name="hookgate-sync-runner"),
                running(schedule.run_forever(), name="hookgate-reconcile-schedule"),
            ):
                yield

    def _reprovisioned(self, provider: str) -> None:
        if self._metrics is not None:
            self._metrics.webhooks_reprovisioned(provider)


class _LazyAccess:
    """The runner's `SourceAccess`, given its HTTP client once the app runs."""

    apis: SourceApis | None = None

    async def open(self, source_id: str) -> tuple[PacedApi, Mapping[str, Any]] | None:
        if self.apis is None:
            return None
        return await self.apis.open(source_id)


def publisher_of(context: GatewayContext) -> Any:
    """Publish sync events as the webhook endpoint does: each on its provider's topic."""

    async def publish(events: Sequence[CloudEvent]) -> None:
        topic = context.settings.topic
        await context.publisher.publish(
            [BusRecord.from_event(event, topic(event.provider)) for event in events]
        )

    return publish
