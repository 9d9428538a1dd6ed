"""The worker's side of the Google write outbox (`google_writes`): claim, finish, retry.

Only the oldest unfinished write of each event is claimable, so an event's writes run
in the order they were accepted, one at a time. A claim is a lease (a conditional
UPDATE on `lease_expires_at`): several processes may run workers, one runs a given
write, and a write whose worker died (kill -9) is claimed again once its lease lapses.
Every later change of the write is guarded by the lease, so a worker that lost it
changes nothing.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.google_store import WRITE_PENDING, google_writes

DEFAULT_LEASE = timedelta(seconds=60)


def worker_id() -> str:
    """This process's name for its claims: host, pid and a random part."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class ClaimedWrite:
    """A pending write this worker holds the lease of."""

    seq: int
    id: str
    source_id: str
    tenant: str
    calendar_id: str
    google_event_id: str
    op: str
    body: Mapping[str, Any]
    if_match: str | None
    attempts: int
    conflicts: int


class WriteOutbox:
    """Lease-guarded reads and writes of `google_writes` for one worker (`owner`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        owner: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self.owner = owner or worker_id()
        self._lease = lease
        self._clock = clock

    async def claim(self, limit: int = 20) -> list[ClaimedWrite]:
        """Up to `limit` due writes, each the oldest unfinished one of its event, now ours."""
        now = self._clock()
        table = google_writes.c
        earlier = google_writes.alias("earlier")
        free = and_(
            table.status == WRITE_PENDING,
            table.next_attempt_at <= now,
            or_(table.lease_expires_at.is_(None), table.lease_expires_at < now),
        )
        first_of_event = ~exists().where(
            earlier.c.source_id == table.source_id,
            earlier.c.calendar_id == table.calendar_id,
            earlier.c.google_event_id == table.google_event_id,
            earlier.c.seq < table.seq,
            earlier.c.status == WRITE_PENDING,
        )
        async with self._engine.connect() as connection:
            candidates = list(
                (
                    await connection.execute(
                        select(table.seq)
                        .where(free, first_of_event)
                        .order_by(table.seq)
                        .limit(limit)
                    )
                ).scalars()
            )
        claimed = []
        for seq in candidates:
            async with self._engine.begin() as connection:
                taken = await connection.execute(
                    update(google_writes)
                    .where(table.seq == seq, free)
                    .values(
                        lease_owner=self.owner,
                        lease_expires_at=now + self._lease,
                        attempts=table.attempts + 1,
                    )
                )
                if taken.rowcount:
                    row = (
                        await connection.execute(select(google_writes).where(table.seq == seq))
                    ).one()
                    claimed.append(_claimed(row))
        return claimed

    async def finish(
        self,
        write: ClaimedWrite,
        status: str,
        *,
        etag: str | None = None,
        detail: str | None = None,
        conflicts: int = 0,
    ) -> bool:
        """End the write with `status`; False if the lease is no longer ours."""
        return await self._owned(
            write,
            status=status,
            etag=etag,
            detail=detail,
            conflicts=write.conflicts + conflicts,
            finished_at=self._clock(),
            lease_owner=None,
            lease_expires_at=None,
        )

    async def retry_later(
        self, write: ClaimedWrite, delay: timedelta, detail: str, *, conflicts: int = 0
    ) -> bool:
        """Give the write back to run again after `delay` (by any worker)."""
        return await self._owned(
            write,
            detail=detail,
            conflicts=write.conflicts + conflicts,
            next_attempt_at=self._clock() + delay,
            lease_owner=None,
            lease_expires_at=None,
        )

    async def _owned(self, write: ClaimedWrite, **values: Any) -> bool:
        table = google_writes.c
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(google_writes)
                .where(
                    table.seq == write.seq,
                    table.lease_owner == self.owner,
                    table.status == WRITE_PENDING,
                )
                .values(**values)
            )
        return bool(result.rowcount)


def _claimed(row: Any) -> ClaimedWrite:
    return ClaimedWrite(
        seq=int(row.seq),
        id=row.id,
        source_id=row.source_id,
        tenant=row.tenant,
        calendar_id=row.calendar_id,
        google_event_id=row.google_event_id,
        op=row.op,
        body=row.body or {},
        if_match=row.if_match,
        attempts=int(row.attempts),
        conflicts=int(row.conflicts),
    )
