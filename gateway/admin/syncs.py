"""Sync routes: start an import or reconciliation, read and cancel syncs.

    POST /admin/sources/{id}/sync   {"mode": "full"|"incremental"} -> 202 {"id", "status"}
                                    409 sync_running while one runs for the source
    GET  /admin/syncs/{id}          the sync (counts, times, error)
    POST /admin/syncs/{id}/cancel   -> 202; it stops at its next page, deleting nothing
    GET  /admin/sources/{id}/syncs  {"syncs": [...]}, the latest first

The jobs themselves (`consumers.imports`) are composed in by the runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.admin.audit import note_source
from gateway.admin.input import parse_body
from gateway.ingress.responses import JSON, error
from gateway.store.sources import SourceRepository


class SyncView(Protocol):
    def as_json(self) -> dict[str, Any]: ...


class SyncStore(Protocol):
    async def create(
        self, *, source_id: str, provider: str, tenant: str, mode: str, now: datetime
    ) -> SyncView | None: ...

    async def get(self, sync_id: str) -> SyncView | None: ...

    async def for_source(self, source_id: str, *, limit: int = 50) -> list[Any]: ...

    async def cancel(self, sync_id: str) -> bool: ...


class StartSync(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["full", "incremental"] = "full"


class SyncRoutes:
    def __init__(
        self,
        jobs: SyncStore,
        repository: SourceRepository,
        *,
        importable: frozenset[str],
        clock: Callable[[], datetime],
        started: Callable[[], None] = lambda: None,
    ) -> None:
        """`importable`: the providers with an import (`consumers.providers.IMPORTERS`)."""
        self._jobs = jobs
        self._importable = importable
        self._repository = repository
        self._clock = clock
        self._started = started

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/sources/{source_id}/sync", self.start, methods=["POST"]),
            Route("/sources/{source_id}/syncs", self.list, methods=["GET"]),
            Route("/syncs/{sync_id}", self.get, methods=["GET"]),
            Route("/syncs/{sync_id}/cancel", self.cancel, methods=["POST"]),
        ]

    async def start(self, request: Request) -> Response:
        source = await self._repository.get(request.path_params["source_id"])
        if source is None:
            return error(404, "unknown_source", "No source with this id exists.")
        parsed: StartSync | Response = StartSync()
        headers = request.headers
        if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
            parsed = await parse_body(request, StartSync)
        if isinstance(parsed, Response):
            return parsed
        if source.provider not in self._importable:
            return error(422, "not_importable", f"{source.provider} sources have no import.")
        if not source.has_credentials:
            return error(
                422,
                "no_credentials",
                "This source has no credentials to import with: connect it or give it credentials.",
            )
        job = await self._jobs.create(
            source_id=source.id,
            provider=source.provider,
            tenant=source.tenant,
            mode=parsed.mode,
            now=self._clock(),
        )
        if job is None:
            return error(409, "sync_running", "A sync of this source is running already.")
        self._started()
        view = job.as_json()
        return JSON({"id": view["id"], "status": view["status"]}, status_code=202)

    async def get(self, request: Request) -> Response:
        job = await self._jobs.get(request.path_params["sync_id"])
        if job is None:
            return error(404, "unknown_sync", "No sync with this id exists.")
        return JSON(job.as_json())

    async def list(self, request: Request) -> Response:
        source_id = request.path_params["source_id"]
        if await self._repository.get(source_id) is None:
            return error(404, "unknown_source", "No source with this id exists.")
        return JSON({"syncs": [job.as_json() for job in await self._jobs.for_source(source_id)]})

    async def cancel(self, request: Request) -> Response:
        sync_id = request.path_params["sync_id"]
        job = await self._jobs.get(sync_id)
        if job is None:
            return error(404, "unknown_sync", "No sync with this id exists.")
        note_source(request, job.as_json()["source_id"])
        if not await self._jobs.cancel(sync_id):
            return error(409, "sync_not_running", "This sync is not running.")
        return JSON({"id": sync_id, "status": "canceling"}, status_code=202)
