"""The access tokens every emulated API accepts, and whom each one acts for.

The OAuth servers issue into one `TokenRegistry`; personal access tokens and private
integration tokens are put there directly (no expiry). An API emulator looks a bearer
token up by provider: unknown, revoked, expired or another provider's → 401.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OAuthAccount:
    """Who a grant acts for: a user within an organization (PCO organization, GHL
    location, Calendly organization, Google account)."""

    user_id: str
    organization_id: str
    name: str = ""


@dataclass
class AccessToken:
    token: str
    provider: str
    account: OAuthAccount
    scopes: frozenset[str] | None
    """None: every scope (a personal access token made with all of them)."""
    expires_at: datetime | None
    client_id: str | None = None
    """None: a personal or private-integration token, not from OAuth."""
    refresh_family: str | None = None
    revoked: bool = False

    def allows(self, scope: str | Iterable[str]) -> bool:
        """Whether the token holds `scope` (or any of several)."""
        wanted = {scope} if isinstance(scope, str) else set(scope)
        return self.scopes is None or bool(self.scopes & wanted)


class TokenRegistry:
    """Every access token the emulators accept, shared by OAuth servers and APIs."""

    def __init__(self, now: Clock = utc_now) -> None:
        self._now = now
        self.tokens: dict[str, AccessToken] = {}

    def issue(
        self,
        provider: str,
        account: OAuthAccount,
        *,
        lifetime: timedelta | None,
        scopes: frozenset[str] | None = None,
        client_id: str | None = None,
        refresh_family: str | None = None,
        token: str | None = None,
    ) -> AccessToken:
        value = token or f"{provider}_at_{secrets.token_urlsafe(24)}"
        entry = AccessToken(
            token=value,
            provider=provider,
            account=account,
            scopes=scopes,
            expires_at=None if lifetime is None else self._now() + lifetime,
            client_id=client_id,
            refresh_family=refresh_family,
        )
        self.tokens[value] = entry
        return entry

    def lookup(self, provider: str, token: str) -> AccessToken | None:
        """The live token, or None when unknown, of another provider, revoked or expired."""
        entry = self.tokens.get(token)
        if entry is None or entry.provider != provider or entry.revoked:
            return None
        if entry.expires_at is not None and entry.expires_at <= self._now():
            return None
        return entry

    def expire(self, provider: str | None = None) -> None:
        """Every OAuth access token (of `provider`) expires now; personal tokens stay."""
        moment = self._now() - timedelta(seconds=1)
        for entry in self.tokens.values():
            if entry.expires_at is not None and provider in (None, entry.provider):
                entry.expires_at = moment

    def revoke(self, token: str) -> None:
        if token in self.tokens:
            self.tokens[token].revoked = True

    def revoke_family(self, family: str) -> None:
        for entry in self.tokens.values():
            if entry.refresh_family == family:
                entry.revoked = True


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, if there is one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
