"""Admin routes for Google push channels, mounted under `/admin` behind the bearer token.

    POST   /google/{source_id}/channels               {"calendar_id": "primary"} -> 201
                                                      (the calendar's earlier channels stop)
    GET    /google/{source_id}/channels               -> 200 active channels
    DELETE /google/{source_id}/channels/{channel_id}  -> 200 the stopped channel
    POST   /google/{source_id}/disconnect             -> 200 {"id", "status", "stopped_channels"}

Disconnecting stops every channel of the source (at Google and in the store) and
marks it `disconnected`; its synced appointments stay.

Errors are `{"error": code, "detail": sentence}`. No response holds a token.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from gateway.google.channels import DISCONNECTED, ChannelError, ChannelManager

MAX_CALENDAR_ID = 500


def error_response(code: str, detail: str, status: int) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


async def json_object(request: Request) -> dict[str, Any] | JSONResponse:
    """The request body as a JSON object (an empty body is `{}`), or the refusal."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return error_response("malformed_body", "The request body is not valid JSON.", 400)
    if not isinstance(body, dict):
        return error_response("malformed_body", "The request body must be a JSON object.", 400)
    return body


def calendar_id_of(body: dict[str, Any], default: str | None) -> str | JSONResponse:
    """`body["calendar_id"]` (or `default` when absent), or the refusal."""
    calendar_id = body.get("calendar_id", default)
    if not isinstance(calendar_id, str) or not 0 < len(calendar_id) <= MAX_CALENDAR_ID:
        return error_response(
            "invalid_calendar_id",
            f"calendar_id must be a non-empty string of at most {MAX_CALENDAR_ID} characters.",
            400,
        )
    return calendar_id


def _google_failure(exc: Exception) -> JSONResponse:
    retriable = bool(getattr(exc, "retriable", False))
    detail = getattr(exc, "detail", "Google could not be reached.")
    if retriable:
        return error_response("google_unavailable", str(detail), 503)
    return error_response("google_rejected", str(detail), 502)


WriteBack = Callable[[str, str], Awaitable[int | JSONResponse]]
"""(source id, calendar id) -> how many local appointments were queued for Google."""


def google_admin_routes(
    manager: ChannelManager, *, write_back: WriteBack | None = None
) -> list[BaseRoute]:
    """The channel routes, relative to the admin mount; with `write_back`, opening a
    channel with `"sync_both_ways": true` first queues the calendar's local appointments
    that Google does not have yet (`local_writes` in the answer)."""

    async def open_channel(request: Request) -> JSONResponse:
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        calendar_id = calendar_id_of(body, "primary")
        if isinstance(calendar_id, JSONResponse):
            return calendar_id
        both_ways = body.get("sync_both_ways", False)
        if not isinstance(both_ways, bool) or (both_ways and write_back is None):
            return error_response(
                "invalid_option", "sync_both_ways must be true or false (where supported).", 400
            )
        source_id = request.path_params["source_id"]
        queued = await write_back(source_id, calendar_id) if both_ways and write_back else None
        if isinstance(queued, JSONResponse):
            return queued
        try:
            channel = await manager.watch(source_id, calendar_id)
        except ChannelError as exc:
            return error_response(exc.code, exc.detail, exc.status)
        except Exception as exc:  # noqa: BLE001 (any Google failure becomes a JSON error)
            return _google_failure(exc)
        extra = {} if queued is None else {"local_writes": queued}
        return JSONResponse(channel.as_json() | extra, status_code=201)

    async def list_channels(request: Request) -> JSONResponse:
        channels = await manager.active(request.path_params["source_id"])
        return JSONResponse({"channels": [channel.as_json() for channel in channels]})

    async def stop_channel(request: Request) -> JSONResponse:
        try:
            channel = await manager.stop(
                request.path_params["source_id"], request.path_params["channel_id"]
            )
        except ChannelError as exc:
            return error_response(exc.code, exc.detail, exc.status)
        except Exception as exc:  # noqa: BLE001
            return _google_failure(exc)
        return JSONResponse(channel.as_json())

    async def disconnect(request: Request) -> JSONResponse:
        source_id = request.path_params["source_id"]
        try:
            stopped = await manager.disconnect(source_id)
        except ChannelError as exc:
            return error_response(exc.code, exc.detail, exc.status)
        return JSONResponse({"id": source_id, "status": DISCONNECTED, "stopped_channels": stopped})

    return [
        Route("/google/{source_id}/channels", open_channel, methods=["POST"]),
        Route("/google/{source_id}/channels", list_channels, methods=["GET"]),
        Route("/google/{source_id}/channels/{channel_id}", stop_channel, methods=["DELETE"]),
        Route("/google/{source_id}/disconnect", disconnect, methods=["POST"]),
    ]
