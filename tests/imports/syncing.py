"""Helpers for the import tests: emulators on a settable clock, the serving app with its
embedded consumers and sync runner, and a sync run to its end through the admin API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from gateway.runtime.serve import build_app
from tests.emulators.conftest import Clock
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import RunningGateway, running_gateway
from tests.fixtures.net import serve_on_loopback
from tests.gateway.connecting import connect_settings


@contextlib.asynccontextmanager
async def clocked_emulators() -> AsyncIterator[tuple[ProviderEmulators, Clock]]:
    """The emulators on a clock that moves when the test moves it (PCO stamps whole
    seconds: an update needs a later second to be newer)."""
    clock = Clock()
    emulators = ProviderEmulators(now=clock)
    async with serve_on_loopback(emulators.app) as base:
        emulators.served_at(base)
        yield emulators, clock


@contextlib.asynccontextmanager
async def serving(
    tmp: Path, emulators: ProviderEmulators, store_url: str
) -> AsyncIterator[RunningGateway]:
    settings = connect_settings(tmp, emulators, database_url=store_url)
    async with running_gateway(settings, build_app) as gateway:
        yield gateway


async def start_sync(gateway: RunningGateway, source: str, mode: str = "full") -> str:
    response = await gateway.admin.post(f"/admin/sources/{source}/sync", json={"mode": mode})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "running"
    sync_id: str = response.json()["id"]
    return sync_id


async def finished(gateway: RunningGateway, sync_id: str, timeout: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            body: dict[str, Any] = (await gateway.admin.get(f"/admin/syncs/{sync_id}")).json()
            if body["status"] != "running":
                return body
            await asyncio.sleep(0.05)


async def sync(gateway: RunningGateway, source: str, mode: str = "full") -> dict[str, Any]:
    """Run a sync of `source` to its end; its final view."""
    return await finished(gateway, await start_sync(gateway, source, mode))


def counts(view: dict[str, Any]) -> dict[str, int]:
    return {
        name.removeprefix("items_"): view[name]
        for name in (
            "items_processed",
            "items_created",
            "items_updated",
            "items_unchanged",
            "items_deleted",
            "items_failed",
        )
    }
