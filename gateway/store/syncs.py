"""The latest sync of each source, as the sources' admin view shows it (`last_sync`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.sync_store import COUNTS, syncs


async def latest_syncs(engine: AsyncEngine, source_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each of `source_ids`' latest sync (id, mode, status, times, counts), where it has one."""
    if not source_ids:
        return {}
    latest = (
        select(syncs.c.source_id, func.max(syncs.c.started_at).label("started_at"))
        .where(syncs.c.source_id.in_(list(source_ids)))
        .group_by(syncs.c.source_id)
        .subquery()
    )
    query = select(syncs).join(
        latest,
        and_(syncs.c.source_id == latest.c.source_id, syncs.c.started_at == latest.c.started_at),
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return {row.source_id: _view(row._mapping) for row in rows}


def _view(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "mode": row["mode"],
        "status": row["status"],
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
        **{name: int(row[name]) for name in COUNTS},
        "error": row["error"],
    }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
