"""Calendly's webhook subscription for a source (provider-apis.md §3).

One organization-scope subscription to the source's URL, with a signing key hookgate
makes (it becomes the source's secret). Calendly never shows a subscription's key
again and refuses a second one for the same URL (409), so whatever already points at
the URL is deleted first and the subscription made again with the new key: a
reconnect leaves exactly one. A plan without webhooks (403) leaves the source's
webhooks `manual`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from consumers.oauth.api import ApiError, ProviderApi
from consumers.oauth.webhooks import MANUAL, PROVISIONED, Provisioned

EVENTS = (
    "invitee.created",
    "invitee.canceled",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
)
"""What the consumers apply (`consumers.calendly.handler`)."""
MAX_PAGES = 20


class CalendlyWebhooks:
    async def provision(
        self, api: ProviderApi, *, url: str, account: Mapping[str, object]
    ) -> Provisioned:
        organization = str(account.get("id") or "")
        for existing in await self._pointing_at(api, organization, url):
            await api.delete(existing)
        key = secrets.token_urlsafe(32)
        body = {
            "url": url,
            "events": list(EVENTS),
            "organization": organization,
            "scope": "organization",
            "signing_key": key,
        }
        try:
            made = await api.post("/webhook_subscriptions", body)
        except ApiError as exc:
            if exc.status != 403:
                raise
            return Provisioned(
                MANUAL,
                "Calendly refused the webhook subscription (403: its plan has no webhooks, "
                "or the user is not an organization admin); add the webhook by hand.",
            )
        uri = str(_object(made.get("resource")).get("uri") or "")
        return Provisioned(
            PROVISIONED,
            "One organization webhook subscription for invitee events.",
            subscriptions=[{"id": uri, "name": "organization"}],
            signing_key=key,
        )

    async def remove(self, api: ProviderApi, subscriptions: Sequence[Mapping[str, str]]) -> None:
        for subscription in subscriptions:
            await api.delete(subscription["id"])

    async def lapsed(
        self,
        api: ProviderApi,
        *,
        url: str,
        account: Mapping[str, object],
        subscriptions: Sequence[Mapping[str, str]],
    ) -> int:
        """Calendly disables a subscription after 24 h of failed deliveries (`state`)."""
        states = await self._pointing_at(api, str(account.get("id") or ""), url)
        return sum(1 for s in subscriptions if states.get(s["id"]) != "active")

    @staticmethod
    async def _pointing_at(api: ProviderApi, organization: str, url: str) -> dict[str, str]:
        """The subscriptions to `url`: their uri and state."""
        found: dict[str, str] = {}
        page: str | None = "/webhook_subscriptions"
        params: dict[str, str] | None = {
            "organization": organization,
            "scope": "organization",
            "count": "100",
        }
        for _ in range(MAX_PAGES):
            if page is None:
                break
            body = await api.get(page, params)
            for item in body.get("collection") or ():
                if isinstance(item, dict) and item.get("callback_url") == url:
                    found[str(item["uri"])] = str(item.get("state") or "")
            following = _object(body.get("pagination")).get("next_page")
            page, params = (following, None) if isinstance(following, str) else (None, None)
        return found


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
