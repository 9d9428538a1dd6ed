"""Disconnecting a Google source: channels stopped, source marked, appointments kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from schemas.google_store import google_channels
from tests.google.conftest import ADMIN_TOKEN, Harness
from tests.google.test_sync import CALENDAR, START, harness_deliver, open_channel

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _seeded(harness: Harness, count: int) -> dict[str, object]:
    """Open a channel on CALENDAR, create `count` events, let them sync; the channel."""
    channel = await open_channel(harness)
    for n in range(count):
        await harness.emulator.create_event(
            CALENDAR, summary=f"Meeting {n}", start=START + timedelta(hours=n)
        )
    await harness.settle()
    await harness.assert_store_matches(CALENDAR)
    assert len(await harness.store(CALENDAR)) == count
    return channel


async def test_disconnect_stops_channels_marks_the_source_and_keeps_appointments(
    harness: Harness,
) -> None:
    channel = await _seeded(harness, 5)
    other = await open_channel(harness, "other@example.com")
    emulator = harness.emulator
    before = await harness.store(CALENDAR)
    stops_before = emulator.counters.stop_calls

    response = await harness.gateway.post(
        f"/admin/google/{harness.source.id}/disconnect", headers=AUTH
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": harness.source.id,
        "status": "disconnected",
        "stopped_channels": 2,
    }
    assert emulator.counters.stop_calls == stops_before + 2
    assert emulator.channels[str(channel["id"])].stopped
    assert emulator.channels[str(other["id"])].stopped
    assert emulator.active_channels() == []
    async with harness.engine.connect() as connection:
        states = {
            row.id: row.state
            for row in await connection.execute(
                select(google_channels.c.id, google_channels.c.state).where(
                    google_channels.c.source_id == harness.source.id
                )
            )
        }
    assert states == {channel["id"]: "stopped", other["id"]: "stopped"}
    listed = await harness.gateway.get(f"/admin/google/{harness.source.id}/channels", headers=AUTH)
    assert listed.json() == {"channels": []}
    source = await harness.gateway.get(f"/admin/sources/{harness.source.id}", headers=AUTH)
    assert source.status_code == 200
    assert source.json()["status"] == "disconnected"
    assert await harness.store(CALENDAR) == before

    again = await harness.gateway.post(
        f"/admin/google/{harness.source.id}/disconnect", headers=AUTH
    )
    assert again.status_code == 200
    assert again.json()["stopped_channels"] == 0
    assert emulator.counters.stop_calls == stops_before + 2


async def test_a_notification_on_an_old_channel_after_disconnect_changes_nothing(
    harness: Harness,
) -> None:
    channel = await _seeded(harness, 3)
    emulator = harness.emulator
    emulated = emulator.channels[str(channel["id"])]
    disconnected = await harness.gateway.post(
        f"/admin/google/{harness.source.id}/disconnect", headers=AUTH
    )
    assert disconnected.status_code == 200
    before = await harness.store(CALENDAR)
    requests_before = emulator.counters.list_requests

    # the calendar changes at Google and a late notification of the old channel arrives
    emulator.deliver = None
    live = list(emulator.live_events(CALENDAR))
    await emulator.update_event(CALENDAR, live[0], summary="changed after disconnect")
    await emulator.cancel_event(CALENDAR, live[1])
    await emulator.create_event(CALENDAR, summary="new after disconnect", start=START)
    emulated.message_number += 1
    status = await harness_deliver(harness)(emulated)
    await harness.settle()

    assert status == 200  # the token is still valid by the keys; the sync skips the source
    assert emulator.counters.list_requests == requests_before
    assert await harness.store(CALENDAR) == before


async def test_disconnect_of_a_missing_source_is_404_unknown_source(harness: Harness) -> None:
    response = await harness.gateway.post("/admin/google/src_nope/disconnect", headers=AUTH)
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "unknown_source"
    assert body["detail"]


async def test_disconnect_of_a_non_google_source_is_404_and_changes_nothing(
    harness: Harness,
) -> None:
    created = await harness.gateway.post(
        "/admin/sources",
        json={
            "provider": "calendly",
            "tenant": "acme",
            "secret": "calendly-signing-secret-0123456789",
        },
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    source_id = created.json()["id"]
    response = await harness.gateway.post(f"/admin/google/{source_id}/disconnect", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_source"
    after = await harness.gateway.get(f"/admin/sources/{source_id}", headers=AUTH)
    assert after.json()["status"] == "active"


async def test_disconnect_needs_the_admin_token(harness: Harness) -> None:
    response = await harness.gateway.post(f"/admin/google/{harness.source.id}/disconnect")
    assert response.status_code == 401
    source = await harness.gateway.get(f"/admin/sources/{harness.source.id}", headers=AUTH)
    assert source.json()["status"] == "active"
