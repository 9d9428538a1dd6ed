"""A scheduled reconciliation provisions again the subscriptions a provider disabled
(Calendly after 24 h of failed deliveries, PCO after ~5 days), through the real
server against the emulators."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.runtime.serve import build_app
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import RunningGateway, running_gateway
from tests.gateway.connecting import connect, connect_settings, holder, redirect_query


async def _reprovisioned(gateway: RunningGateway, provider: str) -> str:
    """The metrics once the reprovisioning of `provider`'s webhooks is counted."""
    counted = f'hookgate_webhooks_reprovisioned_total{{provider="{provider}"}} 1.0'
    async with asyncio.timeout(20):
        while counted not in (metrics := (await gateway.client.get("/metrics")).text):
            await asyncio.sleep(0.05)
    return metrics


async def test_a_disabled_calendly_subscription_is_made_again_by_reconciliation(
    tmp_path: Path, providers: ProviderEmulators, store_url: str
) -> None:
    calendly = providers.calendly
    held = holder(providers, "calendly")
    org = next(iter(calendly.organizations.values()))
    calendly.uri_base = providers.api_base("calendly")
    settings = connect_settings(tmp_path, providers, database_url=store_url, reconcile_seconds=1)
    async with running_gateway(settings, build_app) as gateway:
        source_id = redirect_query(await connect(gateway, providers, "calendly", held.account))[
            "source_id"
        ]
        (first,) = org.subscriptions.values()
        calendly.disable_subscription(first)
        await _reprovisioned(gateway, "calendly")
        shown = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()
        recorded = await gateway.app.state.context.sources.get(source_id)

    (again,) = org.subscriptions.values()
    assert again.uuid != first.uuid
    assert (again.state, again.callback_url) == ("active", shown["url"])
    assert shown["webhooks"] == "provisioned", shown
    assert [s["id"].rpartition("/")[2] for s in recorded.subscriptions] == [again.uuid]


async def test_a_deactivated_pco_subscription_is_activated_by_reconciliation(
    tmp_path: Path, providers: ProviderEmulators, store_url: str
) -> None:
    held = holder(providers, "pco")
    org = providers.pco.organizations[held.account_id]
    settings = connect_settings(tmp_path, providers, database_url=store_url, reconcile_seconds=1)
    async with running_gateway(settings, build_app) as gateway:
        redirect_query(await connect(gateway, providers, "pco", held.account))
        made = {s.id for s in org.subscriptions.values()}
        lapsed = next(iter(org.subscriptions.values()))
        lapsed.active = False
        metrics = await _reprovisioned(gateway, "pco")

    assert {s.id for s in org.subscriptions.values()} == made  # reactivated, none added
    assert all(s.active for s in org.subscriptions.values())
    assert 'hookgate_webhooks_reprovisioned_total{provider="calendly"} 0.0' in metrics
