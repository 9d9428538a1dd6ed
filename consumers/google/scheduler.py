"""Coalescing: one sync per calendar at a time, and at most one more queued behind it.

`request` starts a sync loop for a calendar that has none; while a loop is waiting
to start or running, further requests only set its `pending` flag, so a burst of
notifications costs the run in progress plus one. A run starts once requests have
been quiet for `quiet_seconds` (a trailing debounce), but never later than
`max_delay_seconds` after the first request it serves, so a long stream of
notifications still syncs regularly.
Retriable failures are retried with growing delays; a revoked refresh token or an
inactive source ends the loop (the client already marked the source).

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
    ) -> None:
        self._run = run
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
                loop.pending = False
                self.stats.runs += 1
                self.stats.runs_by_calendar[key] = self.stats.runs_by_calendar.get(key, 0) + 1
                trigger = PERIODIC if loop.periodic else NOTIFICATION
                try:
                    result = await self._run(target)
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
