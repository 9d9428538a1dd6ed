"""An incremental sync asks the provider for what changed since the last sync began on
the provider's own clock (its `Date`), less an overlap, so a provider whose clock is
minutes off ours loses nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.runtime.serve import build_app
from tests.fixtures.gateway import running_gateway
from tests.gateway.connecting import connect_settings
from tests.imports.syncing import clocked_emulators, counts, sync


async def test_a_provider_clock_minutes_behind_ours_misses_no_change(tmp_path: Path) -> None:
    async with clocked_emulators() as (emulators, clock):
        clock.moment = datetime.now(UTC) - timedelta(minutes=10)
        org = emulators.pco.add_organization("Grace")
        app_id, secret = emulators.pco.add_personal_access_token(org)
        settings = connect_settings(tmp_path, emulators)
        async with running_gateway(settings, build_app) as gateway:
            credentials = {"app_id": app_id, "secret": secret}
            source = (await gateway.add_source("pco", tenant="church", credentials=credentials))[
                "id"
            ]
            full = await sync(gateway, source)
            clock.moment += timedelta(minutes=2)
            await emulators.pco.add_person(org, "Late", "Comer", emails=["late@example.com"])
            incremental = await sync(gateway, source, "incremental")
            queries = list(emulators.pco.counters.pages_by_query)

    assert counts(full)["processed"] == 0, full
    # stamped 8 minutes before our clock's now, after the provider's clock at the full sync
    assert (counts(incremental)["processed"], counts(incremental)["created"]) == (1, 1)
    assert "where%5Bupdated_at%5D%5Bgte%5D" in queries[-1]
