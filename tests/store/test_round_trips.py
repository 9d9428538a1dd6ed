"""A 10,000-event batch applies in a bounded number of statements, not one per row."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from schemas import CloudEvent
from schemas.store import bookings, contacts, ghl_appointments, members
from tests.store import events
from tests.store.events import at
from tests.store.rows import rows

BATCH = 10_000
MAX_STATEMENTS = 14
"""What this batch takes, whatever its size: the ledger claim (PostgreSQL, every
event new: SAVEPOINT, one binary COPY, RELEASE; SQLite: a lookup and an insert);
one bookings upsert (its no-show part included); the members, emails and phones
upserts, the partial members, two derivations (email, phone) and a source lookup
(phone regions); another source lookup, one contacts upsert (its do-not-disturb
part included) and the appointments upsert. 14 statements on PostgreSQL, 13 on
SQLite, 16 and 15 round trips with BEGIN and COMMIT. Every write is one statement
(PostgreSQL: the rows as one JSON text, or the ledger's COPY; SQLite: an
executemany), so the figure does not grow with the batch."""
COPIES = {"postgresql": 1, "sqlite": 0}
"""The ledger's COPY, which SQLAlchemy's statement events (the test's count) do not see."""


def _batch(tenant: str) -> list[CloudEvent]:
    made: list[CloudEvent] = []
    for n in range(BATCH // 8):
        invitee = f"https://api.calendly.com/scheduled_events/E{n}/invitees/I{n}"
        person = str(5000 + n)
        made += [
            events.calendly(tenant, "invitee.created", at(n), invitee_uri=invitee),
            events.calendly(tenant, "invitee.canceled", at(n + 1), invitee_uri=invitee),
            events.pco(tenant, "person.created", at(n), person_id=person),
            events.pco(tenant, "email.created", at(n), person_id=person, resource_id=f"E{n}"),
            events.pco(
                tenant, "phone_number.created", at(n), person_id=person, resource_id=f"P{n}"
            ),
            events.ghl(tenant, "ContactCreate", at(n), contact_id=f"C{n}"),
            events.ghl(tenant, "ContactDndUpdate", at(n + 1), contact_id=f"C{n}"),
            events.ghl(tenant, "AppointmentCreate", at(n), appointment_id=f"A{n}"),
        ]
    return made


@contextmanager
def _counting(engine: AsyncEngine) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(*args: object) -> None:
        sent.append(str(args[2]).split(None, 1)[0])

    sa_event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa_event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_ten_thousand_events_in_a_bounded_number_of_statements(
    engine: AsyncEngine, applier: Applier
) -> None:
    batch = _batch("bulk")
    assert len(batch) == BATCH
    started = time.perf_counter()
    with _counting(engine) as sent:
        result = await applier.apply(batch)
    elapsed = time.perf_counter() - started
    print(
        f"\n{engine.dialect.name}: {BATCH} events -> {result.statements} statements "
        f"({result.statements + 2} round trips with BEGIN/COMMIT) in {elapsed:.2f} s: {sent}"
    )
    assert result.applied == BATCH
    assert result.statements == len(sent) + COPIES[engine.dialect.name]
    assert result.statements <= MAX_STATEMENTS
    assert len(await rows(engine, bookings, "bulk")) == BATCH // 8
    assert len(await rows(engine, members, "bulk")) == BATCH // 8
    assert len(await rows(engine, contacts, "bulk")) == BATCH // 8
    assert len(await rows(engine, ghl_appointments, "bulk")) == BATCH // 8
    assert all(row["status"] == "canceled" for row in await rows(engine, bookings, "bulk"))
    assert all(row["dnd"] for row in await rows(engine, contacts, "bulk"))
    assert all(row["phone"] == "+15550102030" for row in await rows(engine, members, "bulk"))
