"""A Planning Center merge (`person_merger.created`, no `person.destroyed`) deletes the
merged-away member, through the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.store import members
from tests.emulators.suite import ProviderEmulators
from tests.gateway import deliveries
from tests.imports.syncing import serving, sync


def merger(keep: str, remove: str, at: datetime) -> bytes:
    document = {
        "data": {
            "type": "PersonMerger",
            "id": str(uuid.uuid4().int % 10**8),
            "attributes": {
                "person_to_keep_id": keep,
                "person_to_remove_id": remove,
                "created_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }
    }
    delivery = {
        "id": str(uuid.uuid4()),
        "type": "EventDelivery",
        "attributes": {
            "name": "people.v2.events.person_merger.created",
            "attempt": 1,
            "payload": orjson.dumps(document).decode(),
        },
        "relationships": {"organization": {"data": {"type": "Organization", "id": "1"}}},
    }
    return orjson.dumps({"data": [delivery]})


async def test_a_merged_away_person_is_deleted(
    tmp_path: Path, store_url: str, engine: AsyncEngine, providers: ProviderEmulators
) -> None:
    org = providers.pco.add_organization("Grace")
    keep, remove = providers.pco.add_people(org, 2)
    app_id, secret = providers.pco.add_personal_access_token(org)
    async with serving(tmp_path, providers, store_url) as gateway:
        source = (
            await gateway.add_source(
                "pco",
                tenant="church",
                secret=deliveries.PCO_SECRET,
                credentials={"app_id": app_id, "secret": secret},
            )
        )["id"]
        assert (await sync(gateway, source))["items_created"] == 2
        now = datetime.now(UTC) + timedelta(seconds=1)
        signed = deliveries.pco(now, body=merger(keep.id, remove.id, now))
        response = await gateway.client.post(
            f"/webhooks/pco/{source}", content=signed.body, headers=signed.headers
        )
        assert response.status_code == 200, response.text
        query = select(members.c.pco_person_id).where(members.c.deleted_at.is_not(None))
        async with asyncio.timeout(10):
            while True:
                async with engine.connect() as connection:
                    deleted = set((await connection.execute(query)).scalars())
                if deleted:
                    break
                await asyncio.sleep(0.05)

    assert deleted == {remove.id}
