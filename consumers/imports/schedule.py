"""Reconciliation on a schedule: every importable source synced again, now and then.

Webhooks get lost (Calendly disables a subscription after 24 h of failures, GHL
retries only 429s, PCO gives up after ~5 days), so every active source with
credentials is synced incrementally every `incremental_seconds` and in full every
`full_seconds` (a full sync is what finds deletions). Every serving process runs the
schedule; the store's one-running-sync-per-source rule makes the first process to
ask the only one that starts a sync, and the runners' lease the only one running it.
A source never synced is left alone: its first import is started when it is
connected (or by hand), not by the schedule.

A reconciliation started for a PCO or Calendly source whose webhooks hookgate
provisioned also checks its subscriptions (`WebhookRepair`, composed in
`gateway.runtime`): one the provider lost or disabled is provisioned again, so the
reconciliations do not have to carry every change from then on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.imports.jobs import SyncJobs
from schemas.sync_store import syncs
from schemas.tables import SOURCE_ACTIVE, WEBHOOKS_PROVISIONED, sources

log = logging.getLogger("hookgate.imports")
MAX_CHECK_SECONDS = 60.0

WebhookRepair = Callable[[str], Awaitable[bool]]
"""Given a source id: provision its webhooks again if the provider lost or disabled one;
whether it did."""


class ReconcileSchedule:
    def __init__(
        self,
        engine: AsyncEngine,
        jobs: SyncJobs,
        providers: Collection[str],
        *,
        incremental_seconds: float,
        full_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        started: Callable[[], None] = lambda: None,
        repair_webhooks: WebhookRepair | None = None,
        repaired: Callable[[str], None] = lambda provider: None,
    ) -> None:
        """`repair_webhooks`: checks a source's subscriptions when its reconciliation
        starts; `repaired(provider)` is told each time it provisioned them again."""
        self._engine = engine
        self._jobs = jobs
        self._providers = tuple(providers)
        self._incremental = incremental_seconds
        self._full = full_seconds
        self._clock = clock
        self._started = started
        self._repair = repair_webhooks
        self._repaired = repaired

    @property
    def enabled(self) -> bool:
        return self._incremental > 0 or self._full > 0

    @property
    def check_seconds(self) -> float:
        intervals = [s for s in (self._incremental, self._full) if s > 0]
        return min(MAX_CHECK_SECONDS, max(0.2, min(intervals, default=60.0) / 4))

    async def run_forever(self) -> None:
        while self.enabled:
            try:
                await self.start_due()
            except Exception:
                log.exception("scheduling reconciliations failed; retrying later")
            await asyncio.sleep(self.check_seconds)

    async def start_due(self) -> int:
        """Start the syncs that are due; how many."""
        now = self._clock()
        started = 0
        for source_id, provider, tenant, webhooks, last_any, last_full in await self._candidates():
            if last_any is None:
                continue  # never imported: its first import is the connection's to start
            mode = None
            if self._full > 0 and _older(last_full or last_any, now, self._full):
                mode = "full"
            elif self._incremental > 0 and _older(last_any, now, self._incremental):
                mode = "incremental"
            if mode is None:
                continue
            job = await self._jobs.create(
                source_id=source_id, provider=provider, tenant=tenant, mode=mode, now=now
            )
            started += job is not None
            if job is not None and webhooks == WEBHOOKS_PROVISIONED:
                await self._repair_webhooks(source_id, provider)
        if started:
            self._started()
        return started

    async def _repair_webhooks(self, source_id: str, provider: str) -> None:
        if self._repair is None:
            return
        try:
            repaired = await self._repair(source_id)
        except Exception:
            log.exception("checking the webhooks of source %s failed", source_id)
            return
        if repaired:
            log.warning(
                "webhooks of source %s were lost or disabled at %s; provisioned again",
                source_id,
                provider,
            )
            self._repaired(provider)

    async def _candidates(
        self,
    ) -> list[tuple[str, str, str, str, datetime | None, datetime | None]]:
        last_any = (
            select(func.max(syncs.c.started_at))
            .where(syncs.c.source_id == sources.c.id)
            .scalar_subquery()
        )
        last_full = (
            select(func.max(syncs.c.started_at))
            .where(and_(syncs.c.source_id == sources.c.id, syncs.c.mode == "full"))
            .scalar_subquery()
        )
        query = select(
            sources.c.id,
            sources.c.provider,
            sources.c.tenant,
            sources.c.webhooks,
            last_any,
            last_full,
        ).where(
            and_(
                sources.c.status == SOURCE_ACTIVE,
                sources.c.credentials_ciphertext.is_not(None),
                sources.c.provider.in_(self._providers),
            )
        )
        async with self._engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(query)]


def _older(last: datetime | None, now: datetime, seconds: float) -> bool:
    if last is None:
        return True
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return now - last >= timedelta(seconds=seconds)
