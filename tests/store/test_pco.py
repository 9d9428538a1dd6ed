"""Planning Center: person, email and phone events end in the right `members` rows."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from schemas import CloudEvent
from schemas.store import member_emails, members
from schemas.tables import sources
from tests.store import events
from tests.store.events import at
from tests.store.rows import one, rows

PERSON = "136901110"


def _phone(tenant: str, number: str, now: datetime, *, primary: bool = True) -> CloudEvent:
    """A phone event without PCO's own `e164`, so the store normalizes the number."""
    stamp = now.isoformat().replace("+00:00", "Z")
    document = {
        "data": {
            "type": "PhoneNumber",
            "id": "P1",
            "attributes": {"number": number, "primary": primary, "updated_at": stamp},
            "relationships": {"person": {"data": {"type": "Person", "id": PERSON}}},
        },
        "meta": {"parent": {"type": "Person", "id": PERSON}, "event_time": stamp},
    }
    return events.pco_document(tenant, "phone_number.updated", now, document, f"d-{number}")


async def test_person_lifecycle_with_email_and_phone(engine: AsyncEngine, applier: Applier) -> None:
    tenant = "church"
    await applier.apply([events.pco(tenant, "person.created", at(0), person_id=PERSON)])
    created = await one(engine, members, tenant)
    assert (created["first_name"], created["last_name"], created["status"]) == (
        "Grace",
        "Hopper",
        "active",
    )
    assert created["email"] is None

    await applier.apply(
        [
            events.pco(tenant, "email.created", at(1), person_id=PERSON, resource_id="E1"),
            events.pco(tenant, "phone_number.created", at(1), person_id=PERSON, resource_id="P1"),
            events.pco(tenant, "person.updated", at(2), person_id=PERSON),
        ]
    )
    filled = await one(engine, members, tenant)
    assert filled["email"] == "grace@example.org"
    assert filled["phone"] == "+15550102030"
    assert filled["first_name"] == "Grace"

    await applier.apply(
        [events.pco(tenant, "email.destroyed", at(3), person_id=PERSON, resource_id="E1")]
    )
    assert (await one(engine, members, tenant))["email"] is None

    await applier.apply([events.pco(tenant, "person.destroyed", at(4), person_id=PERSON)])
    destroyed = await one(engine, members, tenant)
    assert destroyed["deleted_at"] == at(4)
    assert destroyed["phone"] == "+15550102030"

    await applier.apply([events.pco(tenant, "person.updated", at(2.5), person_id=PERSON)])
    assert (await one(engine, members, tenant))["deleted_at"] == at(4)


async def test_email_before_person_makes_a_partial_row_the_person_completes(
    engine: AsyncEngine, applier: Applier
) -> None:
    tenant = "partial"
    await applier.apply(
        [events.pco(tenant, "email.created", at(5), person_id=PERSON, resource_id="E9")]
    )
    partial = await one(engine, members, tenant)
    assert partial["email"] == "grace@example.org"
    assert partial["first_name"] is None

    await applier.apply([events.pco(tenant, "person.created", at(0), person_id=PERSON)])
    complete = await one(engine, members, tenant)
    assert complete["email"] == "grace@example.org"
    assert complete["first_name"] == "Grace"
    assert len(await rows(engine, member_emails, tenant)) == 1


async def test_phone_is_normalized_with_the_source_default_region(
    engine: AsyncEngine, applier: Applier
) -> None:
    tenant = "uk-church"
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(
            insert(sources).values(
                id=f"src-pco-{tenant}",
                provider="pco",
                tenant=tenant,
                options='{"default_region": "GB"}',
                created_at=now,
                updated_at=now,
            )
        )
    await applier.apply([_phone(tenant, "020 7946 0018", at(1))])
    assert (await one(engine, members, tenant))["phone"] == "+442079460018"

    await applier.apply([_phone("us-church", "(202) 555-0143", at(1))])  # no source row: US
    assert (await one(engine, members, "us-church"))["phone"] == "+12025550143"
