"""Reading a booking back: its row, its facts, its history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.booking_store import booking_facts, booking_history, booking_payments


async def booking(engine: AsyncEngine, tenant: str, booking_id: str) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (
            (
                await connection.execute(
                    select(booking_payments).where(
                        booking_payments.c.tenant == tenant,
                        booking_payments.c.booking_id == booking_id,
                    )
                )
            )
            .mappings()
            .one()
        )
    return dict(row)


async def state(engine: AsyncEngine, tenant: str, booking_id: str) -> str:
    return str((await booking(engine, tenant, booking_id))["state"])


async def facts(engine: AsyncEngine, tenant: str) -> list[tuple[Any, ...]]:
    """Every fact of the tenant, as comparable tuples (times in UTC)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(booking_facts).where(booking_facts.c.tenant == tenant)
        )
        return sorted(
            (row.subject, row.fact, row.value, row.occurred_at.replace(tzinfo=None), row.event_id)
            for row in rows
        )


async def transitions(engine: AsyncEngine, tenant: str, booking_id: str) -> list[tuple[Any, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(booking_history.c.from_state, booking_history.c.to_state)
            .where(booking_history.c.tenant == tenant, booking_history.c.booking_id == booking_id)
            .order_by(booking_history.c.id)
        )
        return [(row.from_state, row.to_state) for row in rows]
