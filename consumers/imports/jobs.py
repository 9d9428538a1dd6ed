"""The sync jobs in the store: created by the admin API, run under a lease.

A job is a row of `syncs`. Whichever process holds its lease runs it; the lease is
renewed with every committed page, so a process that dies mid-way leaves a lease
that expires and the next process to look resumes the job from its cursor. One job
runs per source at a time: a partial unique index on running rows makes a second
`create` fail, which `create` answers with None.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.sync_store import (
    COUNTS,
    SYNC_CANCELED,
    SYNC_RUNNING,
    syncs,
)

DEFAULT_LEASE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class SyncJob:
    """One sync as the store has it."""

    id: str
    source_id: str
    provider: str
    tenant: str
    mode: str
    status: str
    phase: str
    cursor: dict[str, Any] | None
    counts: Mapping[str, int]
    applied: int
    published: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    cancel_requested: bool

    @property
    def full(self) -> bool:
        return self.mode == "full"

    def as_json(self) -> dict[str, Any]:
        """The contract's view of a sync (`GET /admin/syncs/{id}`)."""
        finished = self.finished_at
        return {
            "id": self.id,
            "source_id": self.source_id,
            "mode": self.mode,
            "status": self.status,
            **self.counts,
            "started_at": self.started_at.isoformat(),
            "finished_at": finished.isoformat() if finished else None,
            "duration_ms": (
                round((finished - self.started_at).total_seconds() * 1000) if finished else None
            ),
            "error": self.error,
        }


def _job(row: Any) -> SyncJob:
    values = row._mapping
    return SyncJob(
        id=values["id"],
        source_id=values["source_id"],
        provider=values["provider"],
        tenant=values["tenant"],
        mode=values["mode"],
        status=values["status"],
        phase=values["phase"],
        cursor=json.loads(values["cursor"]) if values["cursor"] else None,
        counts={name: int(values[name]) for name in COUNTS},
        applied=int(values["items_applied"]),
        published=int(values["items_published"]),
        error=values["error"],
        started_at=_aware(values["started_at"]),
        finished_at=_aware(values["finished_at"]) if values["finished_at"] else None,
        cancel_requested=bool(values["cancel_requested"]),
    )


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive times back: they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class SyncJobs:
    """`syncs` rows: create, read, and the runner's lease-guarded writes."""

    def __init__(self, engine: AsyncEngine, *, lease_seconds: float = DEFAULT_LEASE_SECONDS):
        self._engine = engine
        self._lease = timedelta(seconds=lease_seconds)

    async def create(
        self, *, source_id: str, provider: str, tenant: str, mode: str, now: datetime
    ) -> SyncJob | None:
        """A new running sync of the source; None while another one runs for it."""
        sync_id = "sync_" + secrets.token_hex(12)
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    syncs.insert().values(
                        id=sync_id,
                        source_id=source_id,
                        provider=provider,
                        tenant=tenant,
                        mode=mode,
                        status=SYNC_RUNNING,
                        phase="fetch",
                        started_at=now,
                    )
                )
        except IntegrityError:
            return None
        return await self.get(sync_id)

    async def get(self, sync_id: str) -> SyncJob | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(syncs).where(syncs.c.id == sync_id))).first()
        return _job(row) if row is not None else None

    async def for_source(self, source_id: str, *, limit: int = 50) -> list[SyncJob]:
        """The source's syncs, the latest first."""
        query = (
            select(syncs)
            .where(syncs.c.source_id == source_id)
            .order_by(syncs.c.started_at.desc())
            .limit(limit)
        )
        async with self._engine.connect() as connection:
            return [_job(row) for row in await connection.execute(query)]

    async def cancel(self, sync_id: str) -> bool:
        """Ask the runner to stop the sync at its next page; False if it is not running."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(syncs)
                .where(and_(syncs.c.id == sync_id, syncs.c.status == SYNC_RUNNING))
                .values(cancel_requested=1)
            )
        return bool(result.rowcount)

    async def claim(self, owner: str, now: datetime) -> SyncJob | None:
        """A running sync nobody holds (never leased, or its lease expired), now `owner`'s."""
        free = and_(
            syncs.c.status == SYNC_RUNNING,
            or_(syncs.c.lease_expires_at.is_(None), syncs.c.lease_expires_at < now),
        )
        async with self._engine.connect() as connection:
            candidates = [
                row[0]
                for row in await connection.execute(
                    select(syncs.c.id).where(free).order_by(syncs.c.started_at).limit(10)
                )
            ]
        for sync_id in candidates:
            async with self._engine.begin() as connection:
                taken = await connection.execute(
                    update(syncs)
                    .where(and_(syncs.c.id == sync_id, free))
                    .values(lease_owner=owner, lease_expires_at=now + self._lease)
                )
            if taken.rowcount:
                return await self.get(sync_id)
        return None

    async def save(
        self,
        job: SyncJob,
        owner: str,
        now: datetime,
        *,
        cursor: Mapping[str, Any] | None = None,
        processed: int = 0,
        published: int = 0,
        phase: str | None = None,
    ) -> bool:
        """Commit a page (its cursor and counts) and renew the lease; False: the lease
        is no longer `owner`'s (another process took the job over)."""
        values: dict[str, Any] = {
            "lease_expires_at": now + self._lease,
            "items_processed": syncs.c.items_processed + processed,
            "items_published": syncs.c.items_published + published,
        }
        if cursor is not None:
            values["cursor"] = json.dumps(dict(cursor))
        if phase is not None:
            values["phase"] = phase
        return await self._owned_update(job.id, owner, values)

    async def finish(
        self, job: SyncJob, owner: str, now: datetime, status: str, error: str | None = None
    ) -> bool:
        values = {
            "status": status,
            "error": error,
            "finished_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        return await self._owned_update(job.id, owner, values)

    async def release(self, job: SyncJob, owner: str) -> None:
        """Give the lease back (the process stops): the next process resumes at once."""
        await self._owned_update(job.id, owner, {"lease_owner": None, "lease_expires_at": None})

    async def _owned_update(self, sync_id: str, owner: str, values: Mapping[str, Any]) -> bool:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(syncs)
                .where(
                    and_(
                        syncs.c.id == sync_id,
                        syncs.c.lease_owner == owner,
                        syncs.c.status == SYNC_RUNNING,
                    )
                )
                .values(values)
            )
        return bool(result.rowcount)


__all__ = ["SYNC_CANCELED", "SyncJob", "SyncJobs"]
