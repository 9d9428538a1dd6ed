"""hookgate's own writes to Google, recognised when they come back through a sync.

Every write tags the event with its write id in `extendedProperties.private`
(`hookgate_write_id`, private: per calendar and event, not shown to attendees). A
listed event is hookgate's own change when it carries the tag of a write still
running, or when its etag is the one a finished write of ours left on it: an edit
made at Google later keeps the tag but has another etag, so it counts as remote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.upsert import chunked, max_params
from schemas.google_store import WRITE_DONE, WRITE_PENDING, google_writes

WRITE_ID_PROPERTY = "hookgate_write_id"


def tagged(event: Mapping[str, Any], write_id: str) -> dict[str, Any]:
    """`event` with the write's tag added to its private extended properties."""
    extended = dict(event.get("extendedProperties") or {})
    extended["private"] = dict(extended.get("private") or {}) | {WRITE_ID_PROPERTY: write_id}
    return dict(event) | {"extendedProperties": extended}


def write_id_of(event: Mapping[str, Any]) -> str | None:
    """The write id an event is tagged with, if any."""
    extended = event.get("extendedProperties")
    private = extended.get("private") if isinstance(extended, Mapping) else None
    value = private.get(WRITE_ID_PROPERTY) if isinstance(private, Mapping) else None
    return value if isinstance(value, str) else None


async def own_event_ids(
    connection: AsyncConnection,
    source_id: str,
    calendar_id: str,
    items: Iterable[Mapping[str, Any]],
) -> set[str]:
    """The ids of the listed events whose state is one hookgate's writes made."""
    listed = {
        str(item["id"]): item for item in items if isinstance(item.get("id"), str) and item["id"]
    }
    table = google_writes.c
    writes: list[Any] = []
    for chunk in chunked(sorted(listed), max_params(connection) - 8):
        writes.extend(
            await connection.execute(
                select(table.id, table.google_event_id, table.status, table.etag).where(
                    table.source_id == source_id,
                    table.calendar_id == calendar_id,
                    table.google_event_id.in_(chunk),
                    table.status.in_((WRITE_PENDING, WRITE_DONE)),
                )
            )
        )
    own = set()
    for write in writes:
        item = listed[write.google_event_id]
        running = write.status == WRITE_PENDING and write_id_of(item) == write.id
        if running or (write.etag is not None and write.etag == item.get("etag")):
            own.add(write.google_event_id)
    return own
