"""The `people` view: a member and a contact sharing a phone are one person."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.people import people
from schemas.store import contacts, members

PHONE = "+15550102030"


async def _people(engine: AsyncEngine, tenant: str) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(people).where(people.c.tenant == tenant).order_by(people.c.phone)
        )
        return [dict(row._mapping) for row in result]


async def test_a_member_and_a_contact_with_one_phone_are_one_person(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for member in [
            {
                "tenant": "church",
                "pco_person_id": "P1",
                "first_name": "Grace",
                "last_name": "Hopper",
                "email": "grace@pco.example",
                "phone": PHONE,
            },
            {
                "tenant": "church",
                "pco_person_id": "P2",
                "first_name": "Ada",
                "phone": "+15550000001",
            },
            {"tenant": "other", "pco_person_id": "P1", "phone": PHONE},
        ]:
            await connection.execute(insert(members).values(member))
        for contact in [
            {
                "tenant": "church",
                "ghl_contact_id": "C1",
                "first_name": "Grace",
                "last_name": "H.",
                "email": "grace@ghl.example",
                "phone": PHONE,
            },
            {"tenant": "church", "ghl_contact_id": "C2", "phone": "+15550000002"},
        ]:
            await connection.execute(insert(contacts).values(contact))

    found = await _people(engine, "church")
    assert [row["phone"] for row in found] == ["+15550000001", "+15550000002", PHONE]
    assert found[2] == {
        "tenant": "church",
        "phone": PHONE,
        "pco_person_id": "P1",
        "member_first_name": "Grace",
        "member_last_name": "Hopper",
        "member_email": "grace@pco.example",
        "ghl_contact_id": "C1",
        "contact_first_name": "Grace",
        "contact_last_name": "H.",
        "contact_email": "grace@ghl.example",
    }
    assert (found[0]["pco_person_id"], found[0]["ghl_contact_id"]) == ("P2", None)
    assert (found[1]["pco_person_id"], found[1]["ghl_contact_id"]) == (None, "C2")

    async with engine.begin() as connection:
        await connection.execute(
            update(contacts)
            .where(contacts.c.tenant == "church", contacts.c.ghl_contact_id.in_(["C1", "C2"]))
            .values(deleted_at=datetime(2026, 3, 1, tzinfo=UTC))
        )

    after = await _people(engine, "church")
    assert [(row["phone"], row["pco_person_id"], row["ghl_contact_id"]) for row in after] == [
        ("+15550000001", "P2", None),
        (PHONE, "P1", None),
    ]
