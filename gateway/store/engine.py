"""The store's engine, opened one way by every command and the tests."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.settings import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    return store_engine(settings.database_url)


def store_engine(database_url: str) -> AsyncEngine:
    """The store's engine, as every command opens it: on SQLite a writer waits up to 30 s
    for the write lock (with SQLite's default, 5 s, one of 20 writers kept busy at once
    in a test was starved into "database is locked"); on PostgreSQL a pool of 10
    connections, 10 more at peaks."""
    if database_url.startswith("sqlite"):
        return create_async_engine(database_url, connect_args={"timeout": 30})
    return create_async_engine(database_url, pool_size=10, max_overflow=10)
