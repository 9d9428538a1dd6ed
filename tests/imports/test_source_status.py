"""A source shows `syncing` while an import runs and `active` again after it, and
`last_delivery_at` once a webhook delivery of it has been applied; that time is written
at most once a minute per source, not once per delivery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.deliveries import LastDeliveries
from gateway.runtime.serve import build_app
from schemas import CloudEvent
from schemas.envelope import source_uri
from schemas.tables import sources
from tests.emulators.ratelimit import FixedWindowLimiter
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import make_settings, running_gateway
from tests.gateway import deliveries
from tests.imports.syncing import finished, serving, start_sync


async def test_a_source_is_syncing_while_its_import_runs_and_active_after(
    tmp_path: Path, store_url: str, providers: ProviderEmulators
) -> None:
    org = providers.pco.add_organization("Grace")
    providers.pco.add_people(org, 250)
    app_id, secret = providers.pco.add_personal_access_token(org)
    providers.pco.rate_limit = FixedWindowLimiter(1, 2, providers.pco._now)
    async with serving(tmp_path, providers, store_url) as gateway:
        credentials = {"app_id": app_id, "secret": secret}
        source = (await gateway.add_source("pco", tenant="church", credentials=credentials))["id"]
        before = (await gateway.admin.get(f"/admin/sources/{source}")).json()
        running = await start_sync(gateway, source)
        during = (await gateway.admin.get(f"/admin/sources/{source}")).json()
        listed = (await gateway.admin.get("/admin/sources")).json()["sources"]
        await gateway.admin.post(f"/admin/syncs/{running}/cancel")
        await finished(gateway, running)
        after = (await gateway.admin.get(f"/admin/sources/{source}")).json()

    assert before["status"] == "active"
    assert (during["status"], during["last_sync"]["status"]) == ("syncing", "running")
    assert [s["status"] for s in listed] == ["syncing"]
    assert (after["status"], after["last_sync"]["status"]) == ("active", "canceled")


async def test_an_applied_delivery_sets_the_sources_last_delivery_at(tmp_path: Path) -> None:
    async with running_gateway(make_settings(tmp_path), build_app) as gateway:
        source = await gateway.add_source_id(
            "calendly", tenant="acme", secret=deliveries.CALENDLY_KEY
        )
        before = (await gateway.admin.get(f"/admin/sources/{source}")).json()
        signed = deliveries.calendly(datetime.now(UTC))
        posted = await gateway.client.post(
            f"/webhooks/calendly/{source}", content=signed.body, headers=signed.headers
        )
        async with asyncio.timeout(10):
            while not (view := (await gateway.admin.get(f"/admin/sources/{source}")).json())[
                "last_delivery_at"
            ]:
                await asyncio.sleep(0.05)

    assert posted.status_code == 200, posted.text
    assert before["last_delivery_at"] is None
    assert datetime.fromisoformat(view["last_delivery_at"]) > datetime.now(UTC) - timedelta(
        seconds=30
    )


def _delivery(source_id: str, n: int, *, syncid: str | None = None) -> CloudEvent:
    return CloudEvent(
        id=f"evt-{n}",
        source=source_uri("calendly", source_id),
        type="calendly.invitee.created",
        time=datetime.now(UTC),
        subject=f"invitee-{n}",
        tenant="acme",
        provider="calendly",
        partitionkey=f"acme:invitee-{n}",
        data=b"{}",
        syncid=syncid,
    )


async def test_last_delivery_at_is_written_at_most_once_a_minute_per_source(
    engine: AsyncEngine,
) -> None:
    start = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    async with engine.begin() as connection:
        await connection.execute(
            insert(sources).values(
                id="src_a", provider="calendly", tenant="acme", created_at=start, updated_at=start
            )
        )
    now = [start]
    ticks = [0.0]
    recorder = LastDeliveries(engine, clock=lambda: now[0], monotonic=lambda: ticks[0])

    async def stored() -> datetime | None:
        async with engine.connect() as connection:
            value = await connection.scalar(
                select(sources.c.last_delivery_at).where(sources.c.id == "src_a")
            )
        return None if value is None else value.replace(tzinfo=UTC)

    await recorder.applied([_delivery("src_a", 1), _delivery("src_a", 2)])
    first = await stored()
    for n in range(3, 13):
        now[0] += timedelta(seconds=5)
        ticks[0] += 5
        await recorder.applied([_delivery("src_a", n)])
    within_the_minute = (recorder.writes, await stored())
    now[0] += timedelta(seconds=5)
    await recorder.applied([_delivery("src_a", 99, syncid="sync_x")])
    ticks[0] += 10
    flushed = await recorder.flush()

    assert first == start
    assert within_the_minute == (1, start)
    assert flushed == 1
    assert (recorder.writes, await stored()) == (2, start + timedelta(seconds=50))
