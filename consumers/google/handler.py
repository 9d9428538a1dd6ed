"""The `google.calendar.changed` handler: mark the calendar dirty, let the scheduler sync.

A notification carries no data, only "this channel's calendar changed". The calendar
synced is the one the channel's record in the store watches (the ingress takes it from
there too): an event whose channel the store does not know for its source, or whose
calendar is not the channel's, syncs nothing, so no header a stranger could set
chooses what is read with the source's credentials. In the batch's transaction the
handler records one request per calendar (`requested_seq` + 1, so a crash before the
sync still leaves the calendar owing one; see `resume_pending`), then asks the
`SyncScheduler`, which coalesces.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from consumers.google.scheduler import SyncScheduler
from consumers.google.sync import SyncTarget, pending_targets, request_sync
from consumers.registry import Handler
from schemas import CloudEvent
from schemas.google import CalendarChange, parse_change
from schemas.google_store import google_channels

CALENDAR_CHANGED = "google.calendar.changed"
_SOURCE_PREFIX = "urn:hookgate:google:"

log = logging.getLogger(__name__)


def sync_target(event: CloudEvent) -> SyncTarget:
    """The calendar an event asks to sync (the source id comes from the CloudEvents source)."""
    change = parse_change(event.data)
    return SyncTarget(
        source_id=event.source.removeprefix(_SOURCE_PREFIX),
        tenant=event.tenant,
        calendar_id=change.calendar_id,
    )


async def _watched(
    connection: AsyncConnection, changes: Sequence[CalendarChange]
) -> dict[str, tuple[str, str]]:
    """Channel id -> (source id, calendar id), from the store, for the channels named."""
    ids = sorted({change.channel_id for change in changes})
    table = google_channels.c
    rows = await connection.execute(
        select(table.id, table.source_id, table.calendar_id).where(table.id.in_(ids))
    )
    return {row.id: (row.source_id, row.calendar_id) for row in rows}


def google_calendar_handler(scheduler: SyncScheduler) -> Handler:
    """The handler for `google.calendar.changed`, feeding `scheduler`."""

    async def handle(connection: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        changes = [parse_change(event.data) for event in events]
        watched = await _watched(connection, changes)
        targets = set()
        for event, change in zip(events, changes, strict=True):
            target = sync_target(event)
            if watched.get(change.channel_id) != (target.source_id, target.calendar_id):
                log.warning(
                    "google: a change names a calendar its channel does not watch; not synced"
                )
                continue
            targets.add(target)
        for target in sorted(targets, key=lambda t: (t.source_id, t.calendar_id)):
            await request_sync(connection, target)
        for target in targets:
            scheduler.request(target)

    return handle


async def resume_pending(engine: AsyncEngine, scheduler: SyncScheduler) -> int:
    """Request a sync of every calendar that still owes one (call at start-up)."""
    targets = await pending_targets(engine)
    for target in targets:
        scheduler.request(target)
    return len(targets)
