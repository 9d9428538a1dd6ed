"""Scheduled reconciliation: a source imported once is synced again incrementally every
`HOOKGATE_RECONCILE_SECONDS` and in full every `HOOKGATE_FULL_RECONCILE_SECONDS`, and
the full one finds what no webhook said (a person merged away at PCO is deleted)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.runtime.serve import build_app
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import running_gateway
from tests.gateway.connecting import connect_settings
from tests.imports.syncing import counts, finished, sync


async def test_scheduled_syncs_follow_the_settings_and_the_full_one_finds_a_merge(
    tmp_path: Path, store_url: str, providers: ProviderEmulators
) -> None:
    pco = providers.pco
    org = pco.add_organization("Grace")
    people = pco.add_people(org, 20)
    app_id, secret = pco.add_personal_access_token(org)
    settings = connect_settings(
        tmp_path, providers, database_url=store_url, reconcile_seconds=1, full_reconcile_seconds=3
    )
    async with running_gateway(settings, build_app) as gateway:
        source = (
            await gateway.add_source(
                "pco", tenant="church", credentials={"app_id": app_id, "secret": secret}
            )
        )["id"]
        first = await sync(gateway, source)
        await pco.merge_people(org, people[0].id, people[1].id)
        async with asyncio.timeout(20):
            while True:
                listed = (await gateway.admin.get(f"/admin/sources/{source}/syncs")).json()
                modes = [view["mode"] for view in listed["syncs"]]
                if modes.count("full") >= 2:
                    break
                await asyncio.sleep(0.1)
        scheduled_full = next(
            view for view in listed["syncs"] if view["mode"] == "full" and view["id"] != first["id"]
        )
        scheduled_full = await finished(gateway, scheduled_full["id"])
        completed_full = 'hookgate_syncs_total{mode="full",provider="pco",status="completed"} 2.0'
        async with asyncio.timeout(10):  # counted just after the sync's row is final
            while completed_full not in (metrics := (await gateway.client.get("/metrics")).text):
                await asyncio.sleep(0.05)

    assert "incremental" in modes
    assert scheduled_full["status"] == "completed", scheduled_full
    assert counts(scheduled_full)["deleted"] == 1
    assert counts(scheduled_full)["processed"] == 19
    found = [
        line
        for line in metrics.splitlines()
        if line.startswith('hookgate_reconcile_changes_total{provider="pco"}')
    ]
    assert found, metrics
    assert float(found[0].split()[-1]) >= 1, found
