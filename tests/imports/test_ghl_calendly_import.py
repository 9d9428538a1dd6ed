"""GoHighLevel contacts and Calendly bookings imported through the real server against the
emulators, on SQLite and PostgreSQL: exact counts, changes, deletions (GHL) and
cancellations (Calendly), and the rows as the provider has them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.store import bookings, contacts
from tests.emulators.suite import ProviderEmulators
from tests.imports.syncing import counts, serving, sync

CONTACTS = 250


async def test_ghl_import_counts_changes_and_deletions_exactly(
    tmp_path: Path, store_url: str, engine: AsyncEngine, providers: ProviderEmulators
) -> None:
    ghl = providers.ghl
    location = ghl.add_location("Acme Dental")
    made = ghl.add_contacts(location, CONTACTS)
    token = ghl.add_private_integration_token(location)
    async with serving(tmp_path, providers, store_url) as gateway:
        source = (
            await gateway.add_source(
                "ghl",
                tenant="dental",
                credentials={"private_integration_token": token, "location_id": location.id},
            )
        )["id"]
        first = await sync(gateway, source)
        second = await sync(gateway, source)
        for contact in made[:3]:
            await ghl.update_contact(location, contact.id, first_name=f"New{contact.id}")
        for contact in made[3:5]:
            await ghl.delete_contact(location, contact.id)
        third = await sync(gateway, source)
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(contacts.c.ghl_contact_id, contacts.c.first_name, contacts.c.email).where(
                contacts.c.tenant == "dental", contacts.c.deleted_at.is_(None)
            )
        )
        stored = {row[0]: (row[1], row[2]) for row in rows}

    assert first["status"] == "completed", first
    assert (counts(first)["processed"], counts(first)["created"]) == (CONTACTS, CONTACTS)
    assert counts(second)["unchanged"] == CONTACTS, second
    assert counts(third) == {
        "processed": CONTACTS - 2,
        "created": 0,
        "updated": 3,
        "unchanged": CONTACTS - 5,
        "deleted": 2,
        "failed": 0,
    }, third
    assert stored == {c.id: (c.first_name, c.email) for c in location.contacts.values()}


async def test_calendly_import_sweeps_the_last_30_days_and_the_future(
    tmp_path: Path, store_url: str, engine: AsyncEngine, providers: ProviderEmulators
) -> None:
    calendly = providers.calendly
    org = calendly.add_organization("Acme Scheduling")
    owner = calendly.add_user(org, "Olive Owner")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    future = calendly.add_events(owner, 5, now + timedelta(days=1))
    recent = calendly.add_events(owner, 1, now - timedelta(days=10))
    calendly.add_events(owner, 1, now - timedelta(days=40))
    token = calendly.add_personal_access_token(owner)
    async with serving(tmp_path, providers, store_url) as gateway:
        source = (
            await gateway.add_source(
                "calendly", tenant="acme", credentials={"personal_access_token": token}
            )
        )["id"]
        first = await sync(gateway, source)
        second = await sync(gateway, source)
        invitee = next(iter(future[0].invitees.values()))
        await calendly.cancel_invitee(future[0], invitee.uuid, reason="Sick")
        third = await sync(gateway, source)
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(
                bookings.c.invitee_uri,
                bookings.c.email,
                bookings.c.status,
                bookings.c.cancel_reason,
            ).where(bookings.c.tenant == "acme")
        )
        stored = {row[0].rpartition("/")[2]: tuple(row[1:]) for row in rows}

    swept = [*future, *recent]
    assert first["status"] == "completed", first
    assert (counts(first)["processed"], counts(first)["created"]) == (6, 6), first
    assert counts(second)["unchanged"] == 6, second
    assert (counts(third)["updated"], counts(third)["unchanged"]) == (1, 5), third
    assert stored == {
        i.uuid: (i.email, i.status, "Sick" if i.status == "canceled" else None)
        for event in swept
        for i in event.invitees.values()
    }
