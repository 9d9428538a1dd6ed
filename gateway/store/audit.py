"""The audit log's store side: append an entry, read a page of them, newest first."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.tables import audit_log

OK = "ok"


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    action: str
    outcome: str = OK
    source_id: str | None = None
    tenant: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    """What was touched (field names, ids, counts): never a value that could be secret."""


class AuditLog:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    async def record(self, entry: AuditEntry) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(audit_log).values(
                    at=self._clock(),
                    actor=entry.actor,
                    action=entry.action,
                    source_id=entry.source_id,
                    tenant=entry.tenant,
                    outcome=entry.outcome,
                    detail=orjson.dumps(dict(entry.detail)).decode(),
                )
            )

    async def page(
        self, *, source_id: str | None, limit: int, before: int | None
    ) -> list[dict[str, Any]]:
        """Up to `limit` entries older than entry `before` (all when None), newest first."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if source_id is not None:
            query = query.where(audit_log.c.source_id == source_id)
        if before is not None:
            query = query.where(audit_log.c.id < before)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            {
                "id": row["id"],
                "at": _aware(row["at"]).isoformat(),
                "actor": row["actor"],
                "action": row["action"],
                "source_id": row["source_id"],
                "tenant": row["tenant"],
                "outcome": row["outcome"],
                "detail": orjson.loads(row["detail"]),
            }
            for row in rows
        ]


def _aware(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; every time stored is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
