"""The `google.calendar.changed` handler: mark the calendar dirty, let the scheduler sync.

A notification carries no data, only "this calendar changed". In the batch's
transaction the handler records one request per calendar (`requested_seq` + 1,
so a crash before the sync still leaves the calendar owing one; see
`resume_pending`), then asks the `SyncScheduler`, which coalesces.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from consumers.google.scheduler import SyncScheduler
from consumers.google.sync import SyncTarget, pending_targets, request_sync
from consumers.registry import Handler
from schemas import CloudEvent
from schemas.google import parse_change

CALENDAR_CHANGED = "google.calendar.changed"
_SOURCE_PREFIX = "urn:hookgate:google:"


def sync_target(event: CloudEvent) -> SyncTarget:
    """The calendar an event asks to sync (the source id comes from the CloudEvents source)."""
    change = parse_change(event.data)
    return SyncTarget(
        source_id=event.source.removeprefix(_SOURCE_PREFIX),
        tenant=event.tenant,
        calendar_id=change.calendar_id,
    )


def google_calendar_handler(scheduler: SyncScheduler) -> Handler:
    """The handler for `google.calendar.changed`, feeding `scheduler`."""

    async def handle(connection: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        targets = {sync_target(event) for event in events}
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
