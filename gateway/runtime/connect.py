"""The four providers' connections, composed for the admin API from the consumers' code.

Each provider's `Connector` (`consumers.oauth.connect`) gets its facts
(`consumers/<provider>/connect.py`), its OAuth app from the settings (None while the
client id or secret is unset: connect answers 503), a `TokenKeeper` over the
sources table and the refresh-failure metric. An HTTP client is opened per call:
connecting and testing are rare, and nothing is left open at shutdown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
from starlette.routing import BaseRoute

from consumers.metrics import refresh_failure_counter
from consumers.oauth.api import ApiError
from consumers.oauth.client import OAuthApp, authorize_url
from consumers.oauth.connect import CheckResult, Connected, Connector, ExchangeFailed, ProviderFacts
from consumers.oauth.keeper import TokenKeeper, TokenStore, request_spacing
from consumers.oauth.webhooks import PROVISIONED, Provisioned
from consumers.providers import CONSUMER_PROVIDERS
from gateway.admin.connect import ConnectRoutes
from gateway.admin.connectors import ConnectFailed, ProviderRefused
from gateway.admin.oauth_state import StateSigner
from gateway.admin.provisioning import Provisioning
from gateway.app import GatewayContext
from gateway.google.channels import ChannelError, ChannelManager
from gateway.runtime.credentials import RepositoryTokenStore
from gateway.settings import Settings
from gateway.store.sources import SourceRecord

HTTP_TIMEOUT_SECONDS = 30.0
PRIMARY_CALENDAR = "primary"
Channels = Callable[[GatewayContext], ChannelManager]


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


def token_keeper(
    facts: ProviderFacts, context: GatewayContext, http: httpx.AsyncClient, store: TokenStore
) -> TokenKeeper:
    """The keeper of `facts`' sources' OAuth tokens: the provider's token endpoint and
    request spacing, failures counted in `hookgate_oauth_refresh_failures_total`."""
    settings = context.settings
    return TokenKeeper(
        http,
        getattr(settings, f"{facts.name}_token_url"),
        oauth_app(settings, facts.name),
        store,
        clock=context.clock,
        min_request_interval=request_spacing(facts.token_requests_per_minute),
        on_refresh_failure=refresh_failure_counter(context.metrics.registry, facts.name),
    )


class ProviderConnection:
    """The admin API's `Connector` of one provider (`gateway.admin.connectors`)."""

    def __init__(
        self,
        facts: ProviderFacts,
        context: GatewayContext,
        channels: ChannelManager | None = None,
    ) -> None:
        settings = context.settings
        self._facts = facts
        self._channels = channels
        self._revoke_url: str | None = getattr(settings, f"{facts.name}_revoke_url", None)
        self._app = oauth_app(settings, facts.name)
        self._api_base: str = getattr(settings, f"{facts.name}_api_base")
        self._store = RepositoryTokenStore(context.sources)
        self._context = context
        self._clock = context.clock

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

    async def provision(
        self, source_id: str, *, url: str, account: Mapping[str, Any]
    ) -> Provisioned | None:
        if self._channels is not None:
            return await self._open_channel(source_id)
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
            try:
                return await self._connector(http).provision(source_id, url=url, account=account)
            except ApiError as exc:
                raise ProviderRefused(exc.code, exc.detail) from None

    async def lapsed(self, source: SourceRecord, *, url: str) -> int:
        """How many of the source's subscriptions the provider lost or disabled. Raises
        `ProviderRefused`."""
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
            try:
                return await self._connector(http).lapsed(
                    source.id,
                    url=url,
                    account=source.account or {},
                    subscriptions=list(source.subscriptions),
                )
            except ApiError as exc:
                raise ProviderRefused(exc.code, exc.detail) from None

    async def unprovision(self, source_id: str, subscriptions: list[dict[str, str]]) -> None:
        if self._channels is not None:
            await self._channels.stop_all(source_id)
            return
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
            try:
                await self._connector(http).unprovision(source_id, subscriptions)
            except ApiError as exc:
                raise ProviderRefused(exc.code, exc.detail) from None

    async def revoke(self, source_id: str) -> bool:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
            return await self._connector(http).revoke(source_id)

    async def _open_channel(self, source_id: str) -> Provisioned:
        """Google: a channel on the primary calendar, replacing the ones before it."""
        if self._channels is None:
            raise RuntimeError("no Google channel manager")
        try:
            channel = await self._channels.watch(source_id, PRIMARY_CALENDAR)
        except ChannelError as exc:
            raise ProviderRefused(exc.code, exc.detail) from None
        except Exception as exc:  # noqa: BLE001 (any Google failure is a refusal to report)
            raise ProviderRefused("unreachable", f"Google: {type(exc).__name__}.") from None
        return Provisioned(
            PROVISIONED,
            "A push channel on the primary calendar (renewed before it expires).",
            subscriptions=[{"id": channel.id, "name": PRIMARY_CALENDAR}],
        )

    def _connector(self, http: httpx.AsyncClient) -> Connector:
        keeper = token_keeper(self._facts, self._context, http, self._store)
        return Connector(
            self._facts,
            http=http,
            api_base=self._api_base,
            app=self._app,
            keeper=keeper,
            store=self._store,
            revoke_url=self._revoke_url,
            clock=self._now,
        )

    def _now(self) -> datetime:
        return self._clock()


ConnectedHook = Callable[[GatewayContext], Callable[[SourceRecord], Awaitable[object]]]


class Connections:
    """One app's connect routes, made when its lifespan asks for the first of them and
    shared by the admin and the public ones. `on_connected`: what follows a completed
    connection (given the app's context), e.g. the initial import."""

    def __init__(
        self, channels: Channels | None = None, on_connected: Sequence[ConnectedHook] = ()
    ) -> None:
        """`channels`: Google's channel manager of the serving process, which Google's
        webhooks are provisioned with (without it Google sources get no channel);
        `on_connected`: what follows a connection (the initial import)."""
        self._channels = channels
        self._on_connected = list(on_connected)
        self._routes: ConnectRoutes | None = None
        self._provisioning: Provisioning | None = None

    def _made(self, context: GatewayContext) -> ConnectRoutes:
        if self._routes is None:
            connectors = {
                facts.name: ProviderConnection(
                    facts,
                    context,
                    self._channels(context)
                    if self._channels is not None and facts.name == "google"
                    else None,
                )
                for facts in (provider.connect for provider in CONSUMER_PROVIDERS.values())
            }
            self._provisioning = Provisioning(
                connectors=connectors,
                repository=context.sources,
                cache=context.cache,
                public_url=context.settings.resolved_public_url,
                clock=context.clock,
            )
            self._routes = ConnectRoutes(
                connectors=connectors,
                repository=context.sources,
                cache=context.cache,
                signer=StateSigner(context.box.channel_token_keys, context.box, context.clock),
                public_url=context.settings.resolved_public_url,
                clock=context.clock,
                provisioning=self._provisioning,
                on_connected=[hook(context) for hook in self._on_connected],
            )
        return self._routes

    def admin_routes(self, context: GatewayContext) -> Sequence[BaseRoute]:
        """`POST /admin/connect/{provider}`, `POST /admin/sources/{id}/test`,
        `…/webhooks`, `…/disconnect` (and Google's disconnect alias)."""
        routes = self._made(context)
        provisioning = self._provisioning
        if provisioning is None:
            raise RuntimeError("the connect routes are made with their provisioning")
        return [*routes.admin_routes(), *provisioning.admin_routes()]

    def public_routes(self, context: GatewayContext) -> Sequence[BaseRoute]:
        """`GET /oauth/{provider}/callback`."""
        return self._made(context).public_routes()
