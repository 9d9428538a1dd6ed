"""Work that runs beside something else: for exactly as long as it does, and, for a
loop that must not stop (the relay), started again whenever it crashes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def running(coroutine: Coroutine[Any, Any, object], *, name: str) -> AsyncIterator[None]:
    """Run `coroutine` as a task while the block runs; cancel it and wait for it on exit."""
    task = asyncio.create_task(coroutine, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def supervised(
    run: Callable[[], Awaitable[object]],
    *,
    what: str,
    on_crash: Callable[[Exception], None] | None = None,
    initial_backoff_seconds: float = 1.0,
    max_backoff_seconds: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Await `run()` until it returns or is cancelled; start it again whenever it raises.

    Each crash is logged once, as an error naming the exception's class and the line
    that raised it, never its message (it may quote a payload), and handed to
    `on_crash` (for a counter). The restart waits a back-off that doubles from
    `initial_backoff_seconds` up to `max_backoff_seconds`, and starts over once a run
    lasted longer than the longest back-off.
    """
    backoff = initial_backoff_seconds
    while True:
        started = clock()
        try:
            await run()
        except Exception as exc:  # noqa: BLE001 - whatever ended the loop, it is restarted
            if clock() - started > max_backoff_seconds:
                backoff = initial_backoff_seconds
            log.error(
                "%s crashed (%s%s); restarting it in %.1f s.",
                what,
                type(exc).__name__,
                _raised_at(exc),
                backoff,
            )
            if on_crash is not None:
                on_crash(exc)
            await sleep(backoff)
            backoff = min(backoff * 2, max_backoff_seconds)
        else:
            return


def _raised_at(exc: BaseException) -> str:
    """` at file.py:123 in function`, where `exc` was raised (no values)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    return f" at {Path(frame.filename).name}:{frame.lineno} in {frame.name}"
