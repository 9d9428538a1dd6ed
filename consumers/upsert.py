"""Set-based writes shared by the handlers, for PostgreSQL and SQLite.

`upsert` sends a multi-row `INSERT … ON CONFLICT (key) DO UPDATE … WHERE
excluded.version > table.version`, chunked to stay within the driver's bound
parameter limit. A statement may not touch one row twice, so `upsert` first reduces
the rows to one per key (the highest version) with `latest`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, bindparam, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

Row = Mapping[str, Any]
Key = tuple[Any, ...]
T = TypeVar("T")

_POSTGRES_MAX_PARAMS = 32_767
_SQLITE_MAX_PARAMS = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


def max_params(connection: AsyncConnection) -> int:
    """How many bound parameters one statement may carry on this connection."""
    return _SQLITE_MAX_PARAMS if connection.dialect.name == "sqlite" else _POSTGRES_MAX_PARAMS


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]


def latest(rows: Iterable[Row], key: Sequence[str], version: str = "version") -> list[Row]:
    """One row per key: the one with the highest version (the first seen on a tie)."""
    best: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        k = tuple(row[name] for name in key)
        current = best.get(k)
        if current is None or row[version] > current[version]:
            best[k] = row
    return list(best.values())


def keys_in(
    connection: AsyncConnection, columns: Sequence[ColumnElement[Any]], keys: Sequence[Key]
) -> Iterator[ColumnElement[bool]]:
    """`(columns) IN keys` as few conditions as the dialect allows; one statement each.

    PostgreSQL gets one condition with the keys as arrays (`unnest`): a long row
    list would make it recurse too deep. SQLite gets row values, chunked.
    """
    if connection.dialect.name == "postgresql":
        arrays = [
            func.unnest(bindparam(None, [key[i] for key in keys], type_=ARRAY(column.type)))
            for i, column in enumerate(columns)
        ]
        yield tuple_(*columns).in_(select(*arrays))
        return
    for chunk in chunked(keys, max_params(connection) // len(columns)):
        yield tuple_(*columns).in_(list(chunk))


def _insert(connection: AsyncConnection, table: Table) -> Any:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {connection.dialect.name} dialect")


async def upsert(
    connection: AsyncConnection,
    table: Table,
    rows: Sequence[Row],
    *,
    key: Sequence[str],
    update: Sequence[str],
    version: str = "version",
) -> None:
    """Insert `rows`, or update `update` (and `version`) where the row's version is older.

    Every row must have the same columns. Rows are first reduced to one per key.
    """
    rows = latest(rows, key, version)
    if not rows:
        return
    size = max_params(connection) // len(rows[0])
    for chunk in chunked(rows, size):
        statement = _insert(connection, table).values(list(chunk))
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[table.c[name] for name in key],
            set_={name: excluded[name] for name in (*update, version)},
            where=excluded[version] > table.c[version],
        )
        await connection.execute(statement)


async def insert_missing(
    connection: AsyncConnection, table: Table, rows: Sequence[Row], *, key: Sequence[str]
) -> None:
    """Insert `rows` whose key is not there yet; leave existing rows alone."""
    if not rows:
        return
    size = max_params(connection) // len(rows[0])
    for chunk in chunked(rows, size):
        statement = _insert(connection, table).values(list(chunk))
        statement = statement.on_conflict_do_nothing(index_elements=[table.c[name] for name in key])
        await connection.execute(statement)
