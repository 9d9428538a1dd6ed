"""LeadConnector's connection facts (provider-apis.md §2).

OAuth: `chooselocation`, the code grant (no PKCE documented), 24 h access tokens and
rotating refresh tokens; the token answer names the install (`userType`,
`locationId`, `companyId`), kept with the tokens. A private integration token carries
no location, so its credentials name one (`location_id`). Every call sends
`Version: 2021-07-28`. The account is the location (`GET /locations/{id}`); the test
counts contacts (`POST /contacts/search`, its `total`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consumers.oauth.api import ApiError, Auth, ProviderApi, StaticAuth
from consumers.oauth.client import OAuthApp, TokenSet
from consumers.oauth.connect import Account
from consumers.oauth.webhooks import WebhookFacts

API_VERSION = "2021-07-28"
TOKEN_FIELDS = {"locationId": "location_id", "companyId": "company_id", "userType": "user_type"}


class GhlConnect:
    name = "ghl"
    pkce = False
    token_requests_per_minute: int | None = None
    authorize_extra: Mapping[str, str] = {}
    api_headers: Mapping[str, str] = {"Version": API_VERSION}
    webhooks: WebhookFacts | None = None
    """The Marketplace app's one URL takes every location's deliveries."""

    def token_auth(self, credentials: Mapping[str, str]) -> Auth | None:
        token = credentials.get("private_integration_token")
        return StaticAuth({"Authorization": f"Bearer {token}"}) if token else None

    def oauth_extras(self, tokens: TokenSet, app: OAuthApp) -> dict[str, str]:
        return {
            kept: str(tokens.fields[given])
            for given, kept in TOKEN_FIELDS.items()
            if isinstance(tokens.fields.get(given), str)
        }

    async def account(self, api: ProviderApi, credentials: Mapping[str, str]) -> Account:
        location_id = credentials.get("location_id")
        if not location_id:
            raise ApiError("forbidden", "The GHL install is not a location (sub-account).")
        body = await api.get(f"/locations/{location_id}")
        location = _object(body.get("location"))
        details = {"company_id": str(location["companyId"])} if location.get("companyId") else {}
        return Account(id=location_id, name=str(location.get("name") or ""), details=details)

    async def counts(
        self, api: ProviderApi, credentials: Mapping[str, str], account: Account
    ) -> dict[str, int]:
        body = await api.post("/contacts/search", {"locationId": account.id, "pageLimit": 1})
        total = body.get("total")
        return {"contacts": int(total) if isinstance(total, int) else 0}


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
