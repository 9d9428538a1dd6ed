"""GoHighLevel: contact and appointment events end in the right rows."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from schemas.store import contacts, ghl_appointments
from tests.store import events
from tests.store.events import at
from tests.store.rows import one


async def test_contact_create_update_tag_dnd_delete(engine: AsyncEngine, applier: Applier) -> None:
    tenant = "agency"
    await applier.apply([events.ghl(tenant, "ContactCreate", at(0))])
    created = await one(engine, contacts, tenant)
    assert created["first_name"] == "John"
    assert created["phone"] == "+15550102030"
    assert created["tags"] == ["lead", "webinar"]
    assert created["location_id"] == "ve9EPM428h8vShlRW1KT"
    assert created["dnd"] is False

    await applier.apply(
        [
            events.ghl(tenant, "ContactTagUpdate", at(2), tags=("customer",)),
            events.ghl(tenant, "ContactUpdate", at(1), tags=("lead",)),  # older: loses
            events.ghl(tenant, "ContactDndUpdate", at(3)),
        ]
    )
    updated = await one(engine, contacts, tenant)
    assert updated["tags"] == ["customer"]
    assert updated["dnd"] is True

    await applier.apply([events.ghl(tenant, "ContactDelete", at(4))])
    deleted = await one(engine, contacts, tenant)
    assert deleted["deleted_at"] == at(4)

    await applier.apply([events.ghl(tenant, "ContactCreate", at(5))])  # a late create
    assert (await one(engine, contacts, tenant))["deleted_at"] == at(4)


async def test_appointment_create_update_delete(engine: AsyncEngine, applier: Applier) -> None:
    tenant = "agency"
    await applier.apply([events.ghl(tenant, "AppointmentCreate", at(0))])
    created = await one(engine, ghl_appointments, tenant)
    assert created["status"] == "confirmed"
    assert created["title"] == "Discovery call"
    assert created["contact_id"] == "nmFmQEsNgz6AVpgLVUJ0"
    assert created["calendar_id"] == "BqTwX8QFwXzpegMve9EQ"
    assert created["start_time"] == at(60 * 24)

    await applier.apply(
        [
            events.ghl(tenant, "AppointmentDelete", at(10)),
            events.ghl(tenant, "AppointmentUpdate", at(5)),
        ]
    )
    deleted = await one(engine, ghl_appointments, tenant)
    assert deleted["deleted_at"] == at(10)
    assert deleted["status"] == "cancelled"
