"""An import within Planning Center's rate limit, resumed after its process stops, one at
a time per source, and canceled without deleting: through the real server against the
emulator (on the real clock), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.runtime.serve import build_app
from schemas.store import members
from schemas.sync_store import syncs
from tests.emulators.ratelimit import FixedWindowLimiter
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import RunningGateway, running_gateway
from tests.gateway.connecting import connect_settings
from tests.imports.syncing import counts, finished, serving, start_sync, sync


def limit(providers: ProviderEmulators, requests: int, seconds: float) -> FixedWindowLimiter:
    limiter = FixedWindowLimiter(requests, seconds, providers.pco._now)
    providers.pco.rate_limit = limiter
    return limiter


async def pco_source(providers: ProviderEmulators, people: int) -> tuple[str, str]:
    org = providers.pco.add_organization("Grace")
    providers.pco.add_people(org, people)
    return providers.pco.add_personal_access_token(org)


async def church_source(gateway: RunningGateway, app_id: str, secret: str) -> str:
    """A PCO source of the church's personal access token."""
    return await gateway.add_source_id(
        "pco", tenant="church", credentials={"app_id": app_id, "secret": secret}
    )


async def processed_at_least(gateway: RunningGateway, sync_id: str, count: int) -> None:
    async with asyncio.timeout(30):
        while (await gateway.admin.get(f"/admin/syncs/{sync_id}")).json()[
            "items_processed"
        ] < count:
            await asyncio.sleep(0.02)


async def test_an_import_keeps_to_the_published_limit_and_obeys_retry_after(
    tmp_path: Path, store_url: str, providers: ProviderEmulators
) -> None:
    app_id, secret = await pco_source(providers, 1234)
    limiter = limit(providers, 5, 1)
    providers.pco.faults.inject(429, after=4, retry_after="1")
    async with serving(tmp_path, providers, store_url) as gateway:
        source = await church_source(gateway, app_id, secret)
        view = await sync(gateway, source)

    assert (counts(view)["processed"], counts(view)["created"]) == (1234, 1234), view
    assert providers.pco.faults.served == 1
    assert limiter.counters.requests > 2 * limiter.limit
    assert limiter.counters.refused == 0
    assert limiter.counters.ignored_retry_after == 0


async def test_a_sync_stopped_mid_way_resumes_from_its_last_page_with_exact_counts(
    tmp_path: Path, store_url: str, providers: ProviderEmulators, engine: AsyncEngine
) -> None:
    app_id, secret = await pco_source(providers, 1234)
    limit(providers, 3, 1)
    settings = connect_settings(tmp_path, providers, database_url=store_url)
    async with running_gateway(settings, build_app) as gateway:
        source = await church_source(gateway, app_id, secret)
        sync_id = await start_sync(gateway, source)
        await processed_at_least(gateway, sync_id, 400)
    pages_before = providers.pco.counters.people_pages
    async with running_gateway(settings, build_app, migrate=False) as gateway:
        view = await finished(gateway, sync_id)
    async with engine.connect() as connection:
        rows = await connection.scalar(select(func.count()).select_from(members))

    assert 4 <= pages_before < 13
    assert providers.pco.counters.people_pages <= 13 + 1
    assert view["status"] == "completed", view
    assert (counts(view)["processed"], counts(view)["created"]) == (1234, 1234), view
    assert rows == 1234


async def test_one_sync_at_a_time_and_a_canceled_one_deletes_nothing(
    tmp_path: Path, store_url: str, providers: ProviderEmulators, engine: AsyncEngine
) -> None:
    org = providers.pco.add_organization("Grace")
    people = providers.pco.add_people(org, 250)
    app_id, secret = providers.pco.add_personal_access_token(org)
    async with serving(tmp_path, providers, store_url) as gateway:
        source = await church_source(gateway, app_id, secret)
        assert (await sync(gateway, source))["status"] == "completed"
        for person in people[:5]:
            await providers.pco.delete_person(org, person.id)
        limit(providers, 1, 2)
        running = await start_sync(gateway, source)
        second = await gateway.admin.post(f"/admin/sources/{source}/sync", json={})
        canceled = await gateway.admin.post(f"/admin/syncs/{running}/cancel")
        view = await finished(gateway, running)
        unknown = await gateway.admin.get("/admin/syncs/sync_nope")
        bad_mode = await gateway.admin.post(
            f"/admin/sources/{source}/sync", json={"mode": "sometimes"}
        )
    async with engine.connect() as connection:
        live = await connection.scalar(
            select(func.count()).select_from(members).where(members.c.deleted_at.is_(None))
        )

    assert (second.status_code, second.json()["error"]) == (409, "sync_running")
    assert canceled.status_code == 202
    assert view["status"] == "canceled", view
    assert view["items_deleted"] == 0
    assert live == 250
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_sync")
    assert bad_mode.status_code == 400


async def test_a_sync_whose_process_died_holding_the_lease_resumes_when_it_expires(
    tmp_path: Path, store_url: str, providers: ProviderEmulators, engine: AsyncEngine
) -> None:
    app_id, secret = await pco_source(providers, 600)
    limit(providers, 2, 1)
    settings = connect_settings(tmp_path, providers, database_url=store_url)
    async with running_gateway(settings, build_app) as gateway:
        source = await church_source(gateway, app_id, secret)
        sync_id = await start_sync(gateway, source)
        await processed_at_least(gateway, sync_id, 200)
    # as a process killed with -9 leaves it: the lease held by an owner that is gone
    expires = datetime.now(UTC) + timedelta(seconds=2)
    async with engine.begin() as connection:
        await connection.execute(
            update(syncs)
            .where(syncs.c.id == sync_id)
            .values(lease_owner="runner_killed", lease_expires_at=expires)
        )
    pages_before = providers.pco.counters.people_pages
    async with running_gateway(settings, build_app, migrate=False) as gateway:
        await asyncio.sleep(1)
        while_held = providers.pco.counters.people_pages
        view = await finished(gateway, sync_id)

    assert while_held == pages_before
    assert view["status"] == "completed", view
    assert (counts(view)["processed"], counts(view)["created"]) == (600, 600), view
    assert providers.pco.counters.people_pages <= 6 + 1
