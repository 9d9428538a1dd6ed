"""Alembic environment for both sqlite+aiosqlite and postgresql+asyncpg.

`gateway.store.migrate.upgrade` opens the async engine itself and hands Alembic a
synchronous connection through `config.attributes["connection"]`. Run from the
`alembic` command line instead, this file opens an async engine on
`sqlalchemy.url` itself.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import schemas.booking_store
import schemas.google_store
import schemas.store
import schemas.sync_store
from schemas.tables import metadata

config = context.config
TABLE_MODULES = (schemas.store, schemas.google_store, schemas.booking_store)
"""Imported for the tables they add to `metadata`."""


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_new_engine(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "Set sqlalchemy.url, or call gateway.store.migrate.upgrade(database_url)."
        )
    asyncio.run(_run_on_new_engine(url))


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
