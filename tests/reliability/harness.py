"""A gateway served exactly as `hookgate serve` serves it, in the test's event loop.

Unlike tests/gateway/harness.py this goes through `serve.server_config` and
`serve.listeners`: the bounded httptools protocol and, with an admin port, both
listeners on one app.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from gateway.commands.serve import listeners, server_config
from gateway.migrate import upgrade
from gateway.settings import Settings
from gateway.spool import Spool
from tests.gateway.harness import ADMIN_TOKEN

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


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
    await upgrade(settings.database_url)
    app = build(settings)
    config = server_config(app, settings, loop="none", lifespan="on", workers=1)
    sockets = listeners(settings, settings.host, settings.port)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=sockets))
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    base = f"http://{settings.host}:{settings.port}"
    admin_base = (
        f"http://{settings.admin_host or settings.host}:{settings.admin_port or settings.port}"
    )
    try:
        async with (
            httpx.AsyncClient(base_url=base, timeout=30) as client,
            httpx.AsyncClient(base_url=admin_base, timeout=30, headers=ADMIN_HEADERS) as admin,
        ):
            yield Served(app=app, settings=settings, client=client, admin=admin)
    finally:
        server.should_exit = True
        await serving
        for sock in sockets:
            sock.close()
