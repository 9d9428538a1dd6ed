"""Google push channels: open (events.watch), store, renew before expiry, stop.

A channel is opened with a fresh UUID, the source's webhook address and a token
signed over (source, channel, expiry) with the gateway's channel-token keys; the
token is not stored (the ingress verifies it from the keys alone). Google does
not renew channels, so a background loop opens a new channel for every active
one close to expiry and then stops the old one (they overlap for a moment, which
the coalescing consumer absorbs). Every `serve` worker, in every pod, runs that loop,
so a due channel is first claimed in the store (`renewing_since`, set by a
conditional UPDATE): one worker renews it, and a claim whose worker died is taken
again after `RENEWAL_CLAIM`. A calendar has one channel: opening one through the
admin API (`watch`) stops the ones that watched the calendar before, so running a
provisioning script twice, or re-opening a channel whose notifications stopped
arriving, leaves one channel, not two renewed forever; when openings race (two admin
calls, or one while a worker renews the calendar's channel) the newest channel stays
(`_supersede`). Removing or disconnecting a source stops its channels; disconnecting
keeps its appointments.

A channel opened through `watch` (the admin API, provisioning at connect) is handed to
`on_watched`, which the gateway makes publish a `google.calendar.changed` for it
(`schemas.google.channel_opened`): the calendar's first full sync starts at once
rather than at its first change or the periodic resync. Renewals do not: the calendar
was synced under the channel they replace.

The ingress takes a notification's calendar from the channel's record (not from the
unsigned `X-Goog-Resource-URI`) and drops those of stopped channels, reading the live
channels through the source cache: every change here calls `on_change(source_id)`,
so this process's cache reads them again at once (other processes within its TTL,
or at once for a channel they have not seen yet).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.sources import SourceRecord
from schemas import BusRecord
from schemas.google import channel_opened
from schemas.google_store import CHANNEL_ACTIVE, CHANNEL_STOPPED, google_channels
from schemas.tables import SOURCE_ACTIVE
from verifiers.google import mint_channel_token

if TYPE_CHECKING:
    from gateway.app import GatewayContext

log = logging.getLogger(__name__)

DISCONNECTED = "disconnected"
RENEWAL_CLAIM = timedelta(minutes=10)
"""How long a worker's claim on a channel it is renewing keeps the others off it."""


class WatchResult(Protocol):
    @property
    def resource_id(self) -> str: ...

    @property
    def resource_uri(self) -> str: ...

    @property
    def expires_at(self) -> datetime: ...


class ChannelApi(Protocol):
    """The Calendar API calls a channel needs (`GoogleCalendarClient` has them)."""

    async def watch(
        self, calendar_id: str, *, channel_id: str, address: str, token: str, expires_at: datetime
    ) -> WatchResult: ...

    async def stop_channel(self, channel_id: str, resource_id: str) -> None: ...


class SourceLookup(Protocol):
    async def get(self, source_id: str) -> SourceRecord | None: ...

    async def set_status(self, source_id: str, status: str, detail: str | None) -> None: ...


class ChannelError(Exception):
    """A channel operation was refused; `code` and `status` for the admin API."""

    def __init__(self, code: str, detail: str, status: int) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A stored channel, as the admin API shows it (no token)."""

    id: str
    source_id: str
    calendar_id: str
    resource_id: str | None
    state: str
    expires_at: datetime
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source_id": self.source_id,
            "calendar_id": self.calendar_id,
            "resource_id": self.resource_id,
            "state": self.state,
            "expires_at": self.expires_at.isoformat(),
            "created_at": self.created_at.isoformat(),
        }


def _age(channel: ChannelInfo) -> tuple[datetime, str]:
    """Orders a calendar's channels by when their opening began (`created_at`, taken
    before the `events.watch` call), the id breaking a tie."""
    return channel.created_at, channel.id


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _info(row: Any) -> ChannelInfo:
    return ChannelInfo(
        id=row.id,
        source_id=row.source_id,
        calendar_id=row.calendar_id,
        resource_id=row.resource_id,
        state=row.state,
        expires_at=_aware(row.expires_at),
        created_at=_aware(row.created_at),
    )


class ChannelManager:
    """Opens, renews and stops the Google push channels of every source."""

    def __init__(
        self,
        engine: AsyncEngine,
        sources: SourceLookup,
        api_for: Callable[[str], ChannelApi],
        *,
        public_url: str,
        token_keys: Sequence[bytes],
        ttl: timedelta = timedelta(days=7),
        renew_before: timedelta = timedelta(hours=12),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_change: Callable[[str], None] = lambda source_id: None,
        on_watched: Callable[[ChannelInfo], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._on_watched = on_watched
        self._on_change = on_change
        self._sources = sources
        self._api_for = api_for
        self._public_url = public_url.rstrip("/")
        self._keys = tuple(token_keys)
        self._ttl = ttl
        self._renew_before = renew_before
        self._clock = clock

    def __repr__(self) -> str:
        return f"ChannelManager(public_url={self._public_url!r})"

    async def open(self, source_id: str, calendar_id: str) -> ChannelInfo:
        """Open a channel on the calendar's events and store it."""
        source = await self._sources.get(source_id)
        if source is None or source.provider != "google":
            raise ChannelError("unknown_source", f"There is no Google source {source_id}.", 404)
        if source.status != SOURCE_ACTIVE:
            raise ChannelError(
                "source_inactive",
                f"Source {source_id} is {source.status}; reconnect it before opening channels.",
                409,
            )
        channel_id = str(uuid.uuid4())
        now = self._clock()
        expires_at = (now + self._ttl).replace(microsecond=0)
        token = mint_channel_token(
            self._keys, source_id=source_id, channel_id=channel_id, expires_at=expires_at
        )
        watched = await self._api_for(source_id).watch(
            calendar_id,
            channel_id=channel_id,
            address=f"{self._public_url}/webhooks/google/{source_id}",
            token=token,
            expires_at=expires_at,
        )
        effective = min(_aware(watched.expires_at), expires_at)
        row = {
            "id": channel_id,
            "source_id": source_id,
            "calendar_id": calendar_id,
            "resource_id": watched.resource_id,
            "resource_uri": watched.resource_uri,
            "state": CHANNEL_ACTIVE,
            "expires_at": effective,
            "created_at": now,
        }
        async with self._engine.begin() as connection:
            await connection.execute(insert(google_channels).values(**row))
        self._on_change(source_id)
        log.info("google: opened channel %s for source %s", channel_id, source_id)
        return ChannelInfo(
            id=channel_id,
            source_id=source_id,
            calendar_id=calendar_id,
            resource_id=watched.resource_id,
            state=CHANNEL_ACTIVE,
            expires_at=effective,
            created_at=now,
        )

    async def watch(self, source_id: str, calendar_id: str) -> ChannelInfo:
        """Open a channel on the calendar and stop the channels that watched it before.

        Returns the channel as it stands afterwards: stopped already, replaced by the
        newer one, if another opening on the calendar raced this one and came later.
        """
        channel = await self._supersede(await self.open(source_id, calendar_id))
        if self._on_watched is not None and channel.state == CHANNEL_ACTIVE:
            try:
                await self._on_watched(channel)
            except Exception:
                log.exception(
                    "google: the first sync of source %s's calendar was not requested; "
                    "the periodic resync will sync it",
                    source_id,
                )
        return channel

    async def _supersede(self, fresh: ChannelInfo) -> ChannelInfo:
        """Leave the newest of the calendar's active channels, `fresh` just opened among
        them, as its one channel; return `fresh` as it stands then.

        Openings on one calendar may race (in this worker or another): each, once its
        channel is stored, retires the older channels it can claim (one claimed
        elsewhere is being renewed or retired there, and that caller reconciles in
        turn), or retires its own if a newer one is there already. So the newest
        channel is never retired, and when the racing calls are done it is the only
        one left (but for one whose renewal failed, until the next pass renews it and
        reconciles in turn); a race never leaves the calendar without a channel.
        """
        others = [
            channel
            for channel in await self.active(fresh.source_id)
            if channel.calendar_id == fresh.calendar_id and channel.id != fresh.id
        ]
        newest = max(others, key=_age, default=None)
        if newest is not None and _age(newest) > _age(fresh):
            if await self._claim(fresh.id):
                await self._retire(fresh.source_id, fresh.id, replaced_by=newest.id)
            return await self.get(fresh.id) or fresh
        for old in others:
            if await self._claim(old.id):
                await self._retire(fresh.source_id, old.id, replaced_by=fresh.id)
        return fresh

    async def get(self, channel_id: str) -> ChannelInfo | None:
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(google_channels).where(google_channels.c.id == channel_id)
                )
            ).one_or_none()
        return None if row is None else _info(row)

    async def active(self, source_id: str | None = None) -> list[ChannelInfo]:
        query = select(google_channels).where(google_channels.c.state == CHANNEL_ACTIVE)
        if source_id is not None:
            query = query.where(google_channels.c.source_id == source_id)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query.order_by(google_channels.c.created_at))).all()
        return [_info(row) for row in rows]

    async def stop(
        self, source_id: str, channel_id: str, *, replaced_by: str | None = None
    ) -> ChannelInfo:
        """Stop a channel at Google (an already-gone channel counts as stopped) and mark it."""
        channel = await self.get(channel_id)
        if channel is None or channel.source_id != source_id:
            raise ChannelError(
                "unknown_channel", f"Source {source_id} has no channel {channel_id}.", 404
            )
        if channel.state == CHANNEL_ACTIVE and channel.resource_id:
            try:
                await self._api_for(source_id).stop_channel(channel_id, channel.resource_id)
            except Exception as exc:
                if getattr(exc, "status", None) != 404:
                    raise
        await self._mark_stopped(channel_id, replaced_by=replaced_by)
        self._on_change(source_id)
        log.info("google: stopped channel %s of source %s", channel_id, source_id)
        return await self.get(channel_id) or channel

    async def stop_all(self, source_id: str) -> int:
        """Stop every active channel of the source; failures are logged, the rows marked."""
        channels = await self.active(source_id)
        for channel in channels:
            await self._retire(source_id, channel.id)
        return len(channels)

    async def _retire(
        self, source_id: str, channel_id: str, *, replaced_by: str | None = None
    ) -> None:
        """Stop a channel at Google and mark it stopped. One Google will not stop is
        marked stopped all the same (it lapses at Google on its own), so it is neither
        renewed again nor listed."""
        try:
            await self.stop(source_id, channel_id, replaced_by=replaced_by)
        except Exception:
            log.exception("google: could not stop channel %s at Google", channel_id)
            await self._mark_stopped(channel_id, replaced_by=replaced_by)
            self._on_change(source_id)

    async def _mark_stopped(self, channel_id: str, *, replaced_by: str | None = None) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(google_channels)
                .where(google_channels.c.id == channel_id)
                .values(state=CHANNEL_STOPPED, stopped_at=self._clock(), replaced_by=replaced_by)
            )

    async def on_source_removed(self, source: SourceRecord) -> None:
        """A `SourceHook` for `DELETE /admin/sources/{id}`."""
        if source.provider == "google":
            await self.stop_all(source.id)

    async def disconnect(self, source_id: str) -> int:
        """Stop the source's channels and mark it disconnected; its appointments stay.

        Returns how many channels were stopped. Disconnecting again stops none.
        """
        source = await self._sources.get(source_id)
        if source is None or source.provider != "google":
            raise ChannelError("unknown_source", f"There is no Google source {source_id}.", 404)
        stopped = await self.stop_all(source_id)
        await self._sources.set_status(
            source_id, DISCONNECTED, "Disconnected: channels stopped, synced appointments kept."
        )
        self._on_change(source_id)
        return stopped

    async def renew_due(self) -> list[ChannelInfo]:
        """Renew every active channel expiring within `renew_before`: new one first, then
        stop; return the new channels (but one a racing opening replaced at once)."""
        horizon = self._clock() + self._renew_before
        renewed = []
        for channel in await self.active():
            if channel.expires_at > horizon or not await self._claim(channel.id, due_by=horizon):
                continue
            try:
                fresh = await self.open(channel.source_id, channel.calendar_id)
            except Exception:
                log.exception("google: could not renew channel %s", channel.id)
                await self._release(channel.id)
                continue
            await self._retire(channel.source_id, channel.id, replaced_by=fresh.id)
            if (await self._supersede(fresh)).state == CHANNEL_ACTIVE:
                renewed.append(fresh)
        return renewed

    async def _claim(self, channel_id: str, *, due_by: datetime | None = None) -> bool:
        """Take a channel still active (and, with `due_by`, expiring by then) that no
        other worker claimed within `RENEWAL_CLAIM`, to renew or replace it."""
        now = self._clock()
        table = google_channels.c
        still = [
            table.id == channel_id,
            table.state == CHANNEL_ACTIVE,
            or_(table.renewing_since.is_(None), table.renewing_since < now - RENEWAL_CLAIM),
        ]
        if due_by is not None:
            still.append(table.expires_at <= due_by)
        async with self._engine.begin() as connection:
            claimed = await connection.execute(
                update(google_channels).where(*still).values(renewing_since=now)
            )
        return bool(claimed.rowcount)

    async def _release(self, channel_id: str) -> None:
        """Give up a claim (the renewal failed), so the next pass tries again."""
        async with self._engine.begin() as connection:
            await connection.execute(
                update(google_channels)
                .where(google_channels.c.id == channel_id)
                .values(renewing_since=None)
            )

    async def run_renewals(self, interval_seconds: float = 300.0) -> None:
        """Renew due channels every `interval_seconds`, until cancelled."""
        while True:
            try:
                await self.renew_due()
            except Exception:
                log.exception("google: channel renewal pass failed; retrying later")
            await asyncio.sleep(interval_seconds)


def channel_manager(
    context: GatewayContext, api_for: Callable[[str], ChannelApi]
) -> ChannelManager:
    """A `ChannelManager` over the running gateway's store, keys, clock and source cache
    (it keeps no state of its own: every caller may make one)."""
    return ChannelManager(
        context.engine,
        context.sources,
        api_for,
        public_url=context.settings.resolved_public_url,
        token_keys=context.box.channel_token_keys,
        clock=context.clock,
        on_change=context.cache.invalidate,
        on_watched=_publish_opened(context),
    )


def _publish_opened(context: GatewayContext) -> Callable[[ChannelInfo], Awaitable[None]]:
    """Publish a channel's `channel_opened` change on Google's topic, as a notification
    is, so whichever consumer applies Google's events syncs the calendar."""

    async def publish(channel: ChannelInfo) -> None:
        source = await context.sources.get(channel.source_id)
        if source is None:
            return
        event = channel_opened(
            source_id=source.id,
            tenant=source.tenant,
            calendar_id=channel.calendar_id,
            channel_id=channel.id,
            resource_id=channel.resource_id or "",
            at=context.clock(),
        )
        await context.publisher.publish(
            [BusRecord.from_event(event, context.settings.topic("google"))]
        )

    return publish
