"""A periodic sync of every watched calendar: the safety net for lost notifications.

Google documents that push notifications are not fully reliable: a few are dropped,
and a calendar whose notification was lost would stay stale until its next change.
So a calendar with an active channel (of an active source) that has not been synced
for `every` seconds is asked to sync again: an incremental sync with its token, which
costs one events.list request when nothing changed.

Several consumer processes may run this at once. A due calendar is claimed in the
store before it is requested (its `requested_seq` + 1, `updated_at` now, in one
conditional UPDATE, or the insert of its first sync-state row), so only one process
syncs it; a claim whose process died before syncing is due again `every` seconds
after it was made. The sync then stores `synced_seq` and `last_sync_at` as usual.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from consumers.google.scheduler import SyncScheduler
from consumers.google.sync import SyncTarget, sync_state_insert
from schemas.google_store import CHANNEL_ACTIVE, google_channels, google_sync_state
from schemas.tables import SOURCE_ACTIVE, sources

log = logging.getLogger(__name__)


async def claim_due(engine: AsyncEngine, now: datetime, every: timedelta) -> list[SyncTarget]:
    """The watched calendars not synced since `now - every`, each claimed for this caller.

    One read finds the due ones (`_due`); only those are then claimed, one short
    transaction each, checking `_due` again, so a check of many calendars that are all
    up to date writes nothing and two claimers never both get one.
    """
    cutoff = now - every
    channel, source, state = google_channels.c, sources.c, google_sync_state.c
    async with engine.connect() as connection:
        due = (
            await connection.execute(
                select(
                    channel.source_id,
                    source.tenant,
                    channel.calendar_id,
                    state.source_id.is_not(None).label("has_state"),
                )
                .join(sources, source.id == channel.source_id)
                .outerjoin(
                    google_sync_state,
                    and_(
                        state.source_id == channel.source_id,
                        state.calendar_id == channel.calendar_id,
                    ),
                )
                .where(
                    channel.state == CHANNEL_ACTIVE,
                    source.status == SOURCE_ACTIVE,
                    or_(state.source_id.is_(None), _due(cutoff)),
                )
                .group_by(channel.source_id, source.tenant, channel.calendar_id, state.source_id)
                .having(or_(state.source_id.is_not(None), func.min(channel.created_at) < cutoff))
                .order_by(channel.source_id, channel.calendar_id)
            )
        ).all()
    claimed = []
    for row in due:
        target = SyncTarget(row.source_id, row.tenant, row.calendar_id)
        async with engine.begin() as connection:
            if await _claim(connection, target, now, cutoff, has_state=bool(row.has_state)):
                claimed.append(target)
    return claimed


def _due(cutoff: datetime) -> ColumnElement[bool]:
    """A sync-state row is due: synced before `cutoff`, or requested before it and still
    not synced (a claim whose process died). A watched calendar without a row is due
    once its first channel is older than `cutoff`."""
    state = google_sync_state.c
    return or_(
        and_(
            state.requested_seq <= state.synced_seq,
            or_(state.last_sync_at.is_(None), state.last_sync_at < cutoff),
        ),
        and_(
            state.requested_seq > state.synced_seq,
            or_(state.updated_at.is_(None), state.updated_at < cutoff),
        ),
    )


async def _claim(
    connection: AsyncConnection,
    target: SyncTarget,
    now: datetime,
    cutoff: datetime,
    *,
    has_state: bool,
) -> bool:
    """Take `target`: bump its request if its row is still due, or insert its first row
    if none was inserted meanwhile."""
    state = google_sync_state.c
    if has_state:
        bumped = await connection.execute(
            update(google_sync_state)
            .where(
                state.source_id == target.source_id,
                state.calendar_id == target.calendar_id,
                _due(cutoff),
            )
            .values(requested_seq=state.requested_seq + 1, updated_at=now)
        )
        return bool(bumped.rowcount)
    first = await connection.execute(
        sync_state_insert(connection)
        .values(
            source_id=target.source_id,
            calendar_id=target.calendar_id,
            tenant=target.tenant,
            requested_seq=1,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[state.source_id, state.calendar_id])
    )
    return bool(first.rowcount)


async def resync_forever(
    engine: AsyncEngine, scheduler: SyncScheduler, *, every_seconds: float
) -> None:
    """Every quarter of `every_seconds` (at most a minute), request a sync of each
    calendar `claim_due` claims; until cancelled."""
    every = timedelta(seconds=every_seconds)
    check = min(every_seconds / 4, 60.0)
    while True:
        await asyncio.sleep(check)
        try:
            targets = await claim_due(engine, datetime.now(UTC), every)
        except Exception:
            log.exception("google: looking for calendars to resync failed; retrying later")
            continue
        if targets:
            log.info("google: periodic sync of %d calendar(s)", len(targets))
        for target in targets:
            scheduler.request(target, periodic=True)
