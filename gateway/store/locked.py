"""One source's credentials under a store lock, so one process at a time refreshes them.

PCO, GHL and Calendly rotate refresh tokens: two processes refreshing one source
together would each spend the same refresh token, and the loser (or, at a strict
provider, both) is locked out. Whoever refreshes holds this lock, re-reads the
credentials under it, refreshes only if still due, and writes the new pair before
the lock ends, in the same transaction.

PostgreSQL: `SELECT … FOR UPDATE` on the source's row. SQLite has no row locks: the
transaction's first statement writes the row (a no-op update), which takes the
database's write lock at once, as `BEGIN IMMEDIATE` would; another writer waits for
it (the engine's busy timeout) instead of reading credentials about to change.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.secretbox import SecretBox
from schemas.tables import SOURCE_ERROR, sources


class SourceGone(LookupError):
    """The source does not exist (any more)."""


@dataclass
class LockedCredentials:
    """A source's credentials as read under the lock; `save` and `fail` write in it."""

    source_id: str
    provider: str
    status: str
    credentials: dict[str, str] = field(repr=False)
    _conn: AsyncConnection = field(repr=False)
    _box: SecretBox = field(repr=False)

    async def save(self, credentials: dict[str, str]) -> None:
        await self._conn.execute(
            update(sources)
            .where(sources.c.id == self.source_id)
            .values(
                credentials_ciphertext=self._box.encrypt(orjson.dumps(credentials).decode()),
                updated_at=datetime.now(UTC),
            )
        )
        self.credentials = dict(credentials)

    async def fail(self, detail: str) -> None:
        """The source goes to `error` with `detail` (e.g. `reauthorization_required`)."""
        await self._conn.execute(
            update(sources)
            .where(sources.c.id == self.source_id)
            .values(status=SOURCE_ERROR, status_detail=detail, updated_at=datetime.now(UTC))
        )
        self.status = SOURCE_ERROR


@contextlib.asynccontextmanager
async def locked_credentials(
    engine: AsyncEngine, box: SecretBox, source_id: str
) -> AsyncIterator[LockedCredentials]:
    """Hold the source's lock while the block runs; raises `SourceGone`."""
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(
                update(sources).where(sources.c.id == source_id).values(status=sources.c.status)
            )
        row = (
            await conn.execute(
                select(sources.c.provider, sources.c.status, sources.c.credentials_ciphertext)
                .where(sources.c.id == source_id)
                .with_for_update()
            )
        ).one_or_none()
        if row is None:
            raise SourceGone(source_id)
        stored = row.credentials_ciphertext
        credentials: dict[str, str] = orjson.loads(box.decrypt(stored)) if stored else {}
        yield LockedCredentials(source_id, row.provider, row.status, credentials, conn, box)
