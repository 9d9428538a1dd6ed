"""The client side of the OAuth flows, over HTTP, for tests of the emulators."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.emulators.oauth import pkce_challenge
from tests.emulators.suite import ProviderEmulators
from tests.emulators.tokens import OAuthAccount

REDIRECT_URI = "https://hookgate.example.com/oauth/callback"
SCOPES = {
    "pco": "people webhooks",
    "ghl": "contacts.readonly locations.readonly",
    "calendly": "users:read scheduled_events:read event_types:read webhooks:write",
    "google": "https://www.googleapis.com/auth/calendar.readonly",
}


def redirect_query(response: httpx.Response) -> dict[str, str]:
    """The query of a 302's `Location` (the answer to the client)."""
    assert response.status_code == 302, response.text
    return dict(parse_qsl(urlsplit(response.headers["location"]).query))


async def authorize(
    http: httpx.AsyncClient,
    emulators: ProviderEmulators,
    provider: str,
    *,
    verifier: str | None = None,
    **params: str,
) -> httpx.Response:
    query = {
        "client_id": emulators.client(provider)[0],
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": SCOPES[provider],
        "state": "state-1",
        **params,
    }
    if verifier is not None:
        query |= {"code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256"}
    return await http.get(emulators.authorize_url(provider), params=query)


async def token_request(
    http: httpx.AsyncClient,
    emulators: ProviderEmulators,
    provider: str,
    form: dict[str, str],
    *,
    basic: bool = False,
    secret: str | None = None,
) -> httpx.Response:
    client_id, client_secret = emulators.client(provider)
    client_secret = secret if secret is not None else client_secret
    if basic:
        return await http.post(
            emulators.token_url(provider), data=form, auth=(client_id, client_secret)
        )
    form = form | {"client_id": client_id, "client_secret": client_secret}
    return await http.post(emulators.token_url(provider), data=form)


async def exchange(
    http: httpx.AsyncClient,
    emulators: ProviderEmulators,
    provider: str,
    code: str,
    *,
    verifier: str | None = None,
    redirect_uri: str = REDIRECT_URI,
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        form["code_verifier"] = verifier
    return await token_request(http, emulators, provider, form)


async def refresh(
    http: httpx.AsyncClient, emulators: ProviderEmulators, provider: str, refresh_token: str
) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return await token_request(http, emulators, provider, form)


async def connect(
    http: httpx.AsyncClient, emulators: ProviderEmulators, provider: str, account: OAuthAccount
) -> dict[str, Any]:
    """The whole authorization-code flow (with PKCE) as `account`; the token answer."""
    emulators.oauth_servers()[provider].approve(account)
    verifier = secrets.token_urlsafe(48)
    extra = {"access_type": "offline", "prompt": "consent"} if provider == "google" else {}
    code = redirect_query(await authorize(http, emulators, provider, verifier=verifier, **extra))
    answer = await exchange(http, emulators, provider, code["code"], verifier=verifier)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body
