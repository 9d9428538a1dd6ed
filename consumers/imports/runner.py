"""The sync runner: claims sync jobs, sweeps the provider page by page, reconciles.

A job goes through three phases, each resumable from the store:

1. `fetch`: one page at a time from the importer, published as `….synced` events
   and then committed (cursor, processed, published) with the lease renewed. A
   process killed between publishing a page and committing it reads that page
   again; its events have the same ids, so the applier's ledger takes them once.
2. `settle`: wait until the applier has taken every published event
   (`items_applied` reaches `items_published`), so the counts are final and
   `sync_seen` holds every record the sweep saw.
3. `reconcile` (a full sync only): the tenant's live rows the sweep did not see and
   that no change has touched since the sync began (their version is older than its
   start) are published as `….deleted` (`ce_reason=reconciled`), then settled too.

A sync asked to cancel stops at its next page, and one that fails (the provider
refuses, a wait runs out) finishes `failed`: neither reconciles, so neither deletes.

An incremental sync asks for what changed since the last completed sync began, on the
provider's clock (the `Date` of its first answer, kept in the cursor), less an overlap:
our clock may be minutes off the provider's, and a record the sweep passed early can
change while it runs, before later records it saw; re-reading a record is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.imports.importer import Importer, SyncScope
from consumers.imports.jobs import SyncJob, SyncJobs
from consumers.imports.metrics import ImportMetrics
from consumers.imports.paced import ApiError, PacedApi
from consumers.versions import parse_time, row_version
from schemas import CloudEvent
from schemas.sync_store import (
    SYNC_CANCELED,
    SYNC_COMPLETED,
    SYNC_FAILED,
    sync_seen,
    syncs,
)

log = logging.getLogger("hookgate.imports")

WATERMARK = "watermark"
PROVIDER_BEGAN = "provider_began"
"""Cursor key: the provider's clock (`Date`) when the sweep's first page was answered."""
INCREMENTAL_OVERLAP = timedelta(minutes=1)
Publish = Callable[[Sequence[CloudEvent]], Awaitable[None]]
DELETE_BATCH = 500


class SourceAccess(Protocol):
    """How the runner calls a source's provider."""

    async def open(self, source_id: str) -> tuple[PacedApi, Mapping[str, Any]] | None:
        """A paced API with the source's credentials, and its account; None: no such
        source, or it cannot be called (no credentials)."""
        ...


@dataclass(frozen=True)
class RunnerSettings:
    poll_seconds: float = 1.0
    settle_poll_seconds: float = 0.1
    settle_timeout_seconds: float = 600.0


class LeaseLost(Exception):
    """Another process holds the job now (this one was too slow to renew its lease)."""


class SyncFailed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class SyncRunner:
    """Runs the store's sync jobs, one at a time, in this process."""

    def __init__(
        self,
        engine: AsyncEngine,
        jobs: SyncJobs,
        importers: Mapping[str, Importer],
        access: SourceAccess,
        publish: Publish,
        *,
        settings: RunnerSettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: ImportMetrics | None = None,
    ) -> None:
        self._engine = engine
        self._jobs = jobs
        self._importers = importers
        self.access = access
        self._publish = publish
        self._settings = settings or RunnerSettings()
        self._clock = clock
        self._metrics = metrics
        self.owner = "runner_" + secrets.token_hex(8)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A job was created: look for it now rather than at the next poll."""
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            try:
                job = await self._jobs.claim(self.owner, self._clock())
            except Exception:
                log.exception("claiming a sync failed; retrying later")
                job = None
            if job is not None:
                try:
                    await self.run(job)
                except Exception:  # the store refused the ending: the lease expires, it resumes
                    log.exception("sync %s could not be finished; it resumes later", job.id)
                    await asyncio.sleep(self._settings.poll_seconds)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)

    async def run(self, job: SyncJob) -> None:
        """Run a claimed job to its end (or until this task is cancelled: the lease is
        then given back, and the next process to look resumes it)."""
        try:
            status, error = await self._sweep(job)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._jobs.release(job, self.owner))
            raise
        except LeaseLost:
            log.warning("sync %s: the lease passed to another process", job.id)
            return
        except SyncFailed as exc:
            status, error = SYNC_FAILED, exc.detail
        except Exception as exc:
            log.exception("sync %s failed", job.id)
            status, error = (
                SYNC_FAILED,
                f"The sync stopped on an internal error ({type(exc).__name__}).",
            )
        if not await self._jobs.finish(job, self.owner, self._clock(), status, error):
            return
        ended = await self._jobs.get(job.id)
        if self._metrics is not None and ended is not None:
            self._metrics.finished(ended, reconciliation=await self._imported_before(job))

    async def _imported_before(self, job: SyncJob) -> bool:
        """Whether a sync of the source completed before this one began."""
        query = select(syncs.c.id).where(
            and_(
                syncs.c.source_id == job.source_id,
                syncs.c.status == SYNC_COMPLETED,
                syncs.c.started_at < job.started_at,
            )
        )
        async with self._engine.connect() as connection:
            return (await connection.execute(query.limit(1))).first() is not None

    async def _sweep(self, job: SyncJob) -> tuple[str, str | None]:
        importer = self._importers.get(job.provider)
        if importer is None:
            raise SyncFailed(f"{job.provider} sources have no import.")
        opened = await self.access.open(job.source_id)
        if opened is None:
            raise SyncFailed("The source has no credentials to import with.")
        api, account = opened
        since = await self._since(job)
        phase = job.phase
        if phase == "fetch":
            cursor = job.cursor
            watermark = parse_time((cursor or {}).get(WATERMARK))
            began = (cursor or {}).get(PROVIDER_BEGAN)
            while True:
                current = await self._jobs.get(job.id)
                if current is None or current.cancel_requested:
                    return SYNC_CANCELED, None
                scope = SyncScope(job=job, account=account, since=since, now=self._clock())
                try:
                    page = await importer.page(api, scope, cursor)
                except ApiError as exc:
                    raise SyncFailed(f"{exc.detail} ({exc.code})") from None
                if began is None and api.provider_time is not None:
                    began = api.provider_time.isoformat()
                if page.events:
                    await self._publish(page.events)
                done = page.cursor is None
                if page.watermark is not None:
                    watermark = max(watermark or page.watermark, page.watermark)
                cursor = page.cursor
                saved = dict(cursor or {})
                if watermark is not None:
                    saved[WATERMARK] = watermark.isoformat()
                if began is not None:
                    saved[PROVIDER_BEGAN] = began
                if not await self._jobs.save(
                    job,
                    self.owner,
                    self._clock(),
                    cursor=saved,
                    processed=page.processed,
                    published=len(page.events),
                    phase="settle" if done else None,
                ):
                    raise LeaseLost
                if done:
                    break
            phase = "settle"
        await self._settle(job)
        if job.full and importer.deletions is not None:
            if phase == "settle":
                deleted = await self._reconcile(job, importer, account)
                await self._jobs.save(
                    job, self.owner, self._clock(), published=deleted, phase="reconcile"
                )
            await self._settle(job)
        return SYNC_COMPLETED, None

    async def _since(self, job: SyncJob) -> datetime | None:
        """Incremental: when the source's last completed sync began on the provider's
        clock (else the newest update time it saw, else its start on ours), less
        `INCREMENTAL_OVERLAP`; None (sweep all) without one."""
        if job.full:
            return None
        query = (
            select(syncs.c.started_at, syncs.c.cursor)
            .where(and_(syncs.c.source_id == job.source_id, syncs.c.status == SYNC_COMPLETED))
            .order_by(syncs.c.started_at.desc())
            .limit(1)
        )
        async with self._engine.connect() as connection:
            found = (await connection.execute(query)).first()
        if found is None:
            return None
        started, cursor = found
        saved = json.loads(cursor) if cursor else {}
        mark = (
            parse_time(saved.get(PROVIDER_BEGAN))
            or parse_time(saved.get(WATERMARK))
            or parse_time(started)
        )
        return None if mark is None else mark - INCREMENTAL_OVERLAP

    async def _settle(self, job: SyncJob) -> None:
        """Wait until the applier took every event the job published."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.settle_timeout_seconds
        while True:
            current = await self._jobs.get(job.id)
            if current is None:
                raise SyncFailed("The sync's row is gone.")
            if current.applied >= current.published:
                return
            if loop.time() > deadline:
                raise SyncFailed(
                    f"The consumers applied {current.applied} of {current.published} "
                    "events in time; is the consumer running?"
                )
            if not await self._jobs.save(job, self.owner, self._clock()):
                raise LeaseLost
            await asyncio.sleep(self._settings.settle_poll_seconds)

    async def _reconcile(self, job: SyncJob, importer: Importer, account: Mapping[str, Any]) -> int:
        """Publish a deletion for each live row of the tenant the sweep did not see and
        that nothing changed after the sync began; how many."""
        spec = importer.deletions
        if spec is None:
            return 0
        table = spec.table
        record = table.c[spec.id_column]
        began = row_version(job.started_at, "")
        seen = select(sync_seen.c.item_key).where(sync_seen.c.sync_id == job.id)
        query = select(record).where(
            and_(
                table.c.tenant == job.tenant,
                table.c.deleted_at.is_(None),
                table.c.version < began,
                record.not_in(seen),
            )
        )
        async with self._engine.connect() as connection:
            missing = [row[0] for row in await connection.execute(query)]
        now = self._clock()
        for start in range(0, len(missing), DELETE_BATCH):
            chunk = missing[start : start + DELETE_BATCH]
            await self._publish([importer.deleted_event(job, account, key, now) for key in chunk])
        return len(missing)
