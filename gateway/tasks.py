"""Work that runs beside something else for exactly as long as it does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


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
