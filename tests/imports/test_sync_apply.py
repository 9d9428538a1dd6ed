"""The applier's side of a sync, on SQLite and PostgreSQL: a record its handler cannot
read is counted failed (the sync does not wait for it) and the others still apply; a
page applied again (a resumed sync) is counted once; webhook types are untouched."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.ghl.handler import GhlHandler
from consumers.handlers.synced import CountedSync
from consumers.imports.importer import sync_event
from consumers.imports.jobs import SyncJobs
from consumers.providers import build_registry
from schemas.store import members

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def person(person_id: str, name: str) -> dict[str, object]:
    return {
        "type": "Person",
        "id": person_id,
        "attributes": {"first_name": name, "last_name": "L", "updated_at": "2026-02-01T00:00:00Z"},
    }


async def test_unreadable_records_count_as_failed_and_a_page_twice_counts_once(
    engine: AsyncEngine,
) -> None:
    jobs = SyncJobs(engine)
    job = await jobs.create(
        source_id="src_a", provider="pco", tenant="church", mode="full", now=NOW
    )
    assert job is not None
    applier = Applier(engine, build_registry())
    page = [
        sync_event(
            job,
            "pco.person.synced",
            subject=subject,
            data=data,
            time=NOW,
            version="v1",
        )
        for subject, data in (
            ("1", {"data": person("1", "Ann"), "included": []}),
            ("2", {"data": {"type": "Person"}, "included": []}),
            ("3", {"data": person("3", "Cy"), "included": []}),
        )
    ]
    await applier.apply(page)
    await applier.apply(page)
    after = await jobs.get(job.id)
    async with engine.connect() as connection:
        stored = await connection.scalar(select(func.count()).select_from(members))

    assert after is not None
    assert after.counts["items_created"] == 2
    assert after.counts["items_failed"] == 1
    assert after.applied == 3
    assert stored == 2


def test_sync_events_have_handlers_of_their_own() -> None:
    registry = build_registry()
    webhook = registry.resolve("ghl.contact.deleted")
    by_sync = registry.resolve("ghl.contact.deleted", synced=True)
    assert isinstance(webhook, GhlHandler)
    assert isinstance(by_sync, CountedSync)
    assert orjson.dumps(sorted(t for t in registry.event_types if t.endswith(".synced"))) == (
        b'["calendly.invitee.synced","ghl.contact.synced","pco.person.synced"]'
    )
