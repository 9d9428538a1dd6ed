"""Reading the store back, in a form that compares equal on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.store import (
    bookings,
    contacts,
    ghl_appointments,
    member_emails,
    member_phones,
    members,
)

DATA_TABLES = (bookings, members, member_emails, member_phones, contacts, ghl_appointments)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


async def rows(engine: AsyncEngine, table: Table, tenant: str) -> list[dict[str, Any]]:
    """Every row of `tenant` in `table`, sorted by key, times in UTC.

    The tenant and the version columns are left out: versions carry a tiebreak
    derived from event ids, which differ between tenants.
    """
    key = [column for column in table.primary_key.columns if column.name != "tenant"]
    async with engine.connect() as connection:
        result = await connection.execute(
            select(table).where(table.c.tenant == tenant).order_by(*key)
        )
        return [
            {
                name: _plain(value)
                for name, value in row._mapping.items()
                if name != "tenant" and not name.endswith("version")
            }
            for row in result
        ]


async def one(engine: AsyncEngine, table: Table, tenant: str) -> dict[str, Any]:
    found = await rows(engine, table, tenant)
    assert len(found) == 1, found
    return found[0]


async def snapshot(engine: AsyncEngine, tenant: str) -> dict[str, list[dict[str, Any]]]:
    """All of `tenant`'s store rows, table by table."""
    return {table.name: await rows(engine, table, tenant) for table in DATA_TABLES}
