"""GHL's Marketplace app posts every location's deliveries to one URL: through the real
server (embedded consumers) with two OAuth-connected locations of two tenants, each
delivery lands under its location's tenant, and `AppUninstall` disconnects that
location's source."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.runtime.serve import build_app
from schemas.store import contacts
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import RunningGateway, running_gateway
from tests.gateway.connecting import connect, connect_settings, redirect_query
from tests.gateway.provisioning import post_delivery, rows_of, wait_for_rows


async def status_of(gateway: RunningGateway, source_id: str, wanted: str) -> str:
    deadline = time.monotonic() + 15
    while True:
        status: str = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()["status"]
        if status == wanted or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.1)


async def test_each_location_lands_under_its_own_tenant_and_uninstall_disconnects_it(
    tmp_path: Path, providers: ProviderEmulators, store_url: str, engine: AsyncEngine
) -> None:
    ghl = providers.ghl
    first, second = ghl.add_location("First Dental"), ghl.add_location("Second Dental")
    settings = connect_settings(
        tmp_path,
        providers,
        database_url=store_url,
        ghl_public_key_ed25519=ghl.public_key_pem,
        source_cache_seconds=0.2,
    )
    async with running_gateway(settings, build_app) as gateway:
        one = redirect_query(
            await connect(gateway, providers, "ghl", ghl.account(first), tenant="one")
        )["source_id"]
        two = redirect_query(
            await connect(gateway, providers, "ghl", ghl.account(second), tenant="two")
        )["source_id"]
        ghl.webhook_url = f"{gateway.base_url}/webhooks/ghl/{two}"  # the app's one URL
        ghl.deliver = post_delivery
        await ghl.install(first)
        await ghl.add_contact(first, "Ada", "Lovelace", email="ada@example.com")
        landed = await wait_for_rows(engine, contacts, "one", 1)
        await ghl.uninstall(first)
        after_uninstall = await status_of(gateway, one, "disconnected")
        still = await status_of(gateway, two, "active")
        under_two = await rows_of(engine, contacts, "two")

    assert [status for *_, status in ghl.delivered] == [200, 200, 200]
    assert landed == 1
    assert under_two == 0
    assert after_uninstall == "disconnected"
    assert still == "active"
