"""The Google write-back admin API: writes are stored in the outbox, then answered 202.

    POST   /google/{source_id}/events                          {"calendar_id", "event"}
    PATCH  /google/{source_id}/events/{calendar_id}/{event_id} {"event", "if_match"?}
    DELETE /google/{source_id}/events/{calendar_id}/{event_id} {"if_match"?}
                                                               -> 202 {"write_id"}
    GET    /google/writes/{write_id}  -> 200 {"status", "google_event_id", "etag", "detail",
                                              "conflicts"}

A write is a `google_writes` row committed before the 202; the consumers' worker
(`consumers.google.writer`) runs it. An insert gets its Google event id here (base32hex,
as Google accepts from clients), so however often it is retried it makes one event;
the id is in the write's status from the start.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from gateway.google.channels import SourceLookup
from gateway.google.routes import calendar_id_of, error_response, json_object
from gateway.store.sources import SourceRecord
from schemas.google_store import WRITE_PENDING
from schemas.google_store import google_writes as outbox
from schemas.store import appointments
from schemas.tables import SOURCE_ACTIVE

if TYPE_CHECKING:
    from gateway.app import GatewayContext

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 32 * 1024
MAX_ETAG = 200
EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")
"""Google's rule for a client-chosen event id: base32hex characters, 5 to 1024 long."""


def new_event_id() -> str:
    """A fresh Google event id: a UUID in lowercase base32hex (26 characters)."""
    return base64.b32hexencode(uuid.uuid4().bytes).decode().rstrip("=").lower()


class GoogleWrites:
    """Stores writes in the outbox and reads their status."""

    def __init__(
        self, engine: AsyncEngine, sources: SourceLookup, clock: Callable[[], datetime]
    ) -> None:
        self._engine = engine
        self._sources = sources
        self._clock = clock

    async def _writable(self, source_id: str) -> SourceRecord | JSONResponse:
        source = await self._sources.get(source_id)
        if source is None or source.provider != "google":
            return error_response("unknown_source", f"There is no Google source {source_id}.", 404)
        if source.status != SOURCE_ACTIVE:
            return error_response(
                "source_inactive",
                f"Source {source_id} is {source.status}; reconnect it before writing to Google.",
                409,
            )
        return source

    def _row(
        self,
        source: SourceRecord,
        op: str,
        calendar_id: str,
        event_id: str,
        body: dict[str, Any] | None,
        if_match: str | None,
    ) -> dict[str, Any]:
        now = self._clock()
        return {
            "id": "gw_" + uuid.uuid4().hex,
            "source_id": source.id,
            "tenant": source.tenant,
            "calendar_id": calendar_id,
            "google_event_id": event_id,
            "op": op,
            "body": body,
            "if_match": if_match,
            "status": WRITE_PENDING,
            "next_attempt_at": now,
            "created_at": now,
        }

    async def accept(
        self,
        source_id: str,
        op: str,
        calendar_id: str,
        event_id: str,
        body: dict[str, Any] | None,
        if_match: str | None,
    ) -> str | JSONResponse:
        """Store the write; its id, or the refusal when the source cannot take writes."""
        source = await self._writable(source_id)
        if isinstance(source, JSONResponse):
            return source
        row = self._row(source, op, calendar_id, event_id, body, if_match)
        async with self._engine.begin() as connection:
            await connection.execute(insert(outbox).values(**row))
        return str(row["id"])

    async def write_back_local(self, source_id: str, calendar_id: str) -> int | JSONResponse:
        """Queue an insert for each of the calendar's local appointments Google has not
        seen (no etag) and no write names yet; how many were queued. Their ids must be
        ones Google accepts (`EVENT_ID`); others are left alone and logged."""
        source = await self._writable(source_id)
        if isinstance(source, JSONResponse):
            return source
        rows = appointments.c
        written = select(outbox.c.google_event_id).where(
            outbox.c.source_id == source_id, outbox.c.calendar_id == calendar_id
        )
        async with self._engine.begin() as connection:
            local = (
                await connection.execute(
                    select(appointments).where(
                        rows.tenant == source.tenant,
                        rows.calendar_id == calendar_id,
                        rows.etag.is_(None),
                        rows.deleted_at.is_(None),
                        or_(rows.status.is_(None), rows.status != "cancelled"),
                        rows.google_event_id.not_in(written),
                    )
                )
            ).all()
            queued = [
                self._row(source, "insert", calendar_id, row.google_event_id, _event_of(row), None)
                for row in local
                if EVENT_ID.fullmatch(row.google_event_id)
            ]
            if len(queued) < len(local):
                log.warning(
                    "google: %d local appointments of source %s have ids Google refuses; "
                    "not written back",
                    len(local) - len(queued),
                    source_id,
                )
            if queued:
                await connection.execute(insert(outbox), queued)
        return len(queued)

    async def status(self, write_id: str) -> dict[str, Any] | None:
        table = outbox.c
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(
                        table.status,
                        table.google_event_id,
                        table.etag,
                        table.detail,
                        table.conflicts,
                    ).where(table.id == write_id)
                )
            ).one_or_none()
        return None if row is None else dict(row._mapping)


def _event_of(row: Any) -> dict[str, Any]:
    """A local appointment as Google event fields."""
    event: dict[str, Any] = {"summary": row.summary or "", "status": row.status or "confirmed"}
    for name, moment in (("start", row.start_time), ("end", row.end_time)):
        if moment is not None:
            aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            event[name] = {"dateTime": aware.isoformat()}
    return event


class Refused(Exception):
    """A request the write API does not take; `response` is the answer."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def _checked(value: Any) -> Any:
    if isinstance(value, JSONResponse):
        raise Refused(value)
    return value


def _event(body: dict[str, Any]) -> dict[str, Any]:
    event = body.get("event")
    if not isinstance(event, dict) or len(json.dumps(event)) > MAX_EVENT_BYTES:
        raise Refused(
            error_response(
                "invalid_event",
                "event must be a JSON object of Google event fields (at most "
                f"{MAX_EVENT_BYTES // 1024} KiB).",
                400,
            )
        )
    return event


def _if_match(body: dict[str, Any]) -> str | None:
    value = body.get("if_match")
    if value is None or (isinstance(value, str) and 0 < len(value) <= MAX_ETAG):
        return value
    raise Refused(
        error_response(
            "invalid_if_match", f"if_match must be an etag of at most {MAX_ETAG} characters.", 400
        )
    )


def _event_id(value: object) -> str:
    if isinstance(value, str) and EVENT_ID.fullmatch(value):
        return value
    raise Refused(
        error_response(
            "invalid_event_id",
            "A Google event id is 5 to 1024 characters of a-v and 0-9 (base32hex).",
            400,
        )
    )


def google_write_routes(writes: GoogleWrites) -> list[BaseRoute]:
    """The write-back routes, relative to the admin mount."""

    def accepted(outcome: str | JSONResponse) -> JSONResponse:
        if isinstance(outcome, JSONResponse):
            return outcome
        return JSONResponse({"write_id": outcome}, status_code=202)

    async def create(request: Request) -> JSONResponse:
        try:
            body = _checked(await json_object(request))
            calendar_id: str = _checked(calendar_id_of(body, None))
            event = _event(body)
            event_id = _event_id(event["id"]) if "id" in event else new_event_id()
        except Refused as refused:
            return refused.response
        fields = {name: value for name, value in event.items() if name != "id"}
        source_id = request.path_params["source_id"]
        return accepted(
            await writes.accept(source_id, "insert", calendar_id, event_id, fields, None)
        )

    async def change(request: Request) -> JSONResponse:
        params = request.path_params
        try:
            body = _checked(await json_object(request))
            calendar_id: str = _checked(calendar_id_of(params, None))
            event_id = _event_id(params["event_id"])
            if_match = _if_match(body)
            event = _event(body) if request.method == "PATCH" else None
        except Refused as refused:
            return refused.response
        op = "patch" if request.method == "PATCH" else "delete"
        return accepted(
            await writes.accept(params["source_id"], op, calendar_id, event_id, event, if_match)
        )

    async def status(request: Request) -> JSONResponse:
        found = await writes.status(request.path_params["write_id"])
        if found is None:
            return error_response("unknown_write", "There is no write with this id.", 404)
        return JSONResponse(found)

    return [
        Route("/google/writes/{write_id}", status, methods=["GET"]),
        Route("/google/{source_id}/events", create, methods=["POST"]),
        Route(
            "/google/{source_id}/events/{calendar_id}/{event_id}",
            change,
            methods=["PATCH", "DELETE"],
        ),
    ]


def google_writes(context: GatewayContext) -> GoogleWrites:
    """`GoogleWrites` over the running gateway's store, sources and clock."""
    return GoogleWrites(context.engine, context.sources, context.clock)


def write_routes(context: GatewayContext) -> list[BaseRoute]:
    """The write-back routes of the running gateway."""
    return google_write_routes(google_writes(context))
