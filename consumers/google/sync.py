"""Incremental sync of one Google calendar into `appointments`.

With a stored sync token, events.list returns what changed since; without one, or
when Google answers 410 Gone, the token is dropped and the whole calendar is
listed, and local rows the full listing no longer has are removed (tombstoned:
`status` `cancelled`, `deleted_at` set), but for those a pending write is about to
create at Google (`google_writes`). Pages are applied as they come, with
set-based upserts guarded by a version from the event's `updated` time (etags are
opaque: stored, not compared). The new sync token is written in the transaction
that applies the last page, so it is stored only if the store committed.

With a `publish` callable (Kafka mode), each page's remote changes are published as
`google.appointment.changed` before its transaction commits (at least once); events
in the state hookgate's own writes left them are applied but not published.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from consumers.google.client import EventPage
from consumers.google.errors import SyncTokenGone
from consumers.google.own_writes import own_event_ids
from consumers.upsert import chunked, max_params, upsert
from consumers.versions import parse_time, row_version
from schemas import CloudEvent
from schemas.google import appointment_changed
from schemas.google_store import WRITE_PENDING, google_sync_state, google_writes
from schemas.store import appointments

log = logging.getLogger(__name__)

PublishChanges = Callable[[Sequence[CloudEvent]], Awaitable[None]]

CANCELLED = "cancelled"
_UPDATED_COLUMNS = (
    "etag",
    "summary",
    "start_time",
    "end_time",
    "status",
    "updated",
    "deleted_at",
)
_KEY = ("tenant", "calendar_id", "google_event_id")


class CalendarApi(Protocol):
    """The part of `GoogleCalendarClient` a sync uses."""

    async def list_events(
        self,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        max_results: int = 250,
    ) -> EventPage: ...


@dataclass(frozen=True, slots=True)
class SyncTarget:
    """One calendar of one source."""

    source_id: str
    tenant: str
    calendar_id: str


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one sync run did."""

    full: bool
    pages: int
    changed: int
    """Events changed at Google by others (remote changes)."""
    removed: int
    own: int = 0
    """Events listed in the state hookgate's own writes left them in
    (`consumers.google.own_writes`): applied, not counted as remote changes."""


def _event_time(value: object) -> datetime | None:
    if not isinstance(value, Mapping):
        return None
    if value.get("dateTime"):
        return parse_time(value["dateTime"])
    if value.get("date"):
        return parse_time(f"{value['date']}T00:00:00+00:00")
    return None


def event_rows(
    target: SyncTarget, items: Iterable[Mapping[str, Any]], listed_at: datetime
) -> list[dict[str, Any]]:
    """Rows for `appointments`, one per event id (the newest when repeated).

    A deleted event comes back as `{id, status: cancelled}` without `updated`; it is
    versioned by the listing's time, which is later than the deletion, so it outranks
    the event's earlier states and is outranked by a later restore.
    """
    rows: list[dict[str, Any]] = []
    for item in items:
        event_id = item.get("id")
        if not isinstance(event_id, str) or not event_id:
            continue
        status = str(item.get("status") or "confirmed")
        updated = parse_time(item.get("updated"))
        version_time = updated or listed_at
        rows.append(
            {
                "tenant": target.tenant,
                "calendar_id": target.calendar_id,
                "google_event_id": event_id,
                "etag": item.get("etag"),
                "summary": item.get("summary"),
                "start_time": _event_time(item.get("start")),
                "end_time": _event_time(item.get("end")),
                "status": status,
                "updated": updated,
                "deleted_at": None,
                "version": row_version(version_time, event_id),
            }
        )
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        current = newest.get(row["google_event_id"])
        if current is None or row["version"] > current["version"]:
            newest[row["google_event_id"]] = row
    return list(newest.values())


async def apply_rows(connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Upsert event rows; a row whose stored version is newer is left alone."""
    live = [row for row in rows if row["status"] != CANCELLED or row["updated"] is not None]
    minimal = [row for row in rows if row["status"] == CANCELLED and row["updated"] is None]
    await upsert(connection, appointments, live, key=_KEY, update=_UPDATED_COLUMNS)
    # A minimal cancellation knows nothing but the id: keep the row's other fields.
    await upsert(connection, appointments, minimal, key=_KEY, update=("etag", "status"))


def _listed_at(page: EventPage, clock: Callable[[], datetime]) -> datetime:
    return page.updated or clock()


class CalendarSync:
    """Runs syncs; one at a time per calendar is the caller's job (`SyncScheduler`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        client_for: Callable[[str], CalendarApi],
        *,
        page_size: int = 250,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        publish: PublishChanges | None = None,
    ) -> None:
        self._engine = engine
        self._client_for = client_for
        self._page_size = page_size
        self._clock = clock
        self._publish = publish

    async def run(self, target: SyncTarget) -> SyncResult:
        """Sync the calendar; on 410 Gone drop the token and sync it in full."""
        client = self._client_for(target.source_id)
        token, requested = await self._state(target)
        if token is not None:
            try:
                return await self._incremental(client, target, token, requested)
            except SyncTokenGone:
                log.info(
                    "google: sync token of %s/%s is gone (410); full sync",
                    target.source_id,
                    target.calendar_id,
                )
                await self._drop_token(target)
        return await self._full(client, target, requested)

    async def _state(self, target: SyncTarget) -> tuple[str | None, int]:
        state = google_sync_state.c
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(state.sync_token, state.requested_seq).where(
                        state.source_id == target.source_id, state.calendar_id == target.calendar_id
                    )
                )
            ).one_or_none()
        return (None, 0) if row is None else (row.sync_token, int(row.requested_seq))

    async def _incremental(
        self, client: CalendarApi, target: SyncTarget, token: str, requested: int
    ) -> SyncResult:
        page_token: str | None = None
        pages = changed = own = 0
        while True:
            page = await client.list_events(
                target.calendar_id,
                sync_token=token,
                page_token=page_token,
                max_results=self._page_size,
            )
            pages += 1
            rows = event_rows(target, page.items, _listed_at(page, self._clock))
            async with self._engine.begin() as connection:
                mine = await self._apply_page(connection, target, page, rows)
                changed, own = changed + len(rows) - mine, own + mine
                if page.next_sync_token is not None or page.next_page_token is None:
                    await self._finish(connection, target, page, requested, full=False)
                    return SyncResult(full=False, pages=pages, changed=changed, removed=0, own=own)
            page_token = page.next_page_token

    async def _full(self, client: CalendarApi, target: SyncTarget, requested: int) -> SyncResult:
        page_token: str | None = None
        pages = changed = own = 0
        seen: set[str] = set()
        while True:
            page = await client.list_events(
                target.calendar_id, page_token=page_token, max_results=self._page_size
            )
            pages += 1
            rows = event_rows(target, page.items, _listed_at(page, self._clock))
            seen.update(row["google_event_id"] for row in rows)
            async with self._engine.begin() as connection:
                mine = await self._apply_page(connection, target, page, rows)
                changed, own = changed + len(rows) - mine, own + mine
                if page.next_sync_token is not None or page.next_page_token is None:
                    removed = await self._remove_unlisted(
                        connection, target, seen, _listed_at(page, self._clock)
                    )
                    await self._finish(connection, target, page, requested, full=True)
                    return SyncResult(
                        full=True, pages=pages, changed=changed, removed=removed, own=own
                    )
            page_token = page.next_page_token

    async def _apply_page(
        self,
        connection: AsyncConnection,
        target: SyncTarget,
        page: EventPage,
        rows: Sequence[Mapping[str, Any]],
    ) -> int:
        """Apply a page's rows and publish its remote changes; how many of the rows are
        hookgate's own writes come back."""
        await apply_rows(connection, rows)
        own = await own_event_ids(connection, target.source_id, target.calendar_id, page.items)
        remote = [row for row in rows if row["google_event_id"] not in own]
        if self._publish is not None and remote:
            now = self._clock()
            await self._publish([appointment_changed(target.source_id, row, now) for row in remote])
        return len(rows) - len(remote)

    async def _remove_unlisted(
        self, connection: AsyncConnection, target: SyncTarget, seen: set[str], listed_at: datetime
    ) -> int:
        table = appointments.c
        mine = and_(table.tenant == target.tenant, table.calendar_id == target.calendar_id)
        writes = google_writes.c
        about_to_be_written = select(writes.google_event_id).where(
            writes.source_id == target.source_id,
            writes.calendar_id == target.calendar_id,
            writes.status == WRITE_PENDING,
        )
        local = (
            await connection.execute(
                select(table.google_event_id).where(
                    mine,
                    table.deleted_at.is_(None),
                    table.google_event_id.not_in(about_to_be_written),
                )
            )
        ).scalars()
        gone = sorted(set(local) - seen)
        version = row_version(listed_at, "")
        for chunk in chunked(gone, max_params(connection) - 8):
            await connection.execute(
                update(appointments)
                .where(mine, table.google_event_id.in_(chunk), table.version < version)
                .values(status=CANCELLED, deleted_at=self._clock(), version=version)
            )
        return len(gone)

    async def _finish(
        self,
        connection: AsyncConnection,
        target: SyncTarget,
        page: EventPage,
        requested: int,
        *,
        full: bool,
    ) -> None:
        now = self._clock()
        values: dict[str, Any] = {
            "sync_token": page.next_sync_token,
            "status": "ok",
            "status_detail": None,
            "last_sync_at": now,
            "updated_at": now,
        }
        if full:
            values["last_full_sync_at"] = now
        await save_state(connection, target, values, synced_seq=requested)

    async def _drop_token(self, target: SyncTarget) -> None:
        async with self._engine.begin() as connection:
            await save_state(connection, target, {"sync_token": None, "updated_at": self._clock()})


def sync_state_insert(connection: AsyncConnection) -> Any:
    """`INSERT INTO google_sync_state` in the connection's dialect (for its ON CONFLICT)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(google_sync_state)
    return sqlite.insert(google_sync_state)


async def save_state(
    connection: AsyncConnection,
    target: SyncTarget,
    values: Mapping[str, Any],
    *,
    synced_seq: int | None = None,
) -> None:
    """Create or update the calendar's sync-state row with `values`."""
    table = google_sync_state.c
    statement = sync_state_insert(connection).values(
        source_id=target.source_id,
        calendar_id=target.calendar_id,
        tenant=target.tenant,
        synced_seq=synced_seq or 0,
        **values,
    )
    updates: dict[str, Any] = {name: statement.excluded[name] for name in values}
    if synced_seq is not None:
        updates["synced_seq"] = _greatest(connection, table.synced_seq, synced_seq)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[table.source_id, table.calendar_id], set_=updates
        )
    )


async def request_sync(connection: AsyncConnection, target: SyncTarget) -> None:
    """Record that the calendar owes a sync (`requested_seq` + 1), in the caller's transaction."""
    table = google_sync_state.c
    statement = sync_state_insert(connection).values(
        source_id=target.source_id,
        calendar_id=target.calendar_id,
        tenant=target.tenant,
        requested_seq=1,
        updated_at=datetime.now(UTC),
    )
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[table.source_id, table.calendar_id],
            set_={"requested_seq": table.requested_seq + 1},
        )
    )


async def pending_targets(engine: AsyncEngine) -> list[SyncTarget]:
    """Calendars that owe a sync (requested after their last finished run)."""
    table = google_sync_state.c
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(table.source_id, table.tenant, table.calendar_id).where(
                table.requested_seq > table.synced_seq
            )
        )
        return [SyncTarget(row.source_id, row.tenant, row.calendar_id) for row in rows]


def _greatest(connection: AsyncConnection, column: Any, value: int) -> Any:
    name = "max" if connection.dialect.name == "sqlite" else "greatest"
    return getattr(func, name)(column, value)
