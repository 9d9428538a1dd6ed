"""Planning Center people imported through the real server against the emulator, applied
by the embedded consumers, on SQLite and PostgreSQL: exact counts for a first import, a
second one, and one after changes and deletions at the provider; rows as the provider
has them; a newer webhook survives an import."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import samples
from schemas.store import members
from tests.emulators.pco_records import PcoOrganization
from tests.gateway import deliveries
from tests.imports.syncing import clocked_emulators, counts, serving, sync

PEOPLE = 1234


def expected(org: PcoOrganization) -> dict[str, tuple[str, str, str, str | None, str | None]]:
    return {
        person.id: (
            person.first_name,
            person.last_name,
            person.status,
            person.emails[0].address if person.emails else None,
            person.phone_numbers[0].number if person.phone_numbers else None,
        )
        for person in org.people.values()
    }


async def stored(engine: AsyncEngine) -> dict[str, tuple[object, ...]]:
    columns = (
        members.c.pco_person_id,
        members.c.first_name,
        members.c.last_name,
        members.c.status,
        members.c.email,
        members.c.phone,
    )
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(*columns).where(members.c.tenant == "church", members.c.deleted_at.is_(None))
        )
        return {row[0]: tuple(row[1:]) for row in rows}


async def test_pco_import_counts_changes_and_deletions_exactly(
    tmp_path: Path, store_url: str, engine: AsyncEngine
) -> None:
    async with clocked_emulators() as (emulators, clock):
        pco = emulators.pco
        org = pco.add_organization("Grace")
        people = pco.add_people(org, PEOPLE)
        app_id, secret = pco.add_personal_access_token(org)
        async with serving(tmp_path, emulators, store_url) as gateway:
            source = (
                await gateway.add_source(
                    "pco",
                    tenant="church",
                    secret=deliveries.PCO_SECRET,
                    credentials={"app_id": app_id, "secret": secret},
                )
            )["id"]
            first = await sync(gateway, source)
            assert first["status"] == "completed", first
            assert counts(first) == {
                "processed": PEOPLE,
                "created": PEOPLE,
                "updated": 0,
                "unchanged": 0,
                "deleted": 0,
                "failed": 0,
            }
            assert await stored(engine) == expected(org)

            second = await sync(gateway, source)
            assert counts(second)["unchanged"] == PEOPLE, second
            assert counts(second)["processed"] == PEOPLE

            clock.moment += timedelta(minutes=1)
            for person in people[:10]:
                await pco.update_person(org, person.id, first_name=f"New{person.id}")
            for person in people[10:15]:
                await pco.delete_person(org, person.id)
            third = await sync(gateway, source)
            assert counts(third) == {
                "processed": PEOPLE - 5,
                "created": 0,
                "updated": 10,
                "unchanged": PEOPLE - 15,
                "deleted": 5,
                "failed": 0,
            }, third
            assert await stored(engine) == expected(org)
            listed = (await gateway.admin.get(f"/admin/sources/{source}/syncs")).json()
            assert [view["id"] for view in listed["syncs"]] == [
                third["id"],
                second["id"],
                first["id"],
            ]
            assert third["duration_ms"] >= 0
            assert third["finished_at"] is not None
            shown = (await gateway.admin.get(f"/admin/sources/{source}")).json()["last_sync"]
            everyone = (await gateway.admin.get("/admin/sources")).json()["sources"]
            assert shown["id"] == third["id"]
            assert (shown["status"], shown["items_deleted"]) == ("completed", 5)
            assert [s["last_sync"]["id"] for s in everyone] == [third["id"]]


async def test_a_webhook_newer_than_the_imported_record_survives_the_import(
    tmp_path: Path, store_url: str, engine: AsyncEngine
) -> None:
    async with clocked_emulators() as (emulators, clock):
        pco = emulators.pco
        org = pco.add_organization("Grace")
        people = pco.add_people(org, 3)
        app_id, secret = pco.add_personal_access_token(org)
        async with serving(tmp_path, emulators, store_url) as gateway:
            source = (
                await gateway.add_source(
                    "pco",
                    tenant="church",
                    secret=deliveries.PCO_SECRET,
                    credentials={"app_id": app_id, "secret": secret},
                )
            )["id"]
            later = clock.moment + timedelta(hours=1)
            body = samples.pco("person.updated", now=later, person_id=people[0].id)
            signed = deliveries.pco(later, body=body)
            response = await gateway.client.post(
                f"/webhooks/pco/{source}", content=signed.body, headers=signed.headers
            )
            assert response.status_code == 200, response.text
            view = await sync(gateway, source)
            webhook_name = (await stored(engine))[people[0].id][0]

    assert counts(view)["processed"] == 3
    assert (counts(view)["created"], counts(view)["unchanged"]) == (2, 1), view
    assert webhook_name != people[0].first_name
