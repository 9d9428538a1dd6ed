"""`/healthz` (the process answers), `/readyz` (store and bus reachable), `/metrics`."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from gateway.bus.publish import Publisher
from gateway.ingress.responses import JSON

READY_TIMEOUT_SECONDS = 2.0


class Health:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._engine: AsyncEngine | None = None
        self._publisher: Publisher | None = None

    def attach(self, engine: AsyncEngine, publisher: Publisher) -> None:
        self._engine = engine
        self._publisher = publisher

    async def healthz(self, request: Request) -> Response:
        return JSON({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        checks = {"store": await self._store_ok(), "bus": await self._bus_ok()}
        ready = all(checks.values())
        body = {"status": "ready" if ready else "unready"} | {
            name: "ok" if ok else "unreachable" for name, ok in checks.items()
        }
        return JSON(body, status_code=200 if ready else 503)

    async def metrics(self, request: Request) -> Response:
        return Response(generate_latest(self._registry), media_type=CONTENT_TYPE_LATEST)

    async def _store_ok(self) -> bool:
        if self._engine is None:
            return False
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 (any failure means not ready)
            return False
        return True

    async def _bus_ok(self) -> bool:
        if self._publisher is None:
            return False
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                return await self._publisher.ready()
        except Exception:  # noqa: BLE001 (any failure means not ready)
            return False
