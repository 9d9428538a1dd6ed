"""Google's connection facts (provider-apis.md §4).

OAuth: the code grant with PKCE (S256), `access_type=offline` and `prompt=consent`
(so a reconnect gets a refresh token again); Google does not rotate refresh tokens.
The client id and secret are kept with the tokens, as the calendar sync reads them
(`consumers.google.credentials`). The account is the Google account's email
(`/oauth2/v3/userinfo`); the test counts calendars (`calendarList.list`).
"""

from __future__ import annotations

from collections.abc import Mapping

from consumers.oauth.api import ApiError, Auth, ProviderApi
from consumers.oauth.client import OAuthApp, TokenSet
from consumers.oauth.connect import Account
from consumers.oauth.webhooks import WebhookFacts

MAX_RESULTS = 250
MAX_PAGES = 20


class GoogleConnect:
    name = "google"
    pkce = True
    token_requests_per_minute: int | None = None
    authorize_extra: Mapping[str, str] = {"access_type": "offline", "prompt": "consent"}
    api_headers: Mapping[str, str] = {}
    webhooks: WebhookFacts | None = None
    """Google pushes through channels (`gateway.google.channels`), not subscriptions."""

    def token_auth(self, credentials: Mapping[str, str]) -> Auth | None:
        return None

    def oauth_extras(self, tokens: TokenSet, app: OAuthApp) -> dict[str, str]:
        return {"client_id": app.client_id, "client_secret": app.client_secret}

    async def account(self, api: ProviderApi, credentials: Mapping[str, str]) -> Account:
        info = await api.get("/oauth2/v3/userinfo")
        email = info.get("email")
        if not isinstance(email, str) or not email:
            raise ApiError("forbidden", "Google gave no email: was the `email` scope granted?")
        return Account(id=email, name=email)

    async def counts(
        self, api: ProviderApi, credentials: Mapping[str, str], account: Account
    ) -> dict[str, int]:
        count = 0
        params = {"maxResults": str(MAX_RESULTS)}
        for _ in range(MAX_PAGES):
            body = await api.get("/calendar/v3/users/me/calendarList", params)
            items = body.get("items")
            count += len(items) if isinstance(items, list) else 0
            following = body.get("nextPageToken")
            if not isinstance(following, str):
                break
            params = {"maxResults": str(MAX_RESULTS), "pageToken": following}
        return {"calendars": count}
