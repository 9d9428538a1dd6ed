"""NUL in any text an event carries: dropped before the store, the same on both stores.

PostgreSQL refuses NUL in text and in jsonb; SQLite keeps it. Either way the event
is applied without it (`consumers.upsert.without_nul`).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from schemas.store import bookings, contacts
from tests.store import events
from tests.store.events import at
from tests.store.rows import rows


async def test_nul_is_dropped_from_text_and_json_columns(
    engine: AsyncEngine, applier: Applier
) -> None:
    await applier.apply(
        [
            events.calendly("acme", "invitee.created", at(0), name="Ada\x00 Lovelace"),
            events.ghl("acme", "ContactCreate", at(0), tags=("le\x00ad", "webinar")),
        ]
    )

    [booking] = await rows(engine, bookings, "acme")
    [contact] = await rows(engine, contacts, "acme")
    assert booking["name"] == "Ada Lovelace"
    assert contact["tags"] == ["lead", "webinar"]
