"""Reading a request body under a size bound, without reading an oversized one whole."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from starlette.types import Receive


class BodyTooLarge(Exception):
    """The request body is larger than the configured limit."""


class ClientGone(Exception):
    """The client disconnected before the whole body arrived."""


def declared_too_large(headers: Mapping[str, str], limit: int) -> bool:
    """True when Content-Length (`headers` by lowercase name) already exceeds `limit`."""
    declared = headers.get("content-length")
    return declared is not None and declared.isdigit() and int(declared) > limit


async def read_bounded(receive: Receive, limit: int) -> bytes:
    """The whole body from ASGI `receive`, or `BodyTooLarge` once more than `limit` arrived."""
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: one message holds it all
        if len(body) > limit:
            raise BodyTooLarge
        return body
    chunks = [body]
    size = len(body)
    while True:
        if size > limit:
            raise BodyTooLarge
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if size > limit:
        raise BodyTooLarge
    return b"".join(chunks)


@dataclass(slots=True, eq=False)
class _Read:
    task: asyncio.Task[Any]
    deadline: float
    finished: bool = False
    expired: bool = False


class BodyDeadlines:
    """Bounds body reads in time with one watchdog task, not a timer per request.

    A webhook body nearly always arrives with its headers, so arming and cancelling an
    `asyncio.timeout` per request is mostly wasted work. Reads are listed in arrival
    order (they share one time limit, so the oldest is due first); every `tick` the
    watchdog drops finished ones from the front and cancels the reads past their
    deadline, which then raise `TimeoutError`. Run it with `async with deadlines:`;
    outside that, each read falls back to `asyncio.timeout`.
    """

    def __init__(self, seconds: float, *, tick: float = 0.1) -> None:
        self.seconds = seconds
        self._tick = min(tick, seconds / 10)
        self._reads: deque[_Read] = deque()
        self._pending = asyncio.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._watchdog = asyncio.create_task(self._watch(), name="hookgate-body-deadlines")
        return self

    async def __aexit__(self, *exc: object) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        self._reads.clear()

    async def read(self, receive: Receive, limit: int) -> bytes:
        """`read_bounded`, or `TimeoutError` once the body took longer than `seconds`."""
        loop = self._loop
        # With the loop given, current_task skips the running-loop lookup (a getpid each).
        task = asyncio.current_task(loop) if loop is not None else None
        if self._watchdog is None or loop is None or task is None:
            async with asyncio.timeout(self.seconds):
                return await read_bounded(receive, limit)
        read = _Read(task, loop.time() + self.seconds)
        self._reads.append(read)
        self._pending.set()
        try:
            return await read_bounded(receive, limit)
        except asyncio.CancelledError:
            if read.expired and task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            read.finished = True

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        reads = self._reads
        while True:
            if not reads:
                self._pending.clear()
                await self._pending.wait()
            await asyncio.sleep(self._tick)
            now = loop.time()
            while reads and (reads[0].finished or reads[0].deadline <= now):
                read = reads.popleft()
                if not read.finished:
                    read.expired = True
                    read.task.cancel()
