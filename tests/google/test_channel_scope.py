"""A notification syncs only what its signed channel covers, through the real server.

The calendar comes from the channel's record in the store (channel id -> calendar),
never from the unsigned `X-Goog-Resource-URI`; a stopped channel's token and a
disconnected (or failed) source's notifications publish nothing (200: Google does
not retry it). The gateway reads channels and status through its source cache (a
TTL of `CACHE_SECONDS` here): the admin API's changes reach it at once, a status set
elsewhere (the sync marking a source `error`) within the TTL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import Delivery, google
from schemas.google_store import google_sync_state
from tests.emulators.google import EmulatedChannel, GoogleEmulator
from tests.fixtures.google import GoogleAccount
from tests.google.conftest import ADMIN_TOKEN, Harness, open_harness
from tests.google.test_sync import CALENDAR, START, open_channel
from verifiers.google import notification_headers

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
VICTIM = "ceo@example.com"
CACHE_SECONDS = 2.0


@pytest_asyncio.fixture
async def cached(
    google_account: GoogleAccount, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[Harness]:
    """The Google harness with the gateway's source cache on (`CACHE_SECONDS`)."""
    async with open_harness(
        google_account, engine, tmp_path, page_size=7, source_cache_seconds=CACHE_SECONDS
    ) as opened:
        google_account.emulator.deliver = opened.post_notification
        yield opened


async def notify(harness: Harness, channel: EmulatedChannel, **headers: str) -> int:
    """One `exists` notification of `channel`, with `headers` replacing Google's."""
    channel.message_number += 1
    emulator: GoogleEmulator = harness.emulator
    sent: dict[str, str] = {}

    async def capture(address: str, given: dict[str, str]) -> int:
        sent.update(given, **headers)
        return await harness.post_notification(address, sent)

    emulator.deliver = capture
    try:
        await emulator.send_notification(channel, "exists")
    finally:
        emulator.deliver = None
    return int(emulator.delivered[-1][2])


async def synced_calendars(harness: Harness) -> set[str]:
    async with harness.engine.connect() as connection:
        rows = await connection.execute(
            select(google_sync_state.c.calendar_id).where(
                google_sync_state.c.source_id == harness.source.id
            )
        )
        return {row.calendar_id for row in rows}


async def test_a_forged_resource_uri_syncs_the_channels_calendar_only(cached: Harness) -> None:
    channel = await open_channel(cached)
    cached.emulator.deliver = None
    await cached.emulator.create_event(VICTIM, summary="Board meeting", start=START)
    await cached.emulator.create_event(CALENDAR, summary="Standup", start=START)
    emulated = cached.emulator.channels[str(channel["id"])]
    forged_uri = f"https://www.googleapis.com/calendar/v3/calendars/{VICTIM}/events?alt=json"

    status = await notify(cached, emulated, **{"X-Goog-Resource-URI": forged_uri})
    await cached.settle()

    assert status == 200
    assert await synced_calendars(cached) == {CALENDAR}
    assert await cached.store(VICTIM) == {}
    await cached.assert_store_matches(CALENDAR)


async def test_a_stopped_channels_token_publishes_nothing(cached: Harness) -> None:
    channel = await open_channel(cached)
    await cached.settle()  # the opening's first sync, of the empty calendar
    stopped = await cached.gateway.delete(
        f"/admin/google/{cached.source.id}/channels/{channel['id']}", headers=AUTH
    )
    assert stopped.status_code == 200
    emulated = cached.emulator.channels[str(channel["id"])]
    await cached.emulator.create_event(CALENDAR, summary="After the stop", start=START)
    published = cached.publisher.published

    status = await notify(cached, emulated)
    await cached.settle()

    assert status == 200
    assert cached.publisher.published == published
    assert await cached.store(CALENDAR) == {}


@pytest.mark.parametrize("how", ["disconnect", "error"])
async def test_an_inactive_sources_notification_publishes_nothing(
    cached: Harness, how: str
) -> None:
    channel = await open_channel(cached)
    emulated = cached.emulator.channels[str(channel["id"])]
    if how == "disconnect":
        response = await cached.gateway.post(
            f"/admin/google/{cached.source.id}/disconnect", headers=AUTH
        )
        assert response.status_code == 200
    else:  # as the sync marks a source whose refresh token was revoked
        await cached.sources.set_status(cached.source.id, "error", "refresh token revoked")
        await asyncio.sleep(CACHE_SECONDS + 0.1)
    published = cached.publisher.published

    status = await notify(cached, emulated)
    await cached.settle()

    assert status == 200
    assert cached.publisher.published == published


async def test_a_change_on_the_bus_naming_another_calendar_than_its_channel_syncs_nothing(
    cached: Harness,
) -> None:
    """An event already on the bus with a calendar its channel does not watch (as a
    gateway that read `X-Goog-Resource-URI` published them) is not synced."""
    channel = await open_channel(cached)
    cached.emulator.deliver = None
    await cached.emulator.create_event(VICTIM, summary="Board meeting", start=START)
    headers = notification_headers(
        "unused",
        channel_id=str(channel["id"]),
        resource_id=str(channel["resource_id"]),
        state="exists",
        message_number=9,
        calendar_id=VICTIM,
    )
    delivery = Delivery(
        provider="google",
        source_id=cached.source.id,
        tenant=cached.source.tenant,
        headers={name.lower(): value for name, value in headers.items()},
        body=b"",
        received_at=datetime.now(UTC),
    )
    (event,) = google.normalize(delivery).events
    assert google.parse_change(event.data).calendar_id == VICTIM

    await cached.publisher.applier.apply([event])
    await cached.settle()

    assert await synced_calendars(cached) == {CALENDAR}  # by the channel's opening only
    assert await cached.store(VICTIM) == {}
