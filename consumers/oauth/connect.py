"""The connect flow and the connection test, over one provider's facts.

A provider says what differs (`ProviderFacts`, in `consumers/<provider>/connect.py`):
PKCE or not, extra authorization parameters, what of the token answer to keep, how
its token credentials authorize, who the account is and what to count. `Connector`
does the rest the same way for all: exchange the code, learn the account, and test
a source with one cheap real call (the authorization URL is `client.authorize_url`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from consumers.oauth.api import ApiError, Auth, OAuthBearer, ProviderApi, StaticAuth
from consumers.oauth.client import (
    OAuthApp,
    TokenEndpointError,
    TokenSet,
    exchange_code,
)
from consumers.oauth.keeper import TokenKeeper, TokenStore, stored_tokens
from consumers.oauth.revoke import revoke
from consumers.oauth.webhooks import Provisioned, WebhookFacts


@dataclass(frozen=True, slots=True)
class Account:
    """The provider's identity of a connected account."""

    id: str
    name: str
    details: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {**self.details, "id": self.id, "name": self.name}


@dataclass(frozen=True, slots=True)
class Connected:
    """What a completed authorization gives: the account and the credentials to keep."""

    account: dict[str, Any]
    credentials: dict[str, str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A connection test's answer (`error` one of ApiError's codes when not ok)."""

    ok: bool
    latency_ms: int
    account: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    detail: str | None = None


class ExchangeFailed(Exception):
    """The code could not be turned into tokens and an account."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ProviderFacts(Protocol):
    """What one provider's connection does its own way."""

    @property
    def name(self) -> str: ...

    @property
    def pkce(self) -> bool: ...

    @property
    def authorize_extra(self) -> Mapping[str, str]: ...

    @property
    def api_headers(self) -> Mapping[str, str]: ...

    @property
    def token_requests_per_minute(self) -> int | None:
        """The provider's limit of token requests per user and minute; None: no limit."""
        ...

    def token_auth(self, credentials: Mapping[str, str]) -> Auth | None:
        """The authorization of token (not OAuth) credentials; None for OAuth ones."""
        ...

    def oauth_extras(self, tokens: TokenSet, app: OAuthApp) -> dict[str, str]:
        """What to keep beside the tokens from the token answer (e.g. GHL's location)."""
        ...

    @property
    def webhooks(self) -> WebhookFacts | None:
        """How its webhook subscriptions are made; None where there is no API for it."""
        ...

    async def account(self, api: ProviderApi, credentials: Mapping[str, str]) -> Account: ...

    async def counts(
        self, api: ProviderApi, credentials: Mapping[str, str], account: Account
    ) -> dict[str, int]: ...


class Connector:
    """One provider's connect flow and connection test."""

    def __init__(
        self,
        facts: ProviderFacts,
        *,
        http: httpx.AsyncClient,
        api_base: str,
        app: OAuthApp | None,
        keeper: TokenKeeper,
        store: TokenStore,
        revoke_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._facts = facts
        self._http = http
        self._api_base = api_base
        self._app = app
        self._keeper = keeper
        self._store = store
        self._revoke_url = revoke_url
        self._clock = clock

    def __repr__(self) -> str:
        return f"Connector({self._facts.name!r})"

    async def complete(self, *, code: str, redirect_uri: str, verifier: str | None) -> Connected:
        """Exchange the code and learn the account; raises `ExchangeFailed`."""
        if self._app is None:
            raise ExchangeFailed(f"{self._facts.name}'s OAuth app is not configured.")
        try:
            tokens = await exchange_code(
                self._http,
                self._app,
                code=code,
                redirect_uri=redirect_uri,
                verifier=verifier,
                now=self._clock(),
            )
        except TokenEndpointError as exc:
            raise ExchangeFailed(f"The code exchange failed ({exc.error}).") from None
        credentials = stored_tokens(tokens, self._facts.oauth_extras(tokens, self._app))
        auth = StaticAuth({"Authorization": f"Bearer {tokens.access_token}"})
        try:
            account = await self._facts.account(self._api(auth), credentials)
        except ApiError as exc:
            raise ExchangeFailed(f"The account could not be read ({exc.code}).") from None
        return Connected(account=account.as_json(), credentials=credentials)

    async def test(self, source_id: str) -> CheckResult:
        """One cheap real call (two where the account needs its own) with the source's
        credentials: the account and a count, or why not."""
        started = time.monotonic()
        credentials = await self._store.read(source_id)
        auth = self._facts.token_auth(credentials) or OAuthBearer(self._keeper, source_id)
        api = self._api(auth)
        try:
            account = await self._facts.account(api, credentials)
            counts = await self._facts.counts(api, credentials, account)
        except ApiError as exc:
            return CheckResult(
                ok=False, latency_ms=_since(started), error=exc.code, detail=exc.detail
            )
        return CheckResult(
            ok=True, latency_ms=_since(started), account=account.as_json(), counts=counts
        )

    async def provision(
        self, source_id: str, *, url: str, account: Mapping[str, object]
    ) -> Provisioned | None:
        """The source's webhook subscriptions made (or found) at the provider; None where
        it has no API for them. Raises `ApiError`."""
        webhooks = self._facts.webhooks
        if webhooks is None:
            return None
        return await webhooks.provision(await self._source_api(source_id), url=url, account=account)

    async def lapsed(
        self,
        source_id: str,
        *,
        url: str,
        account: Mapping[str, object],
        subscriptions: list[dict[str, str]],
    ) -> int:
        """How many of the source's subscriptions the provider lost or disabled (0 where
        it has no API for them). Raises `ApiError`."""
        webhooks = self._facts.webhooks
        if webhooks is None or not subscriptions:
            return 0
        api = await self._source_api(source_id)
        return await webhooks.lapsed(api, url=url, account=account, subscriptions=subscriptions)

    async def unprovision(self, source_id: str, subscriptions: list[dict[str, str]]) -> None:
        """Remove the subscriptions hookgate made. Raises `ApiError`."""
        webhooks = self._facts.webhooks
        if webhooks is not None and subscriptions:
            await webhooks.remove(await self._source_api(source_id), subscriptions)

    async def revoke(self, source_id: str) -> bool:
        """Revoke the source's OAuth token where the provider can; whether it did."""
        credentials = await self._store.read(source_id)
        if self._revoke_url is None or self._facts.token_auth(credentials) is not None:
            return False
        return await revoke(self._http, self._revoke_url, self._app, credentials)

    async def _source_api(self, source_id: str) -> ProviderApi:
        credentials = await self._store.read(source_id)
        return self._api(
            self._facts.token_auth(credentials) or OAuthBearer(self._keeper, source_id)
        )

    def _api(self, auth: Auth) -> ProviderApi:
        return ProviderApi(
            self._http,
            self._api_base,
            auth,
            name=self._facts.name,
            headers=self._facts.api_headers,
        )


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
