"""The client side of one provider's token endpoint (RFC 6749 §4.1.3, §6).

Client credentials go in the form body (`client_secret_post`), which all four
providers take. Answers become a `TokenSet` (with the provider's extra fields kept
in `fields`) or a `TokenEndpointError`; nothing here logs or raises a token.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

MAX_DESCRIPTION_CHARS = 200


@dataclass(frozen=True, slots=True)
class OAuthApp:
    """The OAuth app registered at one provider, and where its endpoints are."""

    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    scopes: str
    """Space-separated, as sent."""


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A token endpoint's answer; `fields` is the whole answer (provider extras)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None
    obtained_at: datetime
    fields: Mapping[str, Any] = field(repr=False)


class TokenEndpointError(Exception):
    """The token endpoint refused or could not be reached.

    `error` is the OAuth error code (`invalid_grant`, `invalid_client`, ...), or
    `unreachable` / `rate_limited` / `malformed`; `retriable` says whether trying again
    later may work.
    """

    def __init__(self, error: str, detail: str, *, retriable: bool) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail
        self.retriable = retriable


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    app: OAuthApp,
    *,
    redirect_uri: str,
    state: str,
    verifier: str | None,
    extra: Mapping[str, str] = {},
) -> str:
    """The provider's authorization URL for this request (S256 PKCE with a verifier)."""
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": redirect_uri,
        "scope": app.scopes,
        "state": state,
        **extra,
    }
    if verifier is not None:
        params |= {"code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256"}
    parts = urlsplit(app.authorize_url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


async def exchange_code(
    http: httpx.AsyncClient,
    app: OAuthApp,
    *,
    code: str,
    redirect_uri: str,
    verifier: str | None,
    now: datetime,
    extra: Mapping[str, str] = {},
) -> TokenSet:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        form["code_verifier"] = verifier
    return await _token_request(http, app, form | dict(extra), now)


async def refresh(
    http: httpx.AsyncClient, app: OAuthApp, refresh_token: str, *, now: datetime
) -> TokenSet:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return await _token_request(http, app, form, now)


async def _token_request(
    http: httpx.AsyncClient, app: OAuthApp, form: dict[str, str], now: datetime
) -> TokenSet:
    form = form | {"client_id": app.client_id, "client_secret": app.client_secret}
    try:
        response = await http.post(app.token_url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise TokenEndpointError(
            "unreachable",
            f"The token endpoint could not be reached ({type(exc).__name__}).",
            retriable=True,
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 429:
        raise TokenEndpointError(
            "rate_limited", "The token endpoint asked to slow down (429).", retriable=True
        )
    if response.status_code >= 500:
        raise TokenEndpointError(
            "unreachable", f"The token endpoint answered {response.status_code}.", retriable=True
        )
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        code = error if isinstance(error, str) and error.isidentifier() else "rejected"
        described = body.get("error_description") if isinstance(body, dict) else None
        detail = (
            str(described)[:MAX_DESCRIPTION_CHARS]
            if described
            else f"The token endpoint answered {response.status_code}."
        )
        raise TokenEndpointError(code[:40], detail, retriable=False)
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenEndpointError(
            "malformed", "The token endpoint's answer has no access_token.", retriable=False
        )
    refresh_token = body.get("refresh_token")
    expires_in = body.get("expires_in")
    return TokenSet(
        access_token=access,
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        expires_at=(
            now + timedelta(seconds=int(expires_in))
            if isinstance(expires_in, int | float) and expires_in > 0
            else None
        ),
        obtained_at=now,
        fields=body,
    )
