"""Planning Center's webhook subscriptions for a source (provider-apis.md §1).

One subscription per People event the consumers apply, each with its own
`authenticity_secret`: the source keeps them all and a delivery is genuine when any
verifies it. A subscription that already sends that event to the source's URL is
reused (its secret kept), so a reconnect makes no duplicates; one PCO deactivated
after failed deliveries is activated again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from consumers.oauth.api import ProviderApi
from consumers.oauth.webhooks import PROVISIONED, Provisioned

PATH = "/webhooks/v2/webhook_subscriptions"
EVENTS = tuple(
    f"people.v2.events.{resource}.{action}"
    for resource in ("person", "email", "phone_number")
    for action in ("created", "updated", "destroyed")
)
"""What the consumers apply (`consumers.pco.handler`)."""


class PcoWebhooks:
    async def provision(
        self, api: ProviderApi, *, url: str, account: Mapping[str, object]
    ) -> Provisioned:
        existing: dict[str, dict[str, Any]] = {}
        body = await api.get(PATH, {"per_page": "100"})
        for item in body.get("data") or ():
            attributes = _object(_object(item).get("attributes"))
            if attributes.get("url") == url and attributes.get("name") in EVENTS:
                existing.setdefault(str(attributes["name"]), _object(item))
        made: list[dict[str, str]] = []
        secrets: list[str] = []
        for name in EVENTS:
            item = existing.get(name)
            if item is None:
                attributes = {"name": name, "url": url, "active": True}
                item = _object((await api.post(PATH, {"data": {"attributes": attributes}}))["data"])
            elif _object(item.get("attributes")).get("active") is False:
                active = {"data": {"attributes": {"active": True}}}
                item = _object((await api.patch(f"{PATH}/{item['id']}", active))["data"])
            made.append({"id": str(item["id"]), "name": name})
            secret = _object(item.get("attributes")).get("authenticity_secret")
            if isinstance(secret, str) and secret:
                secrets.append(secret)
        return Provisioned(
            PROVISIONED,
            f"{len(made)} webhook subscriptions, one per People event.",
            subscriptions=made,
            secrets=secrets,
        )

    async def remove(self, api: ProviderApi, subscriptions: Sequence[Mapping[str, str]]) -> None:
        for subscription in subscriptions:
            await api.delete(f"{PATH}/{subscription['id']}")

    async def lapsed(
        self,
        api: ProviderApi,
        *,
        url: str,
        account: Mapping[str, object],
        subscriptions: Sequence[Mapping[str, str]],
    ) -> int:
        body = await api.get(PATH, {"per_page": "100"})
        active = {
            str(_object(item).get("id"))
            for item in body.get("data") or ()
            if _object(_object(item).get("attributes")).get("active") is True
        }
        return sum(1 for subscription in subscriptions if subscription["id"] not in active)


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
