"""Connecting a source by OAuth starts its initial import: through the real server, the
flow approved at the emulator, the people in the store at the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.runtime.serve import build_app
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import running_gateway
from tests.gateway.connecting import connect, connect_settings, redirect_query
from tests.imports.syncing import counts, finished


async def test_an_oauth_connection_starts_the_initial_import(
    tmp_path: Path, store_url: str, providers: ProviderEmulators
) -> None:
    org = providers.pco.add_organization("Grace")
    providers.pco.add_people(org, 120)
    settings = connect_settings(tmp_path, providers, database_url=store_url)
    async with running_gateway(settings, build_app) as gateway:
        answer = await connect(gateway, providers, "pco", providers.pco.account(org))
        source = redirect_query(answer)["source_id"]
        async with asyncio.timeout(10):
            while not (
                syncs := (await gateway.admin.get(f"/admin/sources/{source}/syncs")).json()["syncs"]
            ):
                await asyncio.sleep(0.05)
        view = await finished(gateway, syncs[0]["id"])

    assert len(syncs) == 1
    assert view["mode"] == "full"
    assert view["status"] == "completed", view
    assert (counts(view)["processed"], counts(view)["created"]) == (120, 120)
