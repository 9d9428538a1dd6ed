"""The admin API under `/admin`: bearer token, sources, secret rotation.

Without `HOOKGATE_ADMIN_TOKEN` every admin route answers 503, so an unconfigured
gateway never exposes it. The token is compared in constant time. Responses
never carry a secret: `SourceRecord` has none to give. Request bodies are read and
checked by `gateway.admin.input`: input it cannot take gets 413 or 400 with the field.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.admin.actor import ACTOR_KEY, CONSOLE
from gateway.admin.credentials import check_options, parse_credentials
from gateway.admin.input import GraceSeconds, Options, Tenant, parse_body, refusal
from gateway.ingress.providers import Provider
from gateway.ingress.rejections import RejectionLog
from gateway.ingress.responses import JSON, error
from gateway.ingress.source_cache import SourceCache
from gateway.store.sources import AccountTaken, SourceRecord, SourceRepository
from gateway.store.syncs import shown_status
from schemas.fields import SecretText

SourceHook = Callable[[SourceRecord], Awaitable[None]]


class NewSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str
    tenant: Tenant
    secret: SecretText | None = Field(default=None, repr=False)
    credentials: dict[str, Any] | None = Field(default=None, repr=False)
    """Checked against the provider's model (`gateway.admin.credentials`)."""
    options: Options = Field(default_factory=dict)


class SourceChange(BaseModel):
    """`PATCH /admin/sources/{id}`: what to change in place."""

    model_config = ConfigDict(extra="forbid")
    credentials: dict[str, Any] | None = Field(default=None, repr=False)
    options: Options | None = None
    tenant: Tenant | None = None


class NewSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: SecretText = Field(repr=False)
    grace_seconds: GraceSeconds | None = None
    """How long the replaced secret stays valid; 0 revokes it at once. Default: the setting."""


class SessionCheck(enum.Enum):
    """What a browser session says about an admin request without a bearer token."""

    ABSENT = "absent"
    ADMITTED = "admitted"
    CSRF_REFUSED = "csrf_refused"


class BrowserSessions(Protocol):
    """The console's sessions (`gateway.console.session`), as the admin API checks them."""

    def check(self, scope: Scope) -> SessionCheck: ...


class BearerAuth:
    """ASGI middleware: 503 without a configured token, 401 without the right one.

    A request with no `Authorization` header may instead carry a signed-in console
    session (`sessions`); a change (any method but GET/HEAD/OPTIONS) made that way also
    needs the session's `X-CSRF-Token`, else 403.
    """

    def __init__(
        self, app: ASGIApp, token: str | None, sessions: BrowserSessions | None = None
    ) -> None:
        self._app = app
        self._token = token.encode() if token else None
        self._sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if self._token is None:
            response: Response = error(
                503, "admin_disabled", "The admin API is off: HOOKGATE_ADMIN_TOKEN is not set."
            )
        else:
            given = dict(scope["headers"]).get(b"authorization")
            if given is None and self._sessions is not None:
                check = self._sessions.check(scope)
                if check is SessionCheck.ADMITTED:
                    scope[ACTOR_KEY] = CONSOLE
                    await self._app(scope, receive, send)
                    return
                if check is SessionCheck.CSRF_REFUSED:
                    response = error(
                        403,
                        "csrf_failed",
                        "A console call that changes something needs the page's "
                        "X-CSRF-Token header.",
                    )
                    await response(scope, receive, send)
                    return
            scheme, _, credential = (given or b"").partition(b" ")
            if scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self._token):
                await self._app(scope, receive, send)
                return
            response = error(
                401,
                "unauthorized",
                "Send the admin token as `Authorization: Bearer <token>`.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        await response(scope, receive, send)


def describe(source: SourceRecord, public_url: str) -> dict[str, Any]:
    """A source as the admin API shows it (no secrets, ever)."""
    return {
        "id": source.id,
        "provider": source.provider,
        "tenant": source.tenant,
        "url": f"{public_url}/webhooks/{source.provider}/{source.id}",
        "status": source.status,
        "status_detail": source.status_detail,
        "options": source.options,
        "account": source.account,
        "webhooks": source.webhooks,
        "webhooks_detail": source.webhooks_detail,
        "has_secret": source.has_secret,
        "has_credentials": source.has_credentials,
        "previous_secret_valid_until": (
            source.previous_secret_expires_at.isoformat()
            if source.previous_secret_expires_at
            else None
        ),
        "created_at": source.created_at.isoformat(),
        "updated_at": source.updated_at.isoformat(),
        "last_delivery_at": (
            source.last_delivery_at.isoformat() if source.last_delivery_at else None
        ),
    }


def with_last_sync(view: dict[str, Any], last_sync: dict[str, Any] | None) -> dict[str, Any]:
    """A source's view with its latest sync, and the status that shows (`shown_status`)."""
    return view | {"status": shown_status(view["status"], last_sync), "last_sync": last_sync}


class SourcesAdmin:
    def __init__(
        self,
        *,
        repository: SourceRepository,
        cache: SourceCache,
        providers: Mapping[str, Provider],
        public_url: str,
        secret_grace: timedelta,
        clock: Callable[[], datetime],
        on_remove: Sequence[SourceHook] = (),
    ) -> None:
        self._repository = repository
        self._cache = cache
        self._providers = providers
        self._public_url = public_url
        self._grace = secret_grace
        self._clock = clock
        self._on_remove = list(on_remove)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/sources", self.create, methods=["POST"]),
            Route("/sources", self.list, methods=["GET"]),
            Route("/sources/{source_id}", self.show, methods=["GET"]),
            Route("/sources/{source_id}", self.change, methods=["PATCH"]),
            Route("/sources/{source_id}", self.remove, methods=["DELETE"]),
            Route("/sources/{source_id}/secret", self.rotate, methods=["POST"]),
        ]

    async def create(self, request: Request) -> Response:
        parsed = await parse_body(request, NewSource)
        if isinstance(parsed, Response):
            return parsed
        provider = self._providers.get(parsed.provider)
        if provider is None:
            known = ", ".join(sorted(self._providers))
            return refusal(
                f"provider must be one of: {known}.", "provider", code="unknown_provider"
            )
        problem = _check_material(provider, parsed)
        if problem:
            return refusal(*problem)
        credentials: dict[str, str] | None = None
        if parsed.credentials is not None:
            checked = parse_credentials(provider.name, parsed.credentials)
            if isinstance(checked, Response):
                return checked
            credentials = checked
        refused = check_options(provider.name, parsed.options)
        if refused is not None:
            return refused
        source = await self._repository.create(
            provider=provider.name,
            tenant=parsed.tenant,
            secret=parsed.secret,
            credentials=credentials,
            options=parsed.options,
            now=self._clock(),
        )
        return JSON(describe(source, self._public_url), status_code=201)

    async def change(self, request: Request) -> Response:
        parsed = await parse_body(request, SourceChange)
        if isinstance(parsed, Response):
            return parsed
        source = await self._repository.get(request.path_params["source_id"])
        if source is None:
            return _not_found()
        credentials: dict[str, str] | None = None
        if parsed.credentials is not None:
            checked = parse_credentials(source.provider, parsed.credentials)
            if isinstance(checked, Response):
                return checked
            credentials = checked
        if parsed.options is not None:
            refused = check_options(source.provider, parsed.options)
            if refused is not None:
                return refused
        try:
            changed = await self._repository.change(
                source.id,
                now=self._clock(),
                tenant=parsed.tenant,
                credentials=credentials,
                options=parsed.options,
            )
        except AccountTaken:
            return error(
                409, "account_connected", "That tenant already has a source of this account."
            )
        self._cache.invalidate(source.id)
        if changed is None:
            return _not_found()
        return JSON(describe(changed, self._public_url))

    async def list(self, request: Request) -> Response:
        found = await self._repository.list(request.query_params.get("provider"))
        last = await self._repository.last_syncs([source.id for source in found])
        return JSON(
            {
                "sources": [
                    with_last_sync(describe(s, self._public_url), last.get(s.id)) for s in found
                ]
            }
        )

    async def show(self, request: Request) -> Response:
        source = await self._repository.get(request.path_params["source_id"])
        if source is None:
            return _not_found()
        last = await self._repository.last_syncs([source.id])
        return JSON(with_last_sync(describe(source, self._public_url), last.get(source.id)))

    async def remove(self, request: Request) -> Response:
        source = await self._repository.get(request.path_params["source_id"])
        if source is None:
            return _not_found()
        for hook in self._on_remove:
            await hook(source)
        await self._repository.remove(source.id)
        self._cache.invalidate(source.id)
        return Response(status_code=204)

    async def rotate(self, request: Request) -> Response:
        parsed = await parse_body(request, NewSecret)
        if isinstance(parsed, Response):
            return parsed
        source = await self._repository.get(request.path_params["source_id"])
        if source is None:
            return _not_found()
        if not self._providers[source.provider].secret:
            return error(422, "no_secret", f"{source.provider} sources have no shared secret.")
        given = parsed.grace_seconds
        grace = self._grace if given is None else timedelta(seconds=given)
        updated = await self._repository.rotate_secret(
            source.id, parsed.secret, now=self._clock(), grace=grace
        )
        self._cache.invalidate(source.id)
        if updated is None:
            return _not_found()
        return JSON(describe(updated, self._public_url))


class RejectionsAdmin:
    """`GET /admin/rejections?limit=N`: this process's recent rejected deliveries, newest first."""

    def __init__(self, rejections: RejectionLog) -> None:
        self._rejections = rejections

    def routes(self) -> list[BaseRoute]:
        return [Route("/rejections", self.list, methods=["GET"])]

    async def list(self, request: Request) -> Response:
        given = request.query_params.get("limit", "")
        if given and not given.isdigit():
            return error(422, "invalid_request", "limit must be a whole number.")
        entries = self._rejections.recent(int(given) if given else None)
        return JSON(
            {
                "rejections": [entry.as_json() for entry in entries],
                "kept": self._rejections.capacity,
                "total": self._rejections.total,
            }
        )


def _check_material(provider: Provider, new: NewSource) -> tuple[str, str] | None:
    """What is wrong with the source's secret or credentials, and the field; None if nothing."""
    if provider.secret and not new.secret and new.credentials is None:
        return (
            f"{provider.name} sources need `secret` (the provider's signing secret) "
            "or `credentials` (a token connection).",
            "secret",
        )
    if not provider.secret and new.secret:
        return f"{provider.name} sources take no `secret`.", "secret"
    if provider.credentials and new.credentials is None:
        return (
            f"{provider.name} sources need `credentials`: "
            "client_id, client_secret and refresh_token.",
            "credentials",
        )
    return None


def _not_found() -> Response:
    return error(404, "unknown_source", "No source with this id exists.")
