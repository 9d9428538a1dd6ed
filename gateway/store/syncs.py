"""The latest sync of each source, as the sources' admin view shows it (`last_sync`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.sync_store import COUNTS, SYNC_RUNNING, syncs
from schemas.tables import SOURCE_ACTIVE, SOURCE_SYNCING


def shown_status(status: str, last_sync: Mapping[str, Any] | None) -> str:
    """A source's status as the admin API and the console show it: an active source whose
    latest sync runs is `syncing` (derived, never stored: a process killed mid-import
    leaves nothing to undo, and the ingress keeps taking the source's deliveries)."""
    running = last_sync is not None and last_sync["status"] == SYNC_RUNNING
    return SOURCE_SYNCING if running and status == SOURCE_ACTIVE else status


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
