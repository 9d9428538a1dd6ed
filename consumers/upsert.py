"""Set-based writes shared by the handlers, for PostgreSQL and SQLite.

Every write is one statement, whatever the number of rows, built once per table and
column set and cached, so SQLAlchemy compiles it once per process:

- PostgreSQL: `INSERT … SELECT … FROM json_to_recordset(:rows) AS batch(c1 type, …)
  ON CONFLICT (key) DO UPDATE … WHERE excluded.version > table.version`, the rows
  sent as one JSON text. orjson writes that text at a fraction of what asyncpg's
  typed arrays cost to encode (one `unnest(:c)` array per column, checked element by
  element), and PostgreSQL reads it as fast. The statement text is the same for
  every batch size, so asyncpg's prepared statement is reused too.
- SQLite: the single-row `INSERT … VALUES (…) ON CONFLICT …`, executed with every row
  (executemany).

A statement may not touch one row twice, so `upsert` first reduces the rows to one
per key (the highest version) with `latest`.

Text never reaches the store with a NUL character in it: PostgreSQL refuses it (in
text and in jsonb alike) and SQLite would keep it, so every write here drops it from
every string, JSON values and keys included (`without_nul`), the same on both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Any, TypeVar

import orjson
from asyncpg import UniqueViolationError  # type: ignore[import-untyped]
from sqlalchemy import (
    JSON,
    ColumnElement,
    Executable,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    exists,
    func,
    or_,
    select,
    tuple_,
)
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
    best: dict[Any, Row] = {}
    key_of = itemgetter(*key)
    for row in rows:
        k = key_of(row)
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
    dialect = connection.dialect.name
    statement = _upsert_statement(
        dialect, table, tuple(rows[0]), tuple(key), tuple(update), version
    )
    await _execute(connection, statement, table, rows)


@dataclass(frozen=True)
class Part:
    """Columns one kind of event writes under their own version column.

    `absent` are the values a row inserted without this part takes (the columns'
    defaults: NULL, and version 0, unless given), so the part's first write wins.
    """

    update: tuple[str, ...]
    version: str = "version"
    absent: Mapping[str, Any] = field(default_factory=dict)

    def blank(self) -> dict[str, Any]:
        return {name: self.absent.get(name) for name in self.update} | {
            self.version: self.absent.get(self.version, 0)
        }


async def upsert_parts(
    connection: AsyncConnection,
    table: Table,
    parts: Sequence[tuple[Part, Sequence[Row]]],
    *,
    key: Sequence[str],
) -> None:
    """`upsert` of several parts of the same rows in one statement.

    Each part's rows are reduced to one per key; rows of one key are merged, and
    each part's columns are updated only where its own version is newer.
    """
    present = [(part, latest(rows, key, part.version)) for part, rows in parts if rows]
    if not present:
        return
    if len(present) == 1:
        part, rows = present[0]
        await upsert(connection, table, rows, key=key, update=part.update, version=part.version)
        return
    blank: dict[str, Any] = {}
    for part, _ in present:
        blank |= part.blank()
    merged: dict[Any, dict[str, Any]] = {}
    key_of = itemgetter(*key)
    for _, rows in present:
        for row in rows:
            k = key_of(row)
            target = merged.get(k)
            if target is None:
                target = merged[k] = {name: row[name] for name in key} | blank
            target.update(row)
    statement = _parts_statement(
        connection.dialect.name,
        table,
        tuple(key),
        tuple((part.update, part.version) for part, _ in present),
    )
    await _execute(connection, statement, table, list(merged.values()))


async def insert_missing(
    connection: AsyncConnection, table: Table, rows: Sequence[Row], *, key: Sequence[str]
) -> None:
    """Insert `rows` whose key is not there yet; leave existing rows alone."""
    if not rows:
        return
    dialect = connection.dialect.name
    statement = _insert_missing_statement(dialect, table, tuple(rows[0]), tuple(key))
    await _execute(connection, statement, table, rows)


class Rows:
    """The rows of one `insert_new`, and whether a `COPY` wrote (or tried to write) them:
    a statement SQLAlchemy's events do not see, so its callers count it themselves."""

    __slots__ = ("copied", "rows", "table")

    def __init__(self, table: Table, rows: Sequence[Row]) -> None:
        self.table = table
        self.rows = rows
        self.copied = False


async def insert_new(
    connection: AsyncConnection,
    rows: Rows,
    *,
    key: Sequence[str],
    same: Mapping[str, Any] | None = None,
) -> set[Key]:
    """Insert `rows` whose key is not there yet; return the keys this call inserted.

    `same`: columns whose value is the same for every row, bound once.

    PostgreSQL: first, on the bet that every key is new (the usual case: a batch of
    events not seen before), a binary `COPY` inside a savepoint, which costs the
    server half what the insert below does; when a key is taken already (`COPY`
    waits for a concurrent writer of it, as an insert does), the savepoint is rolled
    back and one `INSERT … ON CONFLICT DO NOTHING` inserts the others and answers
    with the keys it did not insert. SQLite (one writer at a time): the keys already
    there are looked up first.
    """
    if not rows.rows:
        return set()
    rows.rows = without_nul(rows.rows)
    table, shared = rows.table, dict(same or {})
    names = tuple(key)
    key_of = itemgetter(*names)
    wanted = [key_of(row) if len(names) > 1 else (key_of(row),) for row in rows.rows]
    if connection.dialect.name == "postgresql":
        if await _copied_all(connection, rows, shared):
            return set(wanted)
        statement = _insert_new_statement(table, tuple(rows.rows[0]), names, tuple(shared))
        result = await connection.execute(statement, {**_recordset(table, rows.rows), **shared})
        taken = {tuple(found) for found in result}
        return {k for k in wanted if k not in taken} if taken else set(wanted)
    columns = [table.c[name] for name in names]
    taken = set()
    for condition in keys_in(connection, columns, wanted):
        taken.update(
            tuple(found) for found in await connection.execute(select(*columns).where(condition))
        )
    missing = [
        {**row, **shared} for row, k in zip(rows.rows, wanted, strict=True) if k not in taken
    ]
    await insert_missing(connection, table, missing, key=names)
    return {k for k in wanted if k not in taken}


async def _copied_all(connection: AsyncConnection, rows: Rows, same: Mapping[str, Any]) -> bool:
    """PostgreSQL: `rows` (with the `same` columns) written by one binary `COPY` in a
    savepoint; False, with nothing written, if one of their keys is taken already."""
    names = tuple(rows.rows[0])
    shared = tuple(same.values())
    if len(names) == 1:
        records = [(row[names[0]], *shared) for row in rows.rows]
    else:
        values = itemgetter(*names)
        records = [(*values(row), *shared) for row in rows.rows]
    savepoint = await connection.begin_nested()  # begins the transaction if need be
    driver: Any = (await connection.get_raw_connection()).driver_connection
    rows.copied = True
    try:
        await driver.copy_records_to_table(
            rows.table.name,
            records=records,
            columns=(*names, *same),
            schema_name=rows.table.schema,
        )
    except UniqueViolationError:
        await savepoint.rollback()
        return False
    await savepoint.commit()
    return True


async def _execute(
    connection: AsyncConnection, statement: Executable, table: Table, rows: Sequence[Row]
) -> None:
    if connection.dialect.name == "postgresql":
        await connection.execute(statement, _recordset(table, rows))
    else:
        await connection.execute(statement, list(without_nul(rows)))


_NUL = "\x00"
_ESCAPED_NUL = "\\u0000"
"""How JSON text writes a NUL (also found, after a backslash, where it is nested)."""


def without_nul(rows: Sequence[Row]) -> Sequence[Row]:
    """`rows` with NUL removed from every string in them (dict keys and nested lists
    too); `rows` itself, not a copy, when none has one (the usual case)."""
    if not any(_has_nul(value) for row in rows for value in row.values()):
        return rows
    return [{name: _strip_nul(value) for name, value in row.items()} for row in rows]


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return _NUL in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_NUL, "")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strip_nul(item) for item in value]
    return value


def _recordset(table: Table, rows: Sequence[Row]) -> dict[str, str]:
    """The rows as the statement's one JSON parameter (`json_to_recordset`).

    JSON columns travel as JSON text inside it (read as text, then cast), so that
    `None` is written as SQLAlchemy's JSON type writes it: JSON `null`, not SQL NULL.
    Times are aware, and orjson writes them with their offset. The text is searched
    for an escaped NUL (C speed); only rows that may have one are walked (`without_nul`).
    """
    text = _recordset_text(table, rows)
    if _ESCAPED_NUL in text:
        text = _recordset_text(table, without_nul(rows))
    return {_ROWS: text}


def _recordset_text(table: Table, rows: Sequence[Row]) -> str:
    json_columns = _json_columns(table) & rows[0].keys()
    if json_columns:
        rows = [
            {**row, **{name: orjson.dumps(row[name]).decode() for name in json_columns}}
            for row in rows
        ]
    elif not all(type(row) is dict for row in rows):
        rows = [dict(row) for row in rows]
    return orjson.dumps(rows).decode()


_ROWS = "rows"


@lru_cache(maxsize=64)
def _json_columns(table: Table) -> frozenset[str]:
    return frozenset(column.name for column in table.columns if isinstance(column.type, JSON))


def _source(dialect: str, table: Table, columns: tuple[str, ...]) -> Any:
    """`INSERT INTO table (columns)` fed one row (SQLite) or the rows of one JSON text."""
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect != "postgresql":
        raise NotImplementedError(f"no upsert for the {dialect} dialect")
    return postgresql.insert(table).from_select(list(columns), _batch_rows(table, columns))


def _batch_rows(table: Table, columns: tuple[str, ...]) -> Select[Any]:
    """PostgreSQL: `SELECT columns FROM json_to_recordset(:rows) AS batch(…)`, typed as
    `table`'s columns."""
    json_columns = _json_columns(table)
    batch = (
        func.json_to_recordset(cast(bindparam(_ROWS, type_=Text), postgresql.JSON))
        .table_valued(
            *(
                column(name, Text if name in json_columns else table.c[name].type)
                for name in columns
            )
        )
        .render_derived(name="batch", with_types=True)
    )
    return select(
        *(
            cast(batch.c[name], table.c[name].type).label(name)
            if name in json_columns
            else batch.c[name]
            for name in columns
        )
    )


@lru_cache(maxsize=256)
def _upsert_statement(
    dialect: str,
    table: Table,
    columns: tuple[str, ...],
    key: tuple[str, ...],
    update: tuple[str, ...],
    version: str,
) -> Executable:
    statement = _source(dialect, table, columns)
    excluded = statement.excluded
    upserting: Executable = statement.on_conflict_do_update(
        index_elements=[table.c[name] for name in key],
        set_={name: excluded[name] for name in (*update, version)},
        where=excluded[version] > table.c[version],
    )
    return upserting


@lru_cache(maxsize=256)
def _parts_statement(
    dialect: str,
    table: Table,
    key: tuple[str, ...],
    parts: tuple[tuple[tuple[str, ...], str], ...],
) -> Executable:
    """Each part's columns take the new values only where that part's version is newer."""
    columns = (*key, *(name for update, version in parts for name in (*update, version)))
    statement = _source(dialect, table, columns)
    excluded = statement.excluded
    assignments: dict[str, Any] = {}
    for update, version in parts:
        newer = excluded[version] > table.c[version]
        for name in (*update, version):
            assignments[name] = case((newer, excluded[name]), else_=table.c[name])
    upserting: Executable = statement.on_conflict_do_update(
        index_elements=[table.c[name] for name in key],
        set_=assignments,
        where=or_(*(excluded[version] > table.c[version] for _, version in parts)),
    )
    return upserting


@lru_cache(maxsize=64)
def _insert_new_statement(
    table: Table, columns: tuple[str, ...], key: tuple[str, ...], same: tuple[str, ...]
) -> Executable:
    """PostgreSQL: insert the batch's rows whose key is not taken, the `same` columns
    bound once; select the keys of the others (the batch's keys the insert did not
    return)."""
    batch = _batch_rows(table, columns).cte("batch")
    shared = [bindparam(name, type_=table.c[name].type) for name in same]
    inserted = (
        postgresql.insert(table)
        .from_select([*columns, *same], select(*(batch.c[name] for name in columns), *shared))
        .on_conflict_do_nothing(index_elements=[table.c[name] for name in key])
        .returning(*(table.c[name] for name in key))
        .cte("inserted")
    )
    new = exists().where(and_(*(inserted.c[name] == batch.c[name] for name in key)))
    return select(*(batch.c[name] for name in key)).where(~new)


@lru_cache(maxsize=256)
def _insert_missing_statement(
    dialect: str, table: Table, columns: tuple[str, ...], key: tuple[str, ...]
) -> Executable:
    statement: Executable = _source(dialect, table, columns).on_conflict_do_nothing(
        index_elements=[table.c[name] for name in key]
    )
    return statement
