"""An HTTP client and a settable clock for the emulator tests (`providers` serves the
emulators on the real clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest_asyncio

from tests.emulators.suite import ProviderEmulators
from tests.fixtures.net import serve_on_loopback


class Clock:
    """A clock that moves only when a test moves it."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest_asyncio.fixture
async def clocked() -> AsyncIterator[tuple[ProviderEmulators, Clock]]:
    """Emulators on a settable clock, served on loopback."""
    clock = Clock()
    emulators = ProviderEmulators(now=clock)
    async with serve_on_loopback(emulators.app) as base:
        emulators.served_at(base)
        yield emulators, clock
