"""Calendly's connection facts (provider-apis.md §3).

OAuth: the code grant with PKCE (S256), 2 h access tokens, single-use rotating
refresh tokens (8 token requests a minute per user); the token answer's `owner` and
`organization` URIs are kept. A personal access token is a bearer token. The account
is the organization (`GET /users/me`, `current_organization`); the test counts the
organization's scheduled events (`count=100` pages; Calendly gives no total).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consumers.calendly.webhooks import CalendlyWebhooks
from consumers.oauth.api import ApiError, Auth, ProviderApi, StaticAuth
from consumers.oauth.client import OAuthApp, TokenSet
from consumers.oauth.connect import Account
from consumers.oauth.webhooks import WebhookFacts

PAGE_SIZE = 100
MAX_PAGES = 50
"""The test counts at most this many pages (5,000 events)."""


class CalendlyConnect:
    name = "calendly"
    pkce = True
    token_requests_per_minute: int | None = 8
    """Calendly: 8 token requests a minute per user (provider-apis.md)."""
    authorize_extra: Mapping[str, str] = {}
    api_headers: Mapping[str, str] = {}
    webhooks: WebhookFacts | None = CalendlyWebhooks()

    def token_auth(self, credentials: Mapping[str, str]) -> Auth | None:
        token = credentials.get("personal_access_token")
        return StaticAuth({"Authorization": f"Bearer {token}"}) if token else None

    def oauth_extras(self, tokens: TokenSet, app: OAuthApp) -> dict[str, str]:
        return {
            name: str(tokens.fields[name])
            for name in ("owner", "organization")
            if isinstance(tokens.fields.get(name), str)
        }

    async def account(self, api: ProviderApi, credentials: Mapping[str, str]) -> Account:
        user = _object((await api.get("/users/me")).get("resource"))
        organization = user.get("current_organization")
        if not isinstance(organization, str) or not organization:
            raise ApiError("unreachable", "Calendly's user has no current_organization.")
        return Account(
            id=organization,
            name=str(user.get("name") or ""),
            details={"owner": str(user.get("uri") or "")},
        )

    async def counts(
        self, api: ProviderApi, credentials: Mapping[str, str], account: Account
    ) -> dict[str, int]:
        count = 0
        page: str | None = "/scheduled_events"
        params: dict[str, str] | None = {"organization": account.id, "count": str(PAGE_SIZE)}
        for _ in range(MAX_PAGES):
            if page is None:
                break
            body = await api.get(page, params)
            collection = body.get("collection")
            count += len(collection) if isinstance(collection, list) else 0
            following = _object(body.get("pagination")).get("next_page")
            page, params = (following, None) if isinstance(following, str) else (None, None)
        return {"scheduled_events": count}


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
