"""Google: events synced per second from the emulator, and sync runs per notification burst.

The gateway and the Google sync are wired as in `tests/google` (the gateway's
webhook publishes straight into the applier, so the bus is not what is measured
here), on the bench's PostgreSQL database, against the Google Calendar emulator
on loopback with the production page size (250). First a full sync of a calendar
of `events` events, timed around `CalendarSync.run`; then a few changes and a
burst of `notifications` `exists` notifications through the gateway, each with a
message number of its own (`tests.google.test_sync.notification_burst`), and the
scheduler's sync runs for that calendar are counted.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.google.sync import SyncTarget
from tests.bench.stack import SECRET_KEY, Stack
from tests.bench.table import Line
from tests.emulators.google import GoogleEmulator
from tests.fixtures.google import GoogleAccount
from tests.fixtures.net import serve_on_loopback
from tests.google.conftest import Harness, open_harness
from tests.google.test_sync import notification_burst, open_channel

CALENDAR = "bench@example.com"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CLIENT_ID = "bench.apps.googleusercontent.com"
CLIENT_SECRET = "bench-client-secret"


@dataclass(frozen=True)
class GoogleOptions:
    events: int = 2_000
    notifications: int = 1_000


@dataclass(frozen=True)
class GoogleFigures:
    events: int
    sync_seconds: float
    notifications: int
    burst_seconds: float
    requests: int
    """Sync requests the burst made (one per notification the ledger found new)."""
    runs: int
    statuses_ok: bool

    @property
    def events_per_second(self) -> float:
        return self.events / self.sync_seconds if self.sync_seconds else 0.0


async def run_google(stack: Stack, options: GoogleOptions) -> GoogleFigures:
    print("google: emulator, gateway, sync", file=sys.stderr, flush=True)
    emulator = GoogleEmulator()
    refresh = emulator.add_client(CLIENT_ID, CLIENT_SECRET)
    engine = stack.engine()
    try:
        async with serve_on_loopback(emulator.app) as base:
            account = GoogleAccount(
                emulator, base, f"{base}/token", CLIENT_ID, CLIENT_SECRET, refresh
            )
            return await _measure(stack, account, engine, options)
    finally:
        await engine.dispose()


async def _measure(
    stack: Stack, account: GoogleAccount, engine: AsyncEngine, options: GoogleOptions
) -> GoogleFigures:
    async with open_harness(
        account,
        engine,
        stack.workdir,
        tenant="bench-google",
        secret_key=SECRET_KEY,
        rate_limit_per_second=0,
    ) as harness:
        return await _scenario(harness, harness.source.id, options)


async def _scenario(harness: Harness, source_id: str, options: GoogleOptions) -> GoogleFigures:
    emulator = harness.emulator
    emulator.deliver = harness.post_notification
    channel = await open_channel(harness, CALENDAR)
    await harness.settle()
    emulator.deliver = None
    for n in range(options.events):
        await emulator.create_event(
            CALENDAR, summary=f"Event {n}", start=START + timedelta(minutes=30 * n)
        )
    target = SyncTarget(source_id=source_id, tenant="bench-google", calendar_id=CALENDAR)
    started = time.perf_counter()
    await harness.google.sync.run(target)
    sync_seconds = time.perf_counter() - started

    emulated = emulator.channels[str(channel["id"])]
    for n in range(5):
        await emulator.update_event(
            CALENDAR, next(iter(emulator.live_events(CALENDAR))), summary=f"Changed {n}"
        )
    key = (source_id, CALENDAR)
    stats = harness.google.scheduler.stats
    runs_before, requests_before = stats.runs_by_calendar.get(key, 0), stats.requests
    started = time.perf_counter()
    statuses = await notification_burst(harness, emulated, options.notifications)
    burst_seconds = time.perf_counter() - started
    await harness.settle()
    runs = stats.runs_by_calendar.get(key, 0) - runs_before
    await harness.assert_store_matches(CALENDAR)
    return GoogleFigures(
        events=options.events,
        sync_seconds=sync_seconds,
        notifications=options.notifications,
        burst_seconds=burst_seconds,
        requests=stats.requests - requests_before,
        runs=runs,
        statuses_ok=all(status == 200 for status in statuses),
    )


def google_lines(figures: GoogleFigures) -> list[Line]:
    answered = "" if figures.statuses_ok else " (some notifications were not answered 200)"
    return [
        Line(
            f"Google sync runs for a {figures.notifications:,}-notification burst (1 calendar)",
            f"{figures.runs} run(s){answered}",
            f"burst sent in {figures.burst_seconds:.1f} s; "
            f"{figures.requests:,} sync requests coalesced",
            "",
            "<= 2 runs",
            figures.runs <= 2 and figures.statuses_ok,
        ),
        Line(
            f"Google events synced per second (full sync of {figures.events:,} events)",
            f"{figures.events_per_second:,.0f} events/s",
            f"{figures.sync_seconds:.2f} s, pages of 250",
        ),
    ]
