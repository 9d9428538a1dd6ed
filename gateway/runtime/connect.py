"""The four providers' connections, composed for the admin API from the consumers' code.

Each provider's `Connector` (`consumers.oauth.connect`) gets its facts
(`consumers/<provider>/connect.py`), its OAuth app from the settings (None while the
client id or secret is unset: connect answers 503), a `TokenKeeper` over the
sources table and the refresh-failure metric. An HTTP client is opened per call:
connecting and testing are rare, and nothing is left open at shutdown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import httpx
from starlette.routing import BaseRoute

from consumers.calendly.connect import CalendlyConnect
from consumers.ghl.connect import GhlConnect
from consumers.google.connect import GoogleConnect
from consumers.metrics import refresh_failure_counter
from consumers.oauth.client import OAuthApp, authorize_url
from consumers.oauth.connect import CheckResult, Connected, Connector, ExchangeFailed, ProviderFacts
from consumers.oauth.keeper import TokenKeeper
from consumers.pco.connect import PcoConnect
from gateway.admin.connect import ConnectRoutes
from gateway.admin.connectors import ConnectFailed
from gateway.admin.oauth_state import StateSigner
from gateway.app import GatewayContext
from gateway.runtime.credentials import RepositoryTokenStore
from gateway.settings import Settings
from gateway.store.sources import SourceRecord

HTTP_TIMEOUT_SECONDS = 30.0
FACTS: tuple[ProviderFacts, ...] = (GoogleConnect(), PcoConnect(), GhlConnect(), CalendlyConnect())


def oauth_app(settings: Settings, provider: str) -> OAuthApp | None:
    """`provider`'s OAuth app from `HOOKGATE_{P}_*`; None while it is not configured."""
    client_id: str | None = getattr(settings, f"{provider}_client_id")
    secret = getattr(settings, f"{provider}_client_secret")
    if not client_id or secret is None or not secret.get_secret_value():
        return None
    return OAuthApp(
        client_id=client_id,
        client_secret=secret.get_secret_value(),
        authorize_url=getattr(settings, f"{provider}_authorize_url"),
        token_url=getattr(settings, f"{provider}_token_url"),
        scopes=getattr(settings, f"{provider}_scopes"),
    )


class ProviderConnection:
    """The admin API's `Connector` of one provider (`gateway.admin.connectors`)."""

    def __init__(self, facts: ProviderFacts, context: GatewayContext) -> None:
        settings = context.settings
        self._facts = facts
        self._app = oauth_app(settings, facts.name)
        self._api_base: str = getattr(settings, f"{facts.name}_api_base")
        self._token_url: str = getattr(settings, f"{facts.name}_token_url")
        self._store = RepositoryTokenStore(context.sources)
        self._clock = context.clock
        self._count_failure = refresh_failure_counter(context.metrics.registry, facts.name)

    def __repr__(self) -> str:
        return f"ProviderConnection({self._facts.name!r})"

    @property
    def provider(self) -> str:
        return self._facts.name

    @property
    def configured(self) -> bool:
        return self._app is not None

    @property
    def pkce(self) -> bool:
        return self._facts.pkce

    def authorize_url(self, *, redirect_uri: str, state: str, verifier: str | None) -> str:
        if self._app is None:
            raise RuntimeError(f"{self._facts.name}'s OAuth app is not configured")
        return authorize_url(
            self._app,
            redirect_uri=redirect_uri,
            state=state,
            verifier=verifier,
            extra=self._facts.authorize_extra,
        )

    async def complete(self, *, code: str, redirect_uri: str, verifier: str | None) -> Connected:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
            try:
                return await self._connector(http).complete(
                    code=code, redirect_uri=redirect_uri, verifier=verifier
                )
            except ExchangeFailed as exc:
                raise ConnectFailed(exc.detail) from None

    async def test(self, source_id: str) -> CheckResult:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
            return await self._connector(http).test(source_id)

    def _connector(self, http: httpx.AsyncClient) -> Connector:
        keeper = TokenKeeper(
            http,
            self._token_url,
            self._app,
            self._store,
            clock=self._now,
            on_refresh_failure=self._count_failure,
        )
        return Connector(
            self._facts,
            http=http,
            api_base=self._api_base,
            app=self._app,
            keeper=keeper,
            store=self._store,
            clock=self._now,
        )

    def _now(self) -> datetime:
        return self._clock()


ConnectedHook = Callable[[GatewayContext], Callable[[SourceRecord], Awaitable[object]]]


class Connections:
    """One app's connect routes, made when its lifespan asks for the first of them and
    shared by the admin and the public ones. `on_connected`: what follows a completed
    connection (given the app's context), e.g. the initial import."""

    def __init__(self, on_connected: Sequence[ConnectedHook] = ()) -> None:
        self._on_connected = list(on_connected)
        self._routes: ConnectRoutes | None = None

    def _made(self, context: GatewayContext) -> ConnectRoutes:
        if self._routes is None:
            self._routes = ConnectRoutes(
                connectors={facts.name: ProviderConnection(facts, context) for facts in FACTS},
                repository=context.sources,
                cache=context.cache,
                signer=StateSigner(context.box.channel_token_keys, context.box, context.clock),
                public_url=context.settings.resolved_public_url,
                clock=context.clock,
                on_connected=[hook(context) for hook in self._on_connected],
            )
        return self._routes

    def admin_routes(self, context: GatewayContext) -> Sequence[BaseRoute]:
        """`POST /admin/connect/{provider}`, `POST /admin/sources/{id}/test`."""
        return self._made(context).admin_routes()

    def public_routes(self, context: GatewayContext) -> Sequence[BaseRoute]:
        """`GET /oauth/{provider}/callback`."""
        return self._made(context).public_routes()
