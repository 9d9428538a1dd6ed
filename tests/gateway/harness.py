"""A real gateway on a loopback port, served as `hookgate serve` serves it, in the test loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr
from sqlalchemy import insert
from starlette.applications import Starlette

from gateway.commands.serve import listeners, server_config
from gateway.settings import Settings
from gateway.store.migrate import upgrade
from schemas.google_store import google_channels

ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET_KEYS = ("newest-test-key-abcdefghijklmnop", "older-test-key-abcdefghijklmnop")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_settings(tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp / 'store.db'}",
        "spool_path": tmp / "spool.db",
        "admin_token": SecretStr(ADMIN_TOKEN),
        "secret_keys": tuple(SecretStr(k) for k in SECRET_KEYS),
        "dev_key_path": tmp / "dev.key",
        "host": "127.0.0.1",
        "port": free_port(),
        # never the real providers: nothing in a test leaves this machine
        "google_api_base": "http://127.0.0.1:9",
        "google_token_url": "http://127.0.0.1:9/token",
        "calendly_api_base": "http://127.0.0.1:9",
        "pco_api_base": "http://127.0.0.1:9",
        "ghl_api_base": "http://127.0.0.1:9",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class RunningGateway:
    app: Starlette
    settings: Settings
    client: httpx.AsyncClient
    admin: httpx.AsyncClient

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    async def add_source(self, provider: str, **body: Any) -> dict[str, Any]:
        response = await self.admin.post("/admin/sources", json={"provider": provider, **body})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def add_google_channel(
        self, source_id: str, calendar_id: str = "team@example.com", *, state: str = "active"
    ) -> str:
        """Store a Google channel of the source watching `calendar_id` (as `events.watch`
        through the admin API would); its id."""
        return await store_google_channel(self.app, source_id, calendar_id, state=state)


async def store_google_channel(
    app: Starlette, source_id: str, calendar_id: str, *, state: str = "active"
) -> str:
    """A channel row as `ChannelManager.open` stores it, the running app's cache told."""
    context = app.state.context
    channel_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    async with context.engine.begin() as connection:
        await connection.execute(
            insert(google_channels).values(
                id=channel_id,
                source_id=source_id,
                calendar_id=calendar_id,
                resource_id="ret08u3rv24htgh289g",
                state=state,
                expires_at=now + timedelta(days=7),
                created_at=now,
            )
        )
    context.cache.invalidate(source_id)
    return channel_id


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, build: Callable[[Settings], Starlette], *, migrate: bool = True
) -> AsyncIterator[RunningGateway]:
    """Serve `build(settings)` as `hookgate serve` does (`server_config`, `listeners`:
    the bounded httptools protocol and, with an admin port, both listeners), on the
    test's event loop; `admin` talks to the admin listener with the admin token."""
    if migrate:
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
            yield RunningGateway(app=app, settings=settings, client=client, admin=admin)
    finally:
        server.should_exit = True
        await serving
        for sock in sockets:
            sock.close()


class FrozenClock:
    """A settable clock for the gateway (verifiers get `now` from it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
