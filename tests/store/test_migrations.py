"""Migrations: `upgrade` builds the schema the code queries, and is idempotent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import schemas.booking_store
import schemas.google_store
import schemas.store
from gateway.store.migrate import upgrade
from schemas.tables import metadata
from tests.fixtures.postgres import (
    _database_url,
    create_postgres_database,
    drop_postgres_database,
)

TABLE_MODULES = (
    schemas.store,
    schemas.google_store,
    schemas.booking_store,
)  # their tables are on `metadata`


@pytest.fixture(params=["sqlite", "postgres"])
async def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database, not migrated."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"
        return
    name = await create_postgres_database()
    try:
        yield _database_url(name)
    finally:
        await drop_postgres_database(name)


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def test_upgrade_twice_matches_the_tables(blank_url: str) -> None:
    await upgrade(blank_url)
    await upgrade(blank_url)  # a no-op the second time
    engine = create_async_engine(blank_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            head = await connection.run_sync(_revision)
    finally:
        await engine.dispose()
    assert {"sources", "bookings", "members", "contacts", "appointments"} <= names
    assert {"processed_events", "ghl_appointments", "member_emails", "member_phones"} <= names
    assert head is not None


def _ledger_time_index(connection: Connection) -> str:
    """How the ledger's `processed_at` is indexed: its access method, or SQLite's SQL."""
    if connection.dialect.name == "postgresql":
        return str(
            connection.exec_driver_sql(
                "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                "WHERE c.relname = 'ix_processed_events_processed_at'"
            ).scalar_one()
        )
    return str(
        connection.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'ix_processed_events_processed_at'"
        ).scalar_one()
    )


async def test_the_ledger_is_pruned_through_a_brin_index_on_postgres(blank_url: str) -> None:
    await upgrade(blank_url)
    engine = create_async_engine(blank_url)
    try:
        async with engine.connect() as connection:
            index = await connection.run_sync(_ledger_time_index)
    finally:
        await engine.dispose()
    if blank_url.startswith("postgresql"):
        assert index == "brin"
    else:
        assert index.startswith("CREATE INDEX ix_processed_events_processed_at ON processed_events")
