"""The sync scheduler's bookkeeping, without a store or an API behind it.

Which runs count as periodic: only those every request of which came from the check
(what a periodic run finds is reported as changes no notification announced, so a run
that also serves a notification must count as a notification's run). And a calendar
waiting for a free slot takes the requests that arrive meanwhile into its one run.
"""

from __future__ import annotations

import asyncio

from consumers.google.scheduler import NOTIFICATION, PERIODIC, SyncScheduler
from consumers.google.sync import SyncResult, SyncTarget

TARGET = SyncTarget("src_1", "acme", "primary")
OTHER = SyncTarget("src_1", "acme", "other")


class Runs:
    """A sync that reports a different change count per run, and can be held mid-run."""

    def __init__(self) -> None:
        self.reported: list[tuple[str, int]] = []
        self.count = 0
        self.release = asyncio.Event()
        self.release.set()
        self.started = asyncio.Event()

    async def run(self, target: SyncTarget) -> SyncResult:
        self.count += 1
        self.started.set()
        await self.release.wait()
        return SyncResult(full=False, pages=1, changed=self.count, removed=0)

    def on_run(self, trigger: str, result: SyncResult) -> None:
        self.reported.append((trigger, result.changed))


def _scheduler(runs: Runs) -> SyncScheduler:
    return SyncScheduler(runs.run, on_run=runs.on_run, quiet_seconds=0.01)


async def test_a_run_only_the_periodic_check_asked_for_is_periodic() -> None:
    runs = Runs()
    scheduler = _scheduler(runs)
    scheduler.request(TARGET, periodic=True)
    await scheduler.wait_idle()
    scheduler.request(TARGET)
    await scheduler.wait_idle()
    assert runs.reported == [(PERIODIC, 1), (NOTIFICATION, 2)]


async def test_a_run_that_also_serves_a_notification_is_the_notifications() -> None:
    runs = Runs()
    scheduler = _scheduler(runs)
    scheduler.request(TARGET, periodic=True)
    scheduler.request(TARGET)
    await scheduler.wait_idle()
    scheduler.request(TARGET)
    scheduler.request(TARGET, periodic=True)
    await scheduler.wait_idle()
    assert runs.reported == [(NOTIFICATION, 1), (NOTIFICATION, 2)]


async def test_a_periodic_request_during_a_notifications_run_makes_a_periodic_run() -> None:
    runs = Runs()
    scheduler = _scheduler(runs)
    runs.release.clear()
    scheduler.request(TARGET)
    await runs.started.wait()
    scheduler.request(TARGET, periodic=True)  # queued behind the run in progress
    runs.release.set()
    await scheduler.wait_idle()
    assert runs.reported == [(NOTIFICATION, 1), (PERIODIC, 2)]


async def test_a_failed_run_is_not_reported() -> None:
    reported: list[str] = []

    async def failing(target: SyncTarget) -> SyncResult:
        raise RuntimeError("the store is gone")

    scheduler = SyncScheduler(
        failing,
        on_run=lambda trigger, result: reported.append(trigger),
        quiet_seconds=0.01,
        retry_delays=(0.01,),
    )
    scheduler.request(TARGET, periodic=True)
    await scheduler.wait_idle()
    assert scheduler.stats.failures == 2
    assert reported == []


async def test_requests_for_a_calendar_waiting_for_a_slot_join_its_one_run() -> None:
    runs = Runs()
    scheduler = SyncScheduler(runs.run, on_run=runs.on_run, quiet_seconds=0.01, max_running=1)
    runs.release.clear()
    scheduler.request(OTHER)
    await runs.started.wait()  # OTHER holds the only slot
    scheduler.request(TARGET, periodic=True)
    await asyncio.sleep(0.05)  # past TARGET's debounce: it waits for the slot
    scheduler.request(TARGET)
    scheduler.request(TARGET)
    assert scheduler.stats.runs == 1
    runs.release.set()
    await scheduler.wait_idle()
    assert scheduler.stats.runs_by_calendar == {("src_1", "other"): 1, ("src_1", "primary"): 1}
    assert runs.reported == [(NOTIFICATION, 1), (NOTIFICATION, 2)]
    assert scheduler.stats.most_running == 1
