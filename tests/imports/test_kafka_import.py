"""With Kafka, an import's events go to the provider's topic like its webhooks, carrying
`ce_syncid`, and the sync completes once a consumer applied them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from consumers.apply import Applier
from consumers.providers import build_registry
from gateway.runtime.serve import build_app
from gateway.store.engine import store_engine
from schemas import CloudEvent
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import running_gateway
from tests.gateway.connecting import connect_settings
from tests.imports.syncing import counts, finished, start_sync
from tests.kafka.helpers import read_topic


async def test_an_import_travels_on_the_provider_topic_with_its_sync_id(
    tmp_path: Path,
    providers: ProviderEmulators,
    kafka_bootstrap: str,
    topic_prefix: str,
    postgres_url: str,
) -> None:
    org = providers.pco.add_organization("Grace")
    providers.pco.add_people(org, 5)
    app_id, secret = providers.pco.add_personal_access_token(org)
    settings = connect_settings(
        tmp_path,
        providers,
        database_url=postgres_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_prefix,
    )
    engine = store_engine(postgres_url)
    try:
        async with running_gateway(settings, build_app) as gateway:
            source = (
                await gateway.add_source(
                    "pco", tenant="church", credentials={"app_id": app_id, "secret": secret}
                )
            )["id"]
            sync_id = await start_sync(gateway, source)
            records = await read_topic(kafka_bootstrap, settings.topic("pco"), expected=5)
            await asyncio.sleep(0.5)
            waiting = (await gateway.admin.get(f"/admin/syncs/{sync_id}")).json()
            events = [CloudEvent.from_kafka(r.headers, r.key, r.value) for r in records]
            await Applier(engine, build_registry()).apply(events)
            view = await finished(gateway, sync_id)
    finally:
        await engine.dispose()

    assert {event.type for event in events} == {"pco.person.synced"}
    assert {event.syncid for event in events} == {sync_id}
    assert waiting["status"] == "running"  # nothing applied it yet
    assert view["status"] == "completed", view
    assert (counts(view)["processed"], counts(view)["created"]) == (5, 5)
