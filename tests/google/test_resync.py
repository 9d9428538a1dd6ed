"""The periodic sync: a calendar whose notification was lost catches up without one.

Google drops a few push notifications. A watched calendar (an active channel of an
active source) not synced for `every` is claimed in the store and synced again; of
several claimers only one gets it; a claim not followed by a sync is due again later;
stopped channels and disconnected sources are left alone.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from consumers.google.resync import claim_due
from consumers.google.sync import SyncTarget
from consumers.metrics import ConsumerMetrics
from consumers.upkeep import upkeep_forever
from gateway.tasks import running
from tests.google.conftest import ADMIN_TOKEN, Harness
from tests.google.test_sync import CALENDAR, START, open_channel
from tests.kafka.consuming import eventually

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HOUR = timedelta(hours=1)


def _target(harness: Harness, calendar_id: str = CALENDAR) -> SyncTarget:
    return SyncTarget(harness.source.id, harness.source.tenant, calendar_id)


async def _watched_and_synced(harness: Harness) -> None:
    await open_channel(harness)
    await harness.emulator.create_event(CALENDAR, summary="Standup", start=START)
    await harness.settle()
    await harness.assert_store_matches(CALENDAR)


async def test_changes_whose_notifications_were_lost_arrive_with_the_periodic_sync(
    harness: Harness,
) -> None:
    metrics = ConsumerMetrics(CollectorRegistry(), event_types=[])
    metrics.watch_google(harness.google)
    await _watched_and_synced(harness)
    assert _sync_metrics(metrics) == {"notification": (1, 1), "periodic": (0, 0)}
    emulator = harness.emulator
    emulator.deliver = None  # Google drops the notifications of what follows
    first = next(iter(emulator.live_events(CALENDAR)))
    await emulator.update_event(CALENDAR, first, summary="Standup (moved)")
    await emulator.create_event(CALENDAR, summary="Review", start=START + HOUR)
    await harness.settle()
    assert len(await harness.store(CALENDAR)) == 1, "nothing told the gateway"

    # as `hookgate consume` and the embedded mode run it
    upkeep = upkeep_forever(harness.publisher.applier, harness.google, google_resync_seconds=1.0)
    async with running(upkeep, name="test-upkeep"):

        async def caught_up() -> bool:
            rows = await harness.store(CALENDAR)
            return len(rows) == 2 and rows[first]["summary"] == "Standup (moved)"

        await eventually(caught_up, timeout=15, what="the periodic sync to bring the lost changes")
        await harness.settle()
    await harness.assert_store_matches(CALENDAR)
    counted = _sync_metrics(metrics)
    assert counted["notification"] == (1, 1), "no notification came"
    periodic_runs, lost_changes = counted["periodic"]
    assert periodic_runs >= 1
    assert lost_changes == 2, "the moved and the new event, which no notification announced"


def _sync_metrics(metrics: ConsumerMetrics) -> dict[str, tuple[int, int]]:
    """Per trigger: (sync runs, events they found changed or removed), as scraped."""
    registry = metrics.registry
    counted = {}
    for trigger in ("notification", "periodic"):
        runs = registry.get_sample_value("hookgate_google_syncs_total", {"trigger": trigger})
        changes = registry.get_sample_value(
            "hookgate_google_sync_changes_total", {"trigger": trigger, "origin": "remote"}
        )
        assert runs is not None
        assert changes is not None
        counted[trigger] = (int(runs), int(changes))
    return counted


async def test_a_calendar_is_due_once_it_has_not_synced_for_the_interval(
    harness: Harness,
) -> None:
    await _watched_and_synced(harness)
    now = datetime.now(UTC)

    assert await claim_due(harness.engine, now, HOUR) == [], "synced just now"
    later = now + 2 * HOUR
    assert await claim_due(harness.engine, later, HOUR) == [_target(harness)]
    assert await claim_due(harness.engine, later, HOUR) == [], "claimed already"
    assert await claim_due(harness.engine, later + HOUR / 2, HOUR) == [], "claimed recently"
    # a claim whose sync never ran (its process died) is due again an interval later
    abandoned = later + HOUR + timedelta(seconds=1)
    assert await claim_due(harness.engine, abandoned, HOUR) == [_target(harness)]

    runs = harness.google.scheduler.stats.runs
    harness.google.scheduler.request(_target(harness))  # what the resync loop does
    await harness.settle()
    assert harness.google.scheduler.stats.runs == runs + 1
    synced = datetime.now(UTC)
    assert await claim_due(harness.engine, synced + HOUR / 2, HOUR) == [], "synced just now"
    assert await claim_due(harness.engine, synced + 2 * HOUR, HOUR) == [_target(harness)]


async def test_a_watched_calendar_never_synced_is_due_an_interval_after_its_channel_opened(
    harness: Harness,
) -> None:
    await open_channel(harness, "quiet@example.com")  # no change, so no sync yet
    now = datetime.now(UTC)
    assert await claim_due(harness.engine, now + HOUR / 2, HOUR) == []
    assert await claim_due(harness.engine, now + 2 * HOUR, HOUR) == [
        _target(harness, "quiet@example.com")
    ]
    assert await claim_due(harness.engine, now + 2 * HOUR, HOUR) == []


async def test_of_concurrent_claimers_only_one_gets_a_calendar(harness: Harness) -> None:
    await _watched_and_synced(harness)
    later = datetime.now(UTC) + 2 * HOUR
    results = await asyncio.gather(*(claim_due(harness.engine, later, HOUR) for _ in range(4)))
    assert sorted(len(claimed) for claimed in results) == [0, 0, 0, 1]


async def test_stopped_channels_and_disconnected_sources_are_not_synced_again(
    harness: Harness,
) -> None:
    await _watched_and_synced(harness)
    other = await open_channel(harness, "other@example.com")
    later = datetime.now(UTC) + 2 * HOUR

    response = await harness.gateway.delete(
        f"/admin/google/{harness.source.id}/channels/{other['id']}", headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert await claim_due(harness.engine, later, HOUR) == [_target(harness)]

    response = await harness.gateway.post(
        f"/admin/google/{harness.source.id}/disconnect", headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert await claim_due(harness.engine, later + 2 * HOUR, HOUR) == []
