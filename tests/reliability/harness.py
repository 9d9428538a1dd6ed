"""The reliability tests' view of a served gateway: tests/gateway/harness.py's, plus its spool."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from gateway.bus.spool import Spool
from gateway.settings import Settings
from tests.gateway.harness import ADMIN_HEADERS, running_gateway

__all__ = ["ADMIN_HEADERS", "Served", "serve"]


@dataclass
class Served:
    app: Starlette
    settings: Settings
    client: httpx.AsyncClient
    admin: httpx.AsyncClient

    @property
    def host(self) -> str:
        return self.settings.host

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def spool(self) -> Spool:
        bus = self.app.state.context.bus
        assert bus is not None
        spool: Spool = bus.spool
        return spool

    async def spooled(self) -> int:
        return len(await self.spool.read(0, 1_000_000))

    async def add_source(self, provider: str, **body: Any) -> str:
        response = await self.admin.post("/admin/sources", json={"provider": provider, **body})
        assert response.status_code == 201, response.text
        source_id: str = response.json()["id"]
        return source_id


@contextlib.asynccontextmanager
async def serve(
    settings: Settings, build: Callable[[Settings], Starlette]
) -> AsyncIterator[Served]:
    async with running_gateway(settings, build) as running:
        yield Served(app=running.app, settings=settings, client=running.client, admin=running.admin)
