"""Facts and links in the store, and a booking's state settled from them.

Every write here runs in the caller's transaction, after `lock_tenant`: on
PostgreSQL a transaction-scoped advisory lock per tenant, so two consumers (a
Calendly partition and a Stripe one) never settle the same booking from facts the
other has not committed yet; SQLite has one writer at a time anyway.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import and_, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.bookings.facts import BOOKING, Fact, Link, Observation, key_of, kind_of, subject
from consumers.bookings.state import derive
from schemas.booking_store import booking_facts, booking_history, booking_links, booking_payments

LOCK_CLASS = 0x626B67
"""The advisory lock class of booking writes (`bkg`); the key is the tenant's CRC-32."""


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of a booking's computed state."""

    tenant: str
    booking_id: str
    from_state: str | None
    to_state: str
    cause_event_id: str


async def lock_tenant(connection: AsyncConnection, tenant: str) -> None:
    if connection.dialect.name == "postgresql":
        key = zlib.crc32(tenant.encode()) - 2**31
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:class, :key)"), {"class": LOCK_CLASS, "key": key}
        )


async def record(connection: AsyncConnection, tenant: str, observation: Observation) -> None:
    """Merge the observation's facts and links into the store."""
    for fact in observation.facts:
        await _merge_fact(connection, tenant, fact)
    for link in observation.links:
        await _merge_link(connection, tenant, link)


async def settle_observed(
    connection: AsyncConnection, tenant: str, observation: Observation, cause: str, now: datetime
) -> list[Transition]:
    """Settle every booking the observation's subjects are joined to."""
    reached, _ = await _component(connection, tenant, observation.subjects)
    transitions = []
    for name in sorted(reached):
        if kind_of(name) == BOOKING:
            changed = await settle(connection, tenant, key_of(name), cause, now)
            if changed is not None:
                transitions.append(changed)
    return transitions


async def facts_of(
    connection: AsyncConnection, tenant: str, booking_id: str
) -> tuple[list[Fact], list[Link]]:
    """The facts of every subject joined to the booking, and the links that join them."""
    members, links = await _component(connection, tenant, {subject(BOOKING, booking_id)})
    rows = await connection.execute(
        select(booking_facts).where(
            booking_facts.c.tenant == tenant, booking_facts.c.subject.in_(sorted(members))
        )
    )
    return [_fact(row._mapping) for row in rows], links


async def _component(
    connection: AsyncConnection, tenant: str, start: set[str]
) -> tuple[set[str], list[Link]]:
    """The subjects linked to `start`, either way round, and the links between them.

    A booking other than those in `start` is reached but not gone through, so a stray
    link never merges two bookings' facts."""
    members = set(start)
    frontier = set(start)
    links: set[Link] = set()
    while frontier:
        ordered = sorted(frontier)
        rows = await connection.execute(
            select(booking_links.c.subject, booking_links.c.parent).where(
                booking_links.c.tenant == tenant,
                or_(booking_links.c.parent.in_(ordered), booking_links.c.subject.in_(ordered)),
            )
        )
        found = {Link(row.subject, row.parent) for row in rows}
        links |= found
        reached = {name for link in found for name in (link.subject, link.parent)} - members
        members |= reached
        frontier = {name for name in reached if kind_of(name) != BOOKING}
    return members, sorted(links, key=lambda link: (link.subject, link.parent))


async def settle(
    connection: AsyncConnection, tenant: str, booking_id: str, cause: str, now: datetime
) -> Transition | None:
    """Compute the booking's state from its facts and store it; its change, if any, is
    added to the history (the outbox of `state_changed` events) and returned."""
    facts, links = await facts_of(connection, tenant, booking_id)
    derived = derive(facts, links)
    key = and_(booking_payments.c.tenant == tenant, booking_payments.c.booking_id == booking_id)
    row = (await connection.execute(select(booking_payments).where(key))).mappings().first()
    columns = derived.columns()
    if row is None:
        await connection.execute(
            insert(booking_payments).values(
                tenant=tenant, booking_id=booking_id, updated_at=now, **columns
            )
        )
    elif any(_differs(row[name], value) for name, value in columns.items()):
        await connection.execute(
            update(booking_payments).where(key).values(updated_at=now, **columns)
        )
    previous = None if row is None else row["state"]
    if previous == derived.state:
        return None
    await connection.execute(
        insert(booking_history).values(
            tenant=tenant,
            booking_id=booking_id,
            from_state=previous,
            to_state=derived.state,
            cause_event_id=cause,
            changed_at=now,
        )
    )
    return Transition(tenant, booking_id, previous, derived.state, cause)


async def _merge_fact(connection: AsyncConnection, tenant: str, fact: Fact) -> None:
    key = and_(
        booking_facts.c.tenant == tenant,
        booking_facts.c.subject == fact.subject,
        booking_facts.c.fact == fact.name,
    )
    row = (await connection.execute(select(booking_facts).where(key))).mappings().first()
    values = {
        "value": orjson.dumps(fact.value, option=orjson.OPT_SORT_KEYS).decode(),
        "occurred_at": fact.occurred_at,
        "event_id": fact.event_id,
    }
    if row is None:
        await connection.execute(
            insert(booking_facts).values(
                tenant=tenant, subject=fact.subject, fact=fact.name, **values
            )
        )
    elif fact.kept_over(_fact(row)):
        await connection.execute(update(booking_facts).where(key).values(**values))


async def _merge_link(connection: AsyncConnection, tenant: str, link: Link) -> None:
    exists = await connection.scalar(
        select(booking_links.c.subject).where(
            booking_links.c.tenant == tenant,
            booking_links.c.subject == link.subject,
            booking_links.c.parent == link.parent,
        )
    )
    if exists is None:
        await connection.execute(
            insert(booking_links).values(tenant=tenant, subject=link.subject, parent=link.parent)
        )


def _fact(row: Any) -> Fact:
    return Fact(
        row["subject"],
        row["fact"],
        orjson.loads(row["value"]),
        _aware(row["occurred_at"]),
        row["event_id"],
    )


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back; the store keeps UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _differs(stored: Any, value: Any) -> bool:
    if isinstance(stored, datetime):
        stored = _aware(stored)
    return bool(stored != value)
