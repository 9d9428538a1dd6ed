"""Planning Center's connection facts (provider-apis.md §1).

OAuth: the code grant, no PKCE (not documented), 2 h access tokens and rotating
refresh tokens. A personal access token is `app_id:secret` over HTTP Basic. The
account is the organization (`GET /people/v2`); the test counts people
(`meta.total_count` of one page of one).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from consumers.oauth.api import ApiError, Auth, ProviderApi, StaticAuth
from consumers.oauth.client import OAuthApp, TokenSet
from consumers.oauth.connect import Account
from consumers.oauth.webhooks import WebhookFacts
from consumers.pco.webhooks import PcoWebhooks


class PcoConnect:
    name = "pco"
    pkce = False
    token_requests_per_minute: int | None = None
    authorize_extra: Mapping[str, str] = {}
    api_headers: Mapping[str, str] = {}
    webhooks: WebhookFacts | None = PcoWebhooks()

    def token_auth(self, credentials: Mapping[str, str]) -> Auth | None:
        if credentials.get("app_id") and credentials.get("secret"):
            pair = f"{credentials['app_id']}:{credentials['secret']}".encode()
            return StaticAuth({"Authorization": "Basic " + base64.b64encode(pair).decode()})
        return None

    def oauth_extras(self, tokens: TokenSet, app: OAuthApp) -> dict[str, str]:
        return {}

    async def account(self, api: ProviderApi, credentials: Mapping[str, str]) -> Account:
        body = await api.get("/people/v2")
        data = _object(body.get("data"))
        attributes = _object(data.get("attributes"))
        if not data.get("id"):
            raise ApiError("unreachable", "Planning Center's organization has no id.")
        return Account(id=str(data["id"]), name=str(attributes.get("name") or ""))

    async def counts(
        self, api: ProviderApi, credentials: Mapping[str, str], account: Account
    ) -> dict[str, int]:
        body = await api.get("/people/v2/people", {"per_page": "1"})
        total = _object(body.get("meta")).get("total_count")
        return {"members": int(total) if isinstance(total, int) else 0}


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
