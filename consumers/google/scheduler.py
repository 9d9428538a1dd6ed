"""Coalescing: one sync per calendar at a time, and at most one more queued behind it.

`request` starts a sync loop for a calendar that has none; while a loop is waiting
to start or running, further requests only set its `pending` flag, so a burst of
notifications costs the run in progress plus one. A run starts once requests have
been quiet for `quiet_seconds` (a trailing debounce), but never later than
`max_delay_seconds` after the first request it serves, so a long stream of
notifications still syncs regularly.
Retriable failures are retried with growing delays; a revoked refresh token or an
inactive source ends the loop (the client already marked the source).

At most `max_running` runs go at once, over all calendars: a burst across many
calendars (the periodic check finding them all due, a restart resuming them, an
incident at Google) then queues instead of opening as many `events.list` calls and
store connections at once, which would run into Google's rate limits and the
connection pool's timeout, and fail syncs that only had to wait. A calendar waiting
for its turn still takes the requests that arrive meanwhile into that run.

Each completed run is reported to `on_run` with its trigger: `periodic` when every
request it serves came from the periodic check (`request(..., periodic=True)`),
`notification` otherwise. So what a periodic run finds is what no notification
announced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from consumers.google.errors import GoogleError
from consumers.google.sync import SyncResult, SyncTarget

log = logging.getLogger(__name__)

Key = tuple[str, str]

NOTIFICATION = "notification"
PERIODIC = "periodic"
TRIGGERS = (NOTIFICATION, PERIODIC)
"""Why a sync ran: a notification (or a sync owed since one), or only the periodic check."""

DEFAULT_MAX_RUNNING = 8


@dataclass
class _Loop:
    task: asyncio.Task[None] | None = None
    pending: bool = False
    periodic: bool = False
    """Every request the next run serves came from the periodic check."""
    first_request: float = 0.0
    last_request: float = 0.0


@dataclass
class SchedulerStats:
    requests: int = 0
    runs: int = 0
    failures: int = 0
    runs_by_calendar: dict[Key, int] = field(default_factory=dict)
    most_running: int = 0
    """The most runs that were in progress at once."""


class SyncScheduler:
    """Runs `run(target)` per calendar, coalescing requests that arrive meanwhile."""

    def __init__(
        self,
        run: Callable[[SyncTarget], Awaitable[SyncResult]],
        *,
        on_run: Callable[[str, SyncResult], None] | None = None,
        quiet_seconds: float = 1.0,
        max_delay_seconds: float = 30.0,
        retry_delays: Sequence[float] = (1.0, 5.0, 30.0),
        max_running: int = DEFAULT_MAX_RUNNING,
    ) -> None:
        self._run = run
        self._slots = asyncio.Semaphore(max_running)
        self._running = 0
        self._on_run = on_run
        self._quiet = quiet_seconds
        self._max_delay = max_delay_seconds
        self._retry_delays = tuple(retry_delays)
        self._loops: dict[Key, _Loop] = {}
        self.stats = SchedulerStats()

    def request(self, target: SyncTarget, *, periodic: bool = False) -> None:
        """Ask for a sync of `target` that starts after this call (`periodic`: asked by
        the periodic check, not because of a notification)."""
        self.stats.requests += 1
        key = (target.source_id, target.calendar_id)
        now = time.monotonic()
        loop = self._loops.get(key)
        if loop is not None:
            if not loop.pending:
                loop.first_request = now
                loop.periodic = periodic
            else:
                loop.periodic = loop.periodic and periodic
            loop.pending = True
            loop.last_request = now
            return
        loop = _Loop(pending=True, periodic=periodic, first_request=now, last_request=now)
        self._loops[key] = loop
        loop.task = asyncio.create_task(self._loop(key, target, loop), name=f"google-sync:{key}")

    @property
    def busy(self) -> bool:
        return bool(self._loops)

    async def wait_idle(self) -> None:
        """Return once no sync is running or queued."""
        while self._loops:
            tasks = [loop.task for loop in self._loops.values() if loop.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        tasks = [loop.task for loop in self._loops.values() if loop.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, key: Key, target: SyncTarget, loop: _Loop) -> None:
        failures = 0
        try:
            while True:
                await self._debounce(loop)
                try:
                    trigger, result = await self._run_in_turn(key, target, loop)
                    failures = 0
                except GoogleError as exc:
                    self.stats.failures += 1
                    if not exc.retriable or failures >= len(self._retry_delays):
                        log.warning("google: sync of %s/%s stopped: %s", *key, exc.detail)
                        return
                    await self._pause(key, failures, exc.detail)
                    failures += 1
                    self._retry_now(loop)
                except Exception:
                    self.stats.failures += 1
                    log.exception("google: sync of %s/%s failed", *key)
                    if failures >= len(self._retry_delays):
                        return
                    await self._pause(key, failures, "unexpected error")
                    failures += 1
                    self._retry_now(loop)
                else:
                    if self._on_run is not None:
                        self._on_run(trigger, result)
                if not loop.pending:
                    return
        finally:
            del self._loops[key]

    async def _run_in_turn(
        self, key: Key, target: SyncTarget, loop: _Loop
    ) -> tuple[str, SyncResult]:
        """One run, once a slot is free; returns its trigger and result."""
        async with self._slots:
            loop.pending = False  # requests from here on need a run after this one
            trigger = PERIODIC if loop.periodic else NOTIFICATION
            self.stats.runs += 1
            self.stats.runs_by_calendar[key] = self.stats.runs_by_calendar.get(key, 0) + 1
            self._running += 1
            self.stats.most_running = max(self.stats.most_running, self._running)
            try:
                return trigger, await self._run(target)
            finally:
                self._running -= 1

    @staticmethod
    def _retry_now(loop: _Loop) -> None:
        loop.pending = True
        loop.first_request = loop.last_request = time.monotonic() - 3600

    async def _debounce(self, loop: _Loop) -> None:
        while True:
            start_at = min(loop.last_request + self._quiet, loop.first_request + self._max_delay)
            wait = start_at - time.monotonic()
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _pause(self, key: Key, failures: int, why: str) -> None:
        delay = self._retry_delays[failures]
        log.info("google: sync of %s/%s retried in %.1fs (%s)", *key, delay, why)
        await asyncio.sleep(delay)
