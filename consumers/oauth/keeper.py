"""One source's OAuth access token, kept fresh; one refresh at a time across processes.

The fast path reads the stored token and uses it while it is fresh. A token due for
refresh (within `margin` of its expiry, or past half its life for short-lived ones),
or one the provider just refused with 401, is refreshed under the store's per-source
lock: the credentials are read again under it, and refreshed only if nobody did
meanwhile; the new access and refresh tokens are written before the lock ends.
`invalid_grant` seen under the lock (so with the newest refresh token) is final:
the source goes to `error`, `reauthorization_required`.

A provider that limits token requests per user (Calendly: 8 a minute) gets them
spaced: the time of each request is stored with the credentials under the same lock,
so no process asks again sooner than `min_request_interval` after any other did; a
refresh due sooner fails `rate_limited` (the API call backs off and retries).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx

from consumers.oauth.client import OAuthApp, TokenEndpointError, TokenSet, refresh

REAUTHORIZATION_REQUIRED = "reauthorization_required"
DEFAULT_MARGIN = timedelta(minutes=5)
REQUESTED_AT = "token_requested_at"
"""Where the credentials keep the time of the source's last token request."""


def request_spacing(per_minute: int | None) -> timedelta:
    """The least time between two token requests for one user, from the provider's
    per-minute budget (None: unlimited)."""
    return timedelta(minutes=1) / per_minute if per_minute else timedelta(0)


class HeldCredentials(Protocol):
    """A source's credentials read under its lock; writes go into the same transaction."""

    @property
    def credentials(self) -> dict[str, str]: ...

    async def save(self, credentials: dict[str, str]) -> None: ...

    async def fail(self, detail: str) -> None:
        """Mark the source `error` with `detail`."""
        ...


class TokenStore(Protocol):
    """Where sources' credentials live (the gateway's encrypted sources table)."""

    async def read(self, source_id: str) -> dict[str, str]: ...

    def locked(self, source_id: str) -> AbstractAsyncContextManager[HeldCredentials]: ...


class TokenUnavailable(Exception):
    """No access token can be had; `reason` is one of the refresh-failure reasons
    (`revoked`, `client_rejected`, `rejected`, `unavailable`)."""

    def __init__(self, reason: str, detail: str, *, rate_limited: bool = False) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.rate_limited = rate_limited


def stored_tokens(tokens: TokenSet, kept: Mapping[str, str] = {}) -> dict[str, str]:
    """The credentials to store for `tokens` (a refresh keeps the old refresh token when
    the provider sends none, as Google does)."""
    stored = dict(kept)
    stored["access_token"] = tokens.access_token
    if tokens.refresh_token is not None:
        stored["refresh_token"] = tokens.refresh_token
    stored["obtained_at"] = tokens.obtained_at.isoformat()
    if tokens.expires_at is not None:
        stored["expires_at"] = tokens.expires_at.isoformat()
    else:
        stored.pop("expires_at", None)
    return stored


def _reason(error: TokenEndpointError) -> str:
    if error.error == "invalid_grant":
        return "revoked"
    if error.error == "invalid_client":
        return "client_rejected"
    return "unavailable" if error.retriable else "rejected"


class TokenKeeper:
    """Access tokens of one provider's OAuth sources."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        app: OAuthApp | None,
        store: TokenStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        margin: timedelta = DEFAULT_MARGIN,
        min_request_interval: timedelta = timedelta(0),
        on_refresh_failure: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._app = app
        self._store = store
        self._clock = clock
        self._margin = margin
        self._min_request_interval = min_request_interval
        self._on_refresh_failure = on_refresh_failure
        self.refreshes = 0
        """Refreshes this keeper made (all sources)."""

    def __repr__(self) -> str:
        return f"TokenKeeper(client_id={self._app.client_id if self._app else None!r})"

    async def access_token(self, source_id: str, *, rejected: str | None = None) -> str:
        """A fresh access token; `rejected`: the one the provider just answered 401 to."""
        if rejected is None:
            stored = await self._store.read(source_id)
            if self._fresh(stored):
                return stored["access_token"]
        failure: TokenUnavailable | None = None
        async with self._store.locked(source_id) as held:
            stored = held.credentials
            current = stored.get("access_token")
            if current and (current != rejected if rejected else self._fresh(stored)):
                return current  # fresh, or refreshed by another process meanwhile
            now = self._clock()
            self._check_spacing(stored, now)
            try:
                tokens = await self._refresh(stored)
            except TokenUnavailable as exc:
                failure = exc
                if exc.reason == "revoked":
                    await held.fail(REAUTHORIZATION_REQUIRED)
                else:
                    await held.save({**stored, REQUESTED_AT: now.isoformat()})
            else:
                await held.save({**stored_tokens(tokens, stored), REQUESTED_AT: now.isoformat()})
                self.refreshes += 1
                return tokens.access_token
        self._on_refresh_failure(failure.reason)
        raise failure

    def _check_spacing(self, stored: Mapping[str, str], now: datetime) -> None:
        last = stored.get(REQUESTED_AT)
        if not last or not self._min_request_interval:
            return
        wait = datetime.fromisoformat(last) + self._min_request_interval - now
        if wait > timedelta(0):
            raise TokenUnavailable(
                "unavailable",
                f"The provider allows a token request every "
                f"{self._min_request_interval.total_seconds():g} s per user; the last was "
                f"{(self._min_request_interval - wait).total_seconds():.1f} s ago.",
                rate_limited=True,
            )

    def _client(self, stored: Mapping[str, str]) -> OAuthApp | None:
        """The source's own OAuth client where it brought one (a Google source made with
        `credentials`), else the configured app."""
        if stored.get("client_id") and stored.get("client_secret"):
            return OAuthApp(
                client_id=stored["client_id"],
                client_secret=stored["client_secret"],
                authorize_url="",
                token_url=self._token_url,
                scopes="",
            )
        return self._app

    async def _refresh(self, stored: Mapping[str, str]) -> TokenSet:
        app = self._client(stored)
        if app is None:
            raise TokenUnavailable(
                "rejected", "The provider's OAuth app is not configured, so no token refresh."
            )
        refresh_token = stored.get("refresh_token")
        if not refresh_token:
            raise TokenUnavailable("revoked", "The source has no refresh token.")
        try:
            return await refresh(self._http, app, refresh_token, now=self._clock())
        except TokenEndpointError as exc:
            raise TokenUnavailable(
                _reason(exc), exc.detail, rate_limited=exc.error == "rate_limited"
            ) from None

    def _fresh(self, stored: Mapping[str, str]) -> bool:
        if not stored.get("access_token"):
            return False
        expires = stored.get("expires_at")
        if not expires:
            return True
        expires_at = datetime.fromisoformat(expires)
        obtained = stored.get("obtained_at")
        margin = self._margin
        if obtained:
            margin = min(margin, (expires_at - datetime.fromisoformat(obtained)) / 2)
        return self._clock() < expires_at - margin
