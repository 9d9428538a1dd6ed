"""The audit trail of the admin API and the OAuth callback, recorded in one place.

    GET /admin/audit?source_id=&limit=&before=  -> {"entries": [...], "next_before"}
                                                   newest first; `before` pages on

`AuditTrail.audited` wraps every route of `ACTIONS` (the admin API's writes) and the
OAuth callback: after the handler answers, one entry records who (`actor_of`, or
`oauth` for the callback), what, which source and tenant, and the outcome (`ok`, or
the answer's error code). The detail holds the names of the fields the request sent
(`credentials.secret`, never its value) and the path's ids. A handler whose source is
in neither its path nor its answer names it with `note_source`. A failure to record is
logged; it never undoes or fails the change itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive

from gateway.admin.input import MAX_BODY_BYTES, MAX_TENANT_CHARS, field_name, refusal
from gateway.ingress.responses import JSON
from gateway.store.audit import OK, AuditEntry, AuditLog
from gateway.store.sources import SourceRepository

log = logging.getLogger("hookgate.audit")

ACTIONS: Mapping[tuple[str, str], str] = {
    ("POST", "/sources"): "source.create",
    ("PATCH", "/sources/{source_id}"): "source.update",
    ("DELETE", "/sources/{source_id}"): "source.delete",
    ("POST", "/sources/{source_id}/secret"): "source.rotate_secret",
    ("POST", "/sources/{source_id}/test"): "source.test",
    ("POST", "/sources/{source_id}/sync"): "source.sync",
    ("POST", "/sources/{source_id}/webhooks"): "source.provision",
    ("POST", "/sources/{source_id}/disconnect"): "source.disconnect",
    ("POST", "/syncs/{sync_id}/cancel"): "sync.cancel",
    ("POST", "/connect/{provider}"): "connect.start",
    ("GET", "/oauth/{provider}/callback"): "connect.callback",
    ("POST", "/google/{source_id}/disconnect"): "google.disconnect",
    ("POST", "/google/{source_id}/channels"): "google.channel_open",
    ("DELETE", "/google/{source_id}/channels/{channel_id}"): "google.channel_stop",
    ("POST", "/dead-letters/{letter_id}/replay"): "dead_letter.replay",
}
"""Every route that changes something, by method and path (relative to its mount)."""

SUBJECT_KEY = "hookgate.audit.source_id"
NESTED = ("credentials", "options")
"""Body fields whose own field names are recorded too."""
MAX_FIELDS = 32
MAX_ID_CHARS = 100
"""Of a path's ids (`provider`, `sync_id`, `channel_id`), recorded as the caller sent them."""
DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Endpoint = Callable[[Request], Awaitable[Response]]
Actor = Callable[[Request], str]


def note_source(request: Request, source_id: str) -> None:
    """Name the source a request acted on, where its path and answer do not."""
    request.scope[SUBJECT_KEY] = source_id


def action_of(route: BaseRoute) -> str | None:
    if not isinstance(route, Route):
        return None
    found = (ACTIONS.get((method, route.path)) for method in sorted(route.methods or ()))
    return next((action for action in found if action), None)


class AuditTrail:
    def __init__(self, audit: AuditLog, repository: SourceRepository) -> None:
        self._audit = audit
        self._repository = repository

    def audited(self, routes: Sequence[BaseRoute], actor: Actor) -> list[BaseRoute]:
        """`routes`, those of `ACTIONS` recording each request they answer."""
        wrapped: list[BaseRoute] = []
        for route in routes:
            action = action_of(route)
            if action is None or not isinstance(route, Route):
                wrapped.append(route)
                continue
            endpoint = self._recording(cast(Endpoint, route.endpoint), action, actor)
            methods = sorted((route.methods or set()) - {"HEAD"})
            wrapped.append(Route(route.path, endpoint, methods=methods, name=route.name))
        return wrapped

    def _recording(self, endpoint: Endpoint, action: str, actor: Actor) -> Endpoint:
        async def recorded(request: Request) -> Response:
            body = _BodyCopy(request.receive)
            known = await self._source(request.path_params.get("source_id"))
            response = await endpoint(Request(request.scope, body.receive))
            try:
                await self._audit.record(
                    await self._entry(request, action, actor, body.json(), response, known)
                )
            except Exception:
                log.exception("the audit entry of %s could not be recorded", action)
            return response

        return recorded

    async def _entry(
        self,
        request: Request,
        action: str,
        actor: Actor,
        body: Mapping[str, Any],
        response: Response,
        known: tuple[str, str] | None,
    ) -> AuditEntry:
        answer = _json(response)
        source_id, tenant = known or (None, None)
        if source_id is None:
            source_id = _subject(request, answer, response)
            found = await self._source(source_id)
            tenant = found[1] if found else answer.get("tenant")
        if tenant is None:
            tenant = _given_tenant(body)
        ids = {k: str(v)[:MAX_ID_CHARS] for k, v in request.path_params.items() if k != "source_id"}
        return AuditEntry(
            actor=actor(request),
            action=action,
            outcome=_outcome(response, answer),
            source_id=source_id,
            tenant=str(tenant) if tenant is not None else None,
            detail=ids | {"fields": _fields(body)},
        )

    async def _source(self, source_id: str | None) -> tuple[str, str] | None:
        """The source's id and tenant, when it exists."""
        if source_id is None:
            return None
        source = await self._repository.get(source_id)
        return (source.id, source.tenant) if source else None


class AuditAdmin:
    """`GET /admin/audit`."""

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    def routes(self) -> list[BaseRoute]:
        return [Route("/audit", self.list, methods=["GET"])]

    async def list(self, request: Request) -> Response:
        params = request.query_params
        numbers: dict[str, int | None] = {}
        for name in ("limit", "before"):
            given = params.get(name, "")
            if given and (not given.isdigit() or len(given) > 18):
                return refusal(f"{name} must be a whole number.", name)
            numbers[name] = int(given) if given else None
        limit = min(numbers["limit"] or DEFAULT_LIMIT, MAX_LIMIT)
        entries = await self._audit.page(
            source_id=params.get("source_id") or None, limit=limit, before=numbers["before"]
        )
        last = entries[-1]["id"] if len(entries) == limit else None
        return JSON({"entries": entries, "next_before": last})


class _BodyCopy:
    """The request body as the handler reads it, kept (up to the admin bound) to name
    the fields it sent."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._chunks: list[bytes] = []
        self._kept = 0

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and self._kept <= MAX_BODY_BYTES:
            chunk: bytes = message.get("body", b"")
            self._chunks.append(chunk)
            self._kept += len(chunk)
        return message

    def json(self) -> dict[str, Any]:
        if not self._chunks or self._kept > MAX_BODY_BYTES:
            return {}
        try:
            parsed = orjson.loads(b"".join(self._chunks))
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}


def _fields(body: Mapping[str, Any]) -> list[str]:
    """The names of the fields `body` sent (and of those inside `NESTED`), no values."""
    names: list[str] = []
    for key, value in body.items():
        names.append(field_name((key,)))
        if key in NESTED and isinstance(value, dict):
            names.extend(field_name((key, inner)) for inner in value)
    return sorted(names)[:MAX_FIELDS]


def _given_tenant(body: Mapping[str, Any]) -> str | None:
    """The tenant a request named (connect), when it could be one."""
    tenant = body.get("tenant")
    if isinstance(tenant, str) and len(tenant) <= MAX_TENANT_CHARS and tenant.isprintable():
        return tenant
    return None


def _json(response: Response) -> dict[str, Any]:
    if response.media_type != "application/json":
        return {}
    try:
        parsed = orjson.loads(bytes(response.body))
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _subject(request: Request, answer: Mapping[str, Any], response: Response) -> str | None:
    """The source a request acted on: as its handler noted, as its answer describes it
    (a created source), or as its redirect names it (the OAuth callback)."""
    noted = request.scope.get(SUBJECT_KEY)
    if isinstance(noted, str):
        return noted
    if "url" in answer and isinstance(answer.get("id"), str):
        return str(answer["id"])
    return _redirected(response, "source_id")


def _outcome(response: Response, answer: Mapping[str, Any]) -> str:
    """`ok`, or the answer's error code (a failed connection test's included)."""
    code = answer.get("error")
    if isinstance(code, str) and (response.status_code >= 400 or answer.get("ok") is False):
        return code[:64]
    if response.status_code >= 400:
        return f"http_{response.status_code}"
    status = _redirected(response, "status")
    return OK if status in (None, "active") else status[:64]


def _redirected(response: Response, name: str) -> str | None:
    """Query parameter `name` of the address a redirect sends the browser to."""
    found = parse_qs(urlsplit(response.headers.get("location", "")).query).get(name)
    return found[0] if found else None
