"""Subscriptions a provider lost or disabled, provisioned again during reconciliation.

The scheduled reconciliation (`consumers.imports.schedule`) asks, per source it
reconciles whose provider repairs webhooks (`ConsumerProvider.repairs_webhooks`: PCO,
Calendly): are its recorded subscriptions still there and active? If not,
the same provisioning as `POST /admin/sources/{id}/webhooks` runs (idempotent: PCO's
are reactivated or made, Calendly's replaced).
"""

from __future__ import annotations

from consumers.providers import CONSUMER_PROVIDERS
from gateway.admin.provisioning import Provisioning
from gateway.app import GatewayContext
from gateway.runtime.connect import ProviderConnection


class WebhookRepair:
    def __init__(self, context: GatewayContext) -> None:
        self._context = context
        self._connections = {
            provider.name: ProviderConnection(provider.connect, context)
            for provider in CONSUMER_PROVIDERS.values()
            if provider.repairs_webhooks
        }
        self._provisioning = Provisioning(
            connectors=self._connections,
            repository=context.sources,
            cache=context.cache,
            public_url=context.settings.resolved_public_url,
            clock=context.clock,
        )

    async def __call__(self, source_id: str) -> bool:
        """Provision the source's webhooks again if one lapsed; whether that was done.
        Raises `ProviderRefused` when the provider cannot be asked or refuses."""
        source = await self._context.sources.get(source_id)
        if source is None or source.provider not in self._connections:
            return False
        lapsed = await self._connections[source.provider].lapsed(
            source, url=self._provisioning.url_of(source)
        )
        if lapsed == 0:
            return False
        refused = await self._provisioning.provision(source)
        if refused is not None:
            raise refused
        return True

    def __repr__(self) -> str:
        return f"WebhookRepair({sorted(self._connections)!r})"
