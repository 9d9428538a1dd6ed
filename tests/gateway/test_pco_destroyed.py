"""Planning Center `*.destroyed` documents are deletes whatever their `attributes` hold:
signed deliveries through the server, applied by the embedded consumers on both stores."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.runtime.serve import build_app
from schemas import samples
from schemas.store import member_emails, members
from tests.fixtures.gateway import make_settings, running_gateway
from tests.gateway import deliveries

_ABSENT = object()
VARIANTS: dict[str, object] = {"absent": _ABSENT, "empty": {}, "null": None}


def destroyed(event: str, person: str, now: datetime, attributes: object) -> bytes:
    """A `people.v2.events.{event}` delivery whose document's `attributes` are `attributes`."""
    body = orjson.loads(samples.pco(event, now=now, person_id=person, resource_id=f"E-{person}"))
    document = orjson.loads(body["data"][0]["attributes"]["payload"])
    document["data"].pop("attributes", None)
    if attributes is not _ABSENT:
        document["data"]["attributes"] = attributes
    body["data"][0]["attributes"]["payload"] = orjson.dumps(document).decode()
    return orjson.dumps(body)


async def _deleted(engine: AsyncEngine, table: Any, column: Any, keys: set[str]) -> set[str]:
    async with engine.connect() as connection:
        found = await connection.execute(
            select(column).where(table.c.tenant == "church", table.c.deleted_at.is_not(None))
        )
        return {value for (value,) in found} & keys


async def test_destroyed_documents_are_deletes_whatever_their_attributes(
    tmp_path: Path, store_url: str, engine: AsyncEngine
) -> None:
    settings = make_settings(tmp_path, database_url=store_url)
    now = datetime.now(UTC)
    async with running_gateway(settings, build_app) as gateway:
        source = (await gateway.add_source("pco", tenant="church", secret=deliveries.PCO_SECRET))[
            "id"
        ]

        async def post(body: bytes) -> None:
            signed = deliveries.pco(now, body=body)
            response = await gateway.client.post(
                f"/webhooks/pco/{source}", content=signed.body, headers=signed.headers
            )
            assert response.status_code == 200, response.text

        for name, attributes in VARIANTS.items():
            person = f"P-{name}"
            await post(samples.pco("person.created", now=now, person_id=person))
            await post(
                samples.pco("email.created", now=now, person_id=person, resource_id=f"E-{person}")
            )
            await post(destroyed("person.destroyed", person, now, attributes))
            await post(destroyed("email.destroyed", person, now, attributes))
        people = {f"P-{name}" for name in VARIANTS}
        emails = {f"E-{person}" for person in people}
        async with asyncio.timeout(15):
            while await _deleted(engine, members, members.c.pco_person_id, people) != people or (
                await _deleted(engine, member_emails, member_emails.c.pco_email_id, emails)
                != emails
            ):
                await asyncio.sleep(0.05)
