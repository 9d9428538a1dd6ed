"""The synchronous SQLite side of the spool: one connection, used from one thread.

`gateway.bus.spool.Spool` owns two of these (a writer and a reader), each confined to its
own single-thread executor, so no call here ever runs on the event loop.

Durability: WAL journal with `synchronous=FULL`, so a transaction that committed is
on disk (the WAL is fsynced at every commit) and survives kill -9 and power loss.
`busy_timeout` lets several processes (uvicorn workers) share one file, as they do
on the embedded bus (in Kafka mode each worker spools to a file of its own); writers
also queue on an flock of a side file (`<spool>.lock`) first, because SQLite's
busy handler sleeps 1, 2, 5, 10 … ms between tries, so a worker could wait tens of
milliseconds for a lock the other worker released after one, or starve.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson

from schemas import BusRecord

BUSY_TIMEOUT_SECONDS = 10.0

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        key BLOB NOT NULL,
        value BLOB NOT NULL,
        headers BLOB NOT NULL,
        event_id TEXT NOT NULL,
        appended_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS consumer_offsets (
        consumer_group TEXT PRIMARY KEY,
        committed INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS probe (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        written_at REAL NOT NULL
    )
    """,
)

_COLUMNS = 6
ROWS_PER_STATEMENT = 500
"""Records per multi-row `INSERT` (6 parameters each, far below SQLite's limit)."""


_INSERT_INTO = "INSERT INTO records (topic, key, value, headers, event_id, appended_at) VALUES "


@functools.lru_cache(maxsize=ROWS_PER_STATEMENT)
def _insert_rows(rows: int) -> str:
    return _INSERT_INTO + ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)


_SELECT = "SELECT seq, topic, key, value, headers, event_id FROM records"

RecordRow = tuple[int, str, bytes, bytes, bytes, str]


def encode_headers(headers: Sequence[tuple[str, bytes]]) -> bytes:
    """Headers as JSON; latin-1 maps every byte to one code point, so values round-trip."""
    return orjson.dumps([[name, value.decode("latin-1")] for name, value in headers])


def decode_headers(raw: bytes) -> tuple[tuple[str, bytes], ...]:
    return tuple((name, value.encode("latin-1")) for name, value in orjson.loads(raw))


def _to_record(row: RecordRow) -> tuple[int, BusRecord]:
    seq, topic, key, value, headers, event_id = row
    return seq, BusRecord(
        topic=topic,
        key=bytes(key),
        value=bytes(value),
        headers=decode_headers(bytes(headers)),
        event_id=event_id,
    )


class SpoolConnection:
    """One SQLite connection to the spool file; every method must run on one thread."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=True
        )
        self._queue = _WriterQueue(Path(f"{path}.lock"))
        try:
            self._configure()
        except BaseException:
            self._db.close()
            raise

    def _configure(self) -> None:
        self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not switch to WAL (journal_mode={mode})")
        self._db.execute("PRAGMA synchronous = FULL")

    def create_schema(self, groups: Iterable[str]) -> None:
        with self._transaction():
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._register_groups(groups)

    def close(self) -> None:
        self._queue.close()
        self._db.close()

    # writes ---------------------------------------------------------------------

    def append_batches(self, batches: Sequence[Sequence[BusRecord]], now: float) -> list[int]:
        """Insert every record of every batch atomically; their offsets, in order.

        Up to `ROWS_PER_STATEMENT` records go in one multi-row `INSERT`, which is its own
        transaction (synced when it ends). Few calls matter more than they seem: SQLite
        lets go of the GIL at every statement step, and getting it back from a busy
        event loop can take a whole switch interval. A multi-row insert takes consecutive
        rowids (the write lock is held throughout), so the last rowid gives them all.
        """
        params: list[object] = []
        for records in batches:
            for record in records:
                params += (
                    record.topic,
                    record.key,
                    record.value,
                    encode_headers(record.headers),
                    record.event_id,
                    now,
                )
        count = len(params) // _COLUMNS
        if count == 0:
            return []
        if count <= ROWS_PER_STATEMENT:
            last = self._insert(count, params)
        else:
            with self._transaction():
                for start in range(0, count, ROWS_PER_STATEMENT):
                    rows = min(ROWS_PER_STATEMENT, count - start)
                    chunk = params[start * _COLUMNS : (start + rows) * _COLUMNS]
                    last = self._insert(rows, chunk)
        return list(range(last - count + 1, last + 1))

    def _insert(self, rows: int, params: list[object]) -> int:
        with self._queue:
            return _rowid(self._db.execute(_insert_rows(rows), params))

    def commit_offset(self, group: str, offset: int) -> None:
        """Store `offset` for `group`; never moves a group's offset backwards."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO consumer_offsets (consumer_group, committed) VALUES (?, ?)"
                " ON CONFLICT (consumer_group) DO UPDATE SET committed = excluded.committed"
                " WHERE excluded.committed > consumer_offsets.committed",
                (group, offset),
            )

    def register_groups(self, groups: Iterable[str]) -> None:
        with self._transaction():
            self._register_groups(groups)

    def delete(self, offsets: Sequence[int]) -> int:
        with self._transaction():
            cursor = self._db.executemany(
                "DELETE FROM records WHERE seq = ?", [(offset,) for offset in offsets]
            )
            return cursor.rowcount

    def trim(self) -> int:
        """Delete what every registered group has committed; nothing when none is registered."""
        with self._transaction():
            cursor = self._db.execute(
                "DELETE FROM records WHERE seq <= (SELECT MIN(committed) FROM consumer_offsets)"
            )
            return cursor.rowcount

    def try_acquire_lease(self, name: str, owner: str, expires_at: float, now: float) -> bool:
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
                " expires_at = excluded.expires_at"
                " WHERE leases.owner = excluded.owner OR leases.expires_at <= ?",
                (name, owner, expires_at, now),
            )
            return cursor.rowcount == 1

    def renew_lease(self, name: str, owner: str, expires_at: float, now: float) -> bool:
        """Extend a lease still held by `owner` (not expired, or expired but not taken)."""
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ?",
                (expires_at, name, owner),
            )
            return cursor.rowcount == 1

    def release_lease(self, name: str, owner: str) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    def probe_write(self, now: float) -> None:
        """A tiny synced write, to learn whether the file takes writes again."""
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO probe (id, written_at) VALUES (1, ?)", (now,))

    # reads ----------------------------------------------------------------------

    def read(self, after: int, limit: int) -> list[tuple[int, BusRecord]]:
        rows = self._db.execute(
            f"{_SELECT} WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()
        return [_to_record(row) for row in rows]

    def committed_offset(self, group: str) -> int:
        row = self._db.execute(
            "SELECT committed FROM consumer_offsets WHERE consumer_group = ?", (group,)
        ).fetchone()
        return int(row[0]) if row else 0

    def depth(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def oldest_appended_at(self) -> float | None:
        row = self._db.execute("SELECT appended_at FROM records ORDER BY seq LIMIT 1").fetchone()
        return float(row[0]) if row else None

    # helpers --------------------------------------------------------------------

    def _register_groups(self, groups: Iterable[str]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO consumer_offsets (consumer_group, committed) VALUES (?, 0)",
            [(group,) for group in groups],
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._queue)


class _WriterQueue:
    """An exclusive flock on the spool's side file, held around each write transaction.

    The kernel hands a released flock to a waiter at once, where SQLite's busy handler
    would sleep. Only fairness and latency depend on it, never correctness (SQLite
    still takes its own lock): when the side file cannot be opened (a read-only
    directory), writes go without it. The reader connection never opens it.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None
        self._tried = False

    def __enter__(self) -> None:
        if not self._tried:
            self._tried = True
            with contextlib.suppress(OSError):
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class _Transaction:
    """`BEGIN IMMEDIATE` … `COMMIT`, rolled back on any error (nothing half-written)."""

    def __init__(self, db: sqlite3.Connection, queue: _WriterQueue) -> None:
        self._db = db
        self._queue = queue

    def __enter__(self) -> None:
        self._queue.__enter__()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._queue.__exit__()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None:
                try:
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            else:
                self._rollback()
        finally:
            self._queue.__exit__()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            # SQLite may already have rolled back on its own (e.g. after SQLITE_FULL).
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")


def _rowid(cursor: sqlite3.Cursor) -> int:
    rowid = cursor.lastrowid
    if rowid is None:
        raise sqlite3.DatabaseError("SQLite returned no rowid for an insert")
    return rowid
