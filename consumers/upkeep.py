"""The consumers' periodic work, the same wherever they run (`hookgate consume` or the
embedded mode): ledger and audit log pruning, the Google periodic sync, the Google
write outbox, the sweep that completes bookings whose meeting has ended, and writing
the sources' last deliveries that waited for their interval."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from consumers.apply import Applier
from consumers.bookings.sweeper import MeetingSweeper
from consumers.google.wiring import GoogleSync
from consumers.retention import AUDIT_RETENTION, Pruner, prune_forever


async def upkeep_forever(
    applier: Applier,
    google: GoogleSync,
    *,
    google_resync_seconds: float,
    prune_audit: Pruner | None = None,
    audit_retention: timedelta = AUDIT_RETENTION,
    google_write_poll_seconds: float = 1.0,
) -> None:
    """Prune the ledger and, given `prune_audit`, the audit log (entries older than
    `audit_retention`), run the Google write outbox, complete ended meetings and, unless
    `google_resync_seconds` is 0, sync the watched Google calendars that notifications
    left behind; until cancelled (each loop outlives its own errors)."""
    loops: list[Coroutine[Any, Any, None]] = [
        prune_forever(applier.prune),
        google.write_forever(google_write_poll_seconds),
        MeetingSweeper(applier.engine).run_forever(),
    ]
    if prune_audit is not None:
        loops.append(prune_forever(prune_audit, retention=audit_retention, what="audit log"))
    if applier.deliveries is not None:
        loops.append(applier.deliveries.flush_forever())
    if google_resync_seconds:
        loops.append(google.resync_forever(google_resync_seconds))
    await asyncio.gather(*loops)
