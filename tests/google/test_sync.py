"""Notifications through the gateway → coalesced incremental syncs → `appointments`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from tests.emulators.google import EmulatedChannel
from tests.google.conftest import ADMIN_TOKEN, Harness

CALENDAR = "team@example.com"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def open_channel(harness: Harness, calendar_id: str = CALENDAR) -> dict[str, object]:
    response = await harness.gateway.post(
        f"/admin/google/{harness.source.id}/channels",
        json={"calendar_id": calendar_id},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_create_update_cancel_through_the_gateway(harness: Harness) -> None:
    await open_channel(harness)
    emulator = harness.emulator
    assert [status for _, headers, status in emulator.delivered] == [200]  # the `sync` handshake
    await harness.settle()
    assert emulator.counters.list_sequences == 1  # the opening's first sync, not the handshake

    first = await emulator.create_event(CALENDAR, summary="Standup", start=START)
    second = await emulator.create_event(
        CALENDAR, summary="Review", start=START + timedelta(hours=2)
    )
    await harness.settle()
    await harness.assert_store_matches(CALENDAR)
    assert len(await harness.store(CALENDAR)) == 2

    await emulator.update_event(
        CALENDAR, first.id, summary="Standup (moved)", start=START + timedelta(days=1)
    )
    await harness.settle()
    await harness.assert_store_matches(CALENDAR)

    await emulator.cancel_event(CALENDAR, second.id)
    await harness.settle()
    await harness.assert_store_matches(CALENDAR)
    rows = await harness.store(CALENDAR)
    assert rows[second.id]["status"] == "cancelled"
    assert rows[first.id]["summary"] == "Standup (moved)"

    for n in range(20):  # more than a few pages of 7
        await emulator.create_event(CALENDAR, summary=f"Slot {n}", start=START + timedelta(hours=n))
    await harness.settle()
    await harness.assert_store_matches(CALENDAR)
    assert all(status == 200 for _, _, status in emulator.delivered)


async def test_opening_a_channel_syncs_the_calendar_without_a_notification(
    harness: Harness,
) -> None:
    """Events made before the channel are in the store once it is open: its opening
    starts the first full sync, not the first change or the periodic resync."""
    emulator = harness.emulator
    for n in range(10):  # more than a page of 7
        await emulator.create_event(
            CALENDAR, summary=f"Before {n}", start=START + timedelta(hours=n)
        )
    emulator.deliver = None  # no notification reaches the gateway, not even the handshake

    await open_channel(harness)
    await harness.settle()

    assert emulator.delivered == []
    assert len(await harness.store(CALENDAR)) == 10
    await harness.assert_store_matches(CALENDAR)


async def test_a_burst_of_1000_notifications_costs_at_most_two_syncs(harness: Harness) -> None:
    channel = await open_channel(harness)
    emulator = harness.emulator
    for n in range(30):
        await emulator.create_event(
            CALENDAR, summary=f"Event {n}", start=START + timedelta(hours=n)
        )
    await harness.settle()
    runs_before = harness.google.scheduler.stats.runs
    sequences_before = emulator.counters.list_sequences
    emulated = emulator.channels[str(channel["id"])]
    emulator.deliver = None  # changes now notify nobody: the burst below is the only trigger
    for n in range(5):
        await emulator.update_event(
            CALENDAR, next(iter(emulator.live_events(CALENDAR))), summary=f"Changed {n}"
        )
    started = asyncio.get_running_loop().time()
    statuses = await notification_burst(harness, emulated, 1000)
    burst_seconds = asyncio.get_running_loop().time() - started
    await harness.settle()
    runs = harness.google.scheduler.stats.runs - runs_before
    sequences = emulator.counters.list_sequences - sequences_before
    print(
        f"\n1000 notifications in {burst_seconds:.2f}s -> {runs} sync runs, "
        f"{sequences} events.list sequences"
    )
    assert statuses == [200] * 1000
    assert 1 <= runs <= 2
    assert sequences == runs
    await harness.assert_store_matches(CALENDAR)


BURST_IN_FLIGHT = 20


async def notification_burst(
    harness: Harness, channel: EmulatedChannel, count: int, *, in_flight: int = BURST_IN_FLIGHT
) -> list[int]:
    """`count` `exists` notifications of `channel` through the gateway; their statuses.

    Each has a message number of its own, as Google numbers a channel's messages (a few
    skipped, as lost messages leave them), so none is a redelivery the ledger drops.
    `in_flight` go at once and each answer sends the next, so they arrive back to back
    however slow the machine. Sent in chunks of 100, each chunk awaited whole, the pause
    before the next chunk could outlast the scheduler's 1 s quiet time, and each chunk
    was a burst of its own (1.2-1.8 s and 7 sync runs, in a run with the gateway client
    keeping 100 connections open).
    """
    deliver = harness_deliver(harness)
    gate = asyncio.Semaphore(in_flight)

    async def notify(n: int) -> int:
        async with gate:
            channel.message_number += 1 + n % 3
            return await deliver(channel)

    return list(await asyncio.gather(*(notify(n) for n in range(count))))


def harness_deliver(harness: Harness) -> Callable[[EmulatedChannel], Awaitable[int]]:
    """Send one `exists` notification of `channel` through the gateway; return its status."""
    emulator = harness.emulator

    async def deliver(channel: EmulatedChannel) -> int:
        emulator.deliver = harness.post_notification
        try:
            await emulator.send_notification(channel, "exists")
        finally:
            emulator.deliver = None
        return int(emulator.delivered[-1][2])

    return deliver
