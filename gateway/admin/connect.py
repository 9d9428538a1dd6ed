"""Connecting a source by OAuth, and testing a source's connection.

    POST /admin/connect/{provider}   {"tenant", "redirect_to"?} -> 200 {"authorize_url"}
    GET  /oauth/{provider}/callback  (public: the user's browser lands here)
    POST /admin/sources/{id}/test    -> 200 {"ok": true, "account", "counts", "latency_ms"}
                                        or {"ok": false, "error", "detail", "latency_ms"}

The callback checks the `state` (`gateway.admin.oauth_state`) and takes it for good
before anything else, exchanges the code, learns the account and creates the tenant's
source for it or updates the one it has. It answers 303 to `redirect_to` with
`source_id` and `status=active` (a small page without `redirect_to`); the provider's
`error=access_denied` gives `status=denied`; a bad, expired or reused state 400
`invalid_state`; a failed exchange 502 `token_exchange_failed`. No source is made for
any of those. A connected source's webhooks are provisioned (`gateway.admin.provisioning`;
a provider's refusal is recorded in the source, the connection stands). A test that finds
the credentials refused moves the source to `error`.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.admin.audit import note_source
from gateway.admin.connectors import ConnectFailed, Connector
from gateway.admin.input import Tenant, parse_body
from gateway.admin.oauth_state import LIFETIME as STATE_LIFETIME
from gateway.admin.oauth_state import OAuthState, StateSigner, new_verifier
from gateway.admin.provisioning import Provisioning
from gateway.ingress.responses import JSON, error
from gateway.ingress.source_cache import SourceCache
from gateway.store.sources import SourceRecord, SourceRepository
from schemas.tables import SOURCE_ACTIVE, SOURCE_ERROR

MAX_REDIRECT_CHARS = 2000
UNAUTHORIZED = "unauthorized"


def _web_address(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or not value.isprintable():
        raise PydanticCustomError("not_a_url", "Must be an absolute http or https URL")
    return value


RedirectTo = Annotated[
    str, Field(min_length=1, max_length=MAX_REDIRECT_CHARS), AfterValidator(_web_address)
]


class ConnectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: Tenant
    redirect_to: RedirectTo | None = None


def with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _page(title: str, sentence: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(sentence)}</p>",
        status_code=status,
    )


class ConnectRoutes:
    def __init__(
        self,
        *,
        connectors: Mapping[str, Connector],
        repository: SourceRepository,
        cache: SourceCache,
        signer: StateSigner,
        public_url: str,
        clock: Callable[[], datetime],
        provisioning: Provisioning | None = None,
        on_connected: Sequence[Callable[[SourceRecord], Awaitable[object]]] = (),
    ) -> None:
        self._provisioning = provisioning
        self._on_connected = list(on_connected)
        self._connectors = connectors
        self._repository = repository
        self._cache = cache
        self._signer = signer
        self._public_url = public_url.rstrip("/")
        self._clock = clock

    def admin_routes(self) -> list[BaseRoute]:
        """Relative to the admin mount."""
        return [
            Route("/connect/{provider}", self.start, methods=["POST"]),
            Route("/sources/{source_id}/test", self.test, methods=["POST"]),
        ]

    def public_routes(self) -> list[BaseRoute]:
        return [Route("/oauth/{provider}/callback", self.callback, methods=["GET"])]

    def _redirect_uri(self, provider: str) -> str:
        return f"{self._public_url}/oauth/{provider}/callback"

    def _connector(self, provider: str) -> Connector | Response:
        connector = self._connectors.get(provider)
        if connector is None:
            known = ", ".join(sorted(self._connectors))
            return error(404, "unknown_provider", f"provider must be one of: {known}.")
        return connector

    async def start(self, request: Request) -> Response:
        connector = self._connector(request.path_params["provider"])
        if isinstance(connector, Response):
            return connector
        parsed = await parse_body(request, ConnectRequest)
        if isinstance(parsed, Response):
            return parsed
        if not connector.configured:
            name = connector.provider.upper()
            return error(
                503,
                "oauth_not_configured",
                f"Set HOOKGATE_{name}_CLIENT_ID and HOOKGATE_{name}_CLIENT_SECRET to connect "
                f"{connector.provider} sources by OAuth.",
            )
        verifier = new_verifier() if connector.pkce else None
        state = self._signer.sign(
            tenant=parsed.tenant,
            provider=connector.provider,
            redirect_to=parsed.redirect_to,
            verifier=verifier,
        )
        url = connector.authorize_url(
            redirect_uri=self._redirect_uri(connector.provider), state=state, verifier=verifier
        )
        return JSON({"authorize_url": url})

    async def callback(self, request: Request) -> Response:
        connector = self._connector(request.path_params["provider"])
        if isinstance(connector, Response):
            return connector
        params = request.query_params
        state = self._signer.read(params.get("state", ""), connector.provider)
        if state is None or not await self._repository.use_oauth_state(
            state.nonce, connector.provider, now=self._clock(), kept=2 * STATE_LIFETIME
        ):
            return error(
                400,
                "invalid_state",
                "The state is unknown, expired or already used: start the connection again.",
            )
        if "error" in params or not params.get("code"):
            return self._not_connected(state, params.get("error", ""))
        try:
            connected = await connector.complete(
                code=params["code"],
                redirect_uri=self._redirect_uri(connector.provider),
                verifier=state.verifier,
            )
        except ConnectFailed as exc:
            return error(502, "token_exchange_failed", exc.detail)
        source, _ = await self._repository.connect(
            provider=connector.provider,
            tenant=state.tenant,
            account=dict(connected.account),
            credentials=connected.credentials,
            now=self._clock(),
        )
        self._cache.invalidate(source.id)
        note_source(request, source.id)
        if self._provisioning is not None:
            await self._provisioning.provision(source)
        for hook in self._on_connected:  # the initial import
            await hook(source)
        if state.redirect_to:
            return RedirectResponse(
                with_query(state.redirect_to, {"source_id": source.id, "status": "active"}),
                status_code=303,
            )
        name = str(connected.account.get("name") or connected.account.get("id"))
        return _page(
            "Connected", f"{connector.provider} account {name} is connected as source {source.id}."
        )

    def _not_connected(self, state: OAuthState, given: str) -> Response:
        status = "denied" if given == "access_denied" or not given else "error"
        if state.redirect_to:
            return RedirectResponse(
                with_query(state.redirect_to, {"status": status}), status_code=303
            )
        return _page("Not connected", f"The {state.provider} authorization was not given.")

    async def test(self, request: Request) -> Response:
        source = await self._repository.get(request.path_params["source_id"])
        if source is None:
            return error(404, "unknown_source", "No source with this id exists.")
        connector = self._connectors.get(source.provider)
        if connector is None or not source.has_credentials:
            return error(
                422,
                "no_credentials",
                "This source has no credentials to test: connect it or give it credentials.",
            )
        check = await connector.test(source.id)
        body: dict[str, Any] = {"ok": check.ok, "latency_ms": check.latency_ms}
        if check.ok and check.account is not None:
            account = {"id": check.account.get("id"), "name": check.account.get("name")}
            body |= {"account": account, "counts": dict(check.counts)}
            if source.account is None:
                await self._repository.change(
                    source.id, now=self._clock(), account=dict(check.account)
                )
        else:
            body |= {"error": check.error, "detail": check.detail}
        await self._follow(source.id, check.ok, check.error)
        return JSON(body)

    async def _follow(self, source_id: str, ok: bool, failure: str | None) -> None:
        """A test's verdict on the source: `unauthorized` moves an active one to `error`;
        a passing test brings one in `error` back (the console's "Retry")."""
        current = await self._repository.get(source_id)
        if current is None:
            return
        if failure == UNAUTHORIZED and current.status == SOURCE_ACTIVE:
            await self._repository.set_status(source_id, SOURCE_ERROR, UNAUTHORIZED)
        elif ok and current.status == SOURCE_ERROR:
            await self._repository.set_status(source_id, SOURCE_ACTIVE, None)
        else:
            return
        self._cache.invalidate(source_id)
