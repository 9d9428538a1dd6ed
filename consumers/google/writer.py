"""Runs the Google write outbox: insert, patch and delete events, at most once each.

Each claimed write (`consumers.google.outbox`) is sent tagged with its write id
(`consumers.google.own_writes`), and what Google answers is applied to
`appointments` at once, so the row's etag is the new one before the notification the
write causes comes back.

- An insert carries the event id chosen when the write was accepted: a retry after a
  lost answer gets 409, and the event with our tag is fetched and taken as the result.
- A patch or delete carries `If-Match`: the request's `if_match`, else the etag of the
  `appointments` row. A 412 on an event that carries this write's tag is our own
  earlier attempt (its answer was lost); any other 412 is a conflict: Google's version
  is synced into `appointments`, and the write ends `conflict` (`remote_wins`) or is
  sent again on Google's etag (`local_wins`).
- Rate limits, 5xx and timeouts are retried by the client (honouring Retry-After);
  when those retries run out the write goes back to the outbox with a growing delay.
- A source no longer active (disconnected, removed, its token revoked) fails its
  writes with that reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.google.errors import (
    GoogleRequestRejected,
    GoogleUnavailable,
    RefreshTokenRevoked,
    SourceInactive,
)
from consumers.google.outbox import ClaimedWrite, WriteOutbox
from consumers.google.own_writes import tagged, write_id_of
from consumers.google.sync import SyncTarget, apply_rows, event_rows
from schemas.google_store import WRITE_CONFLICT, WRITE_DONE, WRITE_FAILED
from schemas.store import appointments

log = logging.getLogger(__name__)

ConflictPolicy = Literal["remote_wins", "local_wins"]
CONFLICT_POLICIES: tuple[ConflictPolicy, ...] = ("remote_wins", "local_wins")
OUTCOMES = (WRITE_DONE, WRITE_CONFLICT, WRITE_FAILED, "retried")
MAX_LOCAL_WINS = 3
"""How often `local_wins` sends a write again on a fresh etag before it gives up."""
RETRY_BASE = timedelta(seconds=2)
RETRY_CAP = timedelta(minutes=10)


class EventsApi(Protocol):
    """The part of `GoogleCalendarClient` the writer uses."""

    async def get_event(self, calendar_id: str, event_id: str) -> dict[str, Any]: ...

    async def insert_event(self, calendar_id: str, event: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch_event(
        self, calendar_id: str, event_id: str, event: Mapping[str, Any], *, if_match: str | None
    ) -> dict[str, Any]: ...

    async def delete_event(
        self, calendar_id: str, event_id: str, *, if_match: str | None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a write ended."""

    status: str
    etag: str | None = None
    detail: str | None = None


@dataclass
class _Tally:
    """What one run of a write met on the way (kept whichever way it ends)."""

    conflicts: int = 0


@dataclass
class WriteListeners:
    """Told of every finished attempt (for metrics)."""

    outcome: list[Callable[[str, str], None]] = field(default_factory=list)
    """Called with (op, outcome): `done`, `conflict`, `failed` or `retried`."""
    conflict: list[Callable[[str], None]] = field(default_factory=list)
    """Called with the policy on every 412 that was not our own earlier attempt."""


def _status(exc: BaseException) -> int | None:
    return exc.status if isinstance(exc, GoogleRequestRejected) else None


class GoogleWriter:
    """Claims due writes from the outbox and runs them against Google."""

    def __init__(
        self,
        engine: AsyncEngine,
        client_for: Callable[[str], EventsApi],
        outbox: WriteOutbox,
        *,
        policy: ConflictPolicy = "remote_wins",
        listeners: WriteListeners | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._client_for = client_for
        self._outbox = outbox
        self.policy = policy
        self.listeners = listeners or WriteListeners()
        self._clock = clock

    async def run_due(self) -> int:
        """Run every write due now (each event's in order); how many were run."""
        ran = 0
        while claimed := await self._outbox.claim():
            for write in claimed:
                await self._run(write)
            ran += len(claimed)
        return ran

    async def run_forever(self, poll_seconds: float) -> None:
        """`run_due` every `poll_seconds`, until cancelled (outliving its own errors)."""
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("google: the write outbox pass failed; retrying later")
            await asyncio.sleep(poll_seconds)

    async def _run(self, write: ClaimedWrite) -> None:
        """Run one write and record how it ended. A store error leaves it leased (another
        pass takes it once the lease lapses); a bug fails it, so it never blocks its event."""
        tally = _Tally()
        try:
            outcome = await self._execute(write, tally)
        except (SourceInactive, RefreshTokenRevoked) as exc:
            outcome = Outcome(
                WRITE_FAILED,
                detail=f"Not written: the source was disconnected or lost access. {exc.detail}",
            )
        except GoogleRequestRejected as exc:
            outcome = Outcome(WRITE_FAILED, detail=exc.detail)
        except GoogleUnavailable as exc:
            delay = min(RETRY_CAP, RETRY_BASE * 2 ** min(write.attempts, 16))
            log.info("google: write %s postponed %s: %s", write.id, delay, exc.detail)
            await self._outbox.retry_later(write, delay, exc.detail, conflicts=tally.conflicts)
            self._tell(write.op, "retried")
            return
        except SQLAlchemyError:
            raise
        except Exception as exc:
            log.exception("google: write %s failed", write.id)
            outcome = Outcome(WRITE_FAILED, detail=f"Internal error ({type(exc).__name__}).")
        if await self._outbox.finish(
            write,
            outcome.status,
            etag=outcome.etag,
            detail=outcome.detail,
            conflicts=tally.conflicts,
        ):
            self._tell(write.op, outcome.status)

    def _tell(self, op: str, outcome: str) -> None:
        for listener in self.listeners.outcome:
            listener(op, outcome)

    async def _execute(self, write: ClaimedWrite, tally: _Tally) -> Outcome:
        api = self._client_for(write.source_id)
        if write.op == "insert":
            return await self._insert(api, write)
        if_match = write.if_match or await self._stored_etag(write)
        for _ in range(MAX_LOCAL_WINS + 1):
            try:
                return await self._change(api, write, if_match)
            except GoogleRequestRejected as exc:
                if exc.status != 412:
                    raise
            remote = await api.get_event(write.calendar_id, write.google_event_id)
            if _already_applied(write, remote):
                await self._store(write, remote)
                return Outcome(WRITE_DONE, etag=remote.get("etag"))
            tally.conflicts += 1
            for listener in self.listeners.conflict:
                listener(self.policy)
            await self._store(write, remote)
            if self.policy == "remote_wins":
                return Outcome(
                    WRITE_CONFLICT,
                    etag=remote.get("etag"),
                    detail=(
                        f"The event changed at Google since etag {if_match}; Google's "
                        "version was kept and synced (remote_wins)."
                    ),
                )
            if_match = remote.get("etag")
        return Outcome(
            WRITE_CONFLICT,
            detail=f"The event kept changing at Google; gave up after {MAX_LOCAL_WINS} tries.",
        )

    async def _insert(self, api: EventsApi, write: ClaimedWrite) -> Outcome:
        body = tagged(write.body, write.id) | {"id": write.google_event_id}
        try:
            event = await api.insert_event(write.calendar_id, body)
        except GoogleRequestRejected as exc:
            if exc.status != 409:
                raise
            event = await api.get_event(write.calendar_id, write.google_event_id)
            if write_id_of(event) != write.id:
                return Outcome(
                    WRITE_FAILED,
                    detail=f"Google already has an event {write.google_event_id} "
                    "that this write did not make.",
                )
        await self._store(write, event)
        return Outcome(WRITE_DONE, etag=event.get("etag"))

    async def _change(self, api: EventsApi, write: ClaimedWrite, if_match: str | None) -> Outcome:
        if write.op == "patch":
            event = await api.patch_event(
                write.calendar_id,
                write.google_event_id,
                tagged(write.body, write.id),
                if_match=if_match,
            )
        else:
            try:
                await api.delete_event(write.calendar_id, write.google_event_id, if_match=if_match)
            except GoogleRequestRejected as exc:
                if exc.status not in (404, 410):  # gone already: what the delete wanted
                    raise
            event = await api.get_event(write.calendar_id, write.google_event_id)
        await self._store(write, event)
        return Outcome(WRITE_DONE, etag=event.get("etag"))

    async def _stored_etag(self, write: ClaimedWrite) -> str | None:
        table = appointments.c
        async with self._engine.connect() as connection:
            etag = (
                await connection.execute(
                    select(table.etag).where(
                        table.tenant == write.tenant,
                        table.calendar_id == write.calendar_id,
                        table.google_event_id == write.google_event_id,
                    )
                )
            ).scalar_one_or_none()
        return etag if isinstance(etag, str) else None

    async def _store(self, write: ClaimedWrite, event: Mapping[str, Any]) -> None:
        """Apply Google's version of the event to `appointments` (version-guarded)."""
        target = SyncTarget(write.source_id, write.tenant, write.calendar_id)
        rows = event_rows(target, [event], self._clock())
        async with self._engine.begin() as connection:
            await apply_rows(connection, rows)


def _already_applied(write: ClaimedWrite, remote: Mapping[str, Any]) -> bool:
    """Whether Google's event already shows this write (an attempt whose answer was lost)."""
    if write.op == "delete":
        return remote.get("status") == "cancelled"
    return write_id_of(remote) == write.id
