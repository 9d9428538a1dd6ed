"""Revoking a source's OAuth tokens where the provider can (RFC 7009: Google, PCO).

The refresh token is revoked (with it, at Google and PCO, its access tokens); a
provider that cannot be reached or refuses is not retried: the credentials are
forgotten anyway, and the user can still remove the app at the provider.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from consumers.oauth.client import OAuthApp


async def revoke(
    http: httpx.AsyncClient, url: str, app: OAuthApp | None, credentials: Mapping[str, str]
) -> bool:
    """Whether the provider took the revocation of the source's OAuth token."""
    token = credentials.get("refresh_token") or credentials.get("access_token")
    if not token:
        return False
    form = {"token": token}
    if app is not None:
        form |= {"client_id": app.client_id, "client_secret": app.client_secret}
    try:
        answer = await http.post(url, data=form)
    except httpx.HTTPError:
        return False
    return answer.status_code < 400
