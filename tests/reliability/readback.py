"""The fault tests' `hookgate serve` (tests/fixtures/serve.py) on a store of theirs (and
Kafka, when given), and what they read back: the stored invitees, the consumer group's
committed offsets, the spool.

(Counts of records on a topic come from reading it: tansu answers a ListOffsets for
the latest offset with the last batch's base offset + 1, so end offsets undercount
whenever a batch held several records.)"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.bus.transport import EMBEDDED_GROUP
from gateway.commands.consume import DEFAULT_GROUP_SUFFIX
from schemas.store import bookings, processed_events
from tests.fixtures.load import Sender
from tests.fixtures.serve import ServeProcess
from tests.gateway import deliveries


def store_settings(
    database_url: str, bootstrap_servers: str | None = None, topic_prefix: str = "hookgate"
) -> dict[str, Any]:
    """Settings of a gateway with its sources and store in `database_url`; Kafka mode when
    `bootstrap_servers` is set (the spool and the log stay in its directory)."""
    settings: dict[str, Any] = {"database_url": database_url, "topic_prefix": topic_prefix}
    if bootstrap_servers:
        settings |= {
            "kafka_bootstrap_servers": bootstrap_servers,
            "kafka_topic_partitions": 3,
            "kafka_publish_timeout_seconds": 0.5,
        }
    return settings


def calendly_topic(topic_prefix: str) -> str:
    return f"{topic_prefix}.calendly"


def consume_group(topic_prefix: str) -> str:
    """The group `hookgate consume` joins by default."""
    return f"{topic_prefix}.{DEFAULT_GROUP_SUFFIX}"


def migrate_and_add_calendly(gateway: ServeProcess) -> str:
    """`hookgate migrate`, then `hookgate sources add calendly`; the source's id."""
    gateway.run("migrate")
    added = gateway.run(
        "sources",
        "add",
        "calendly",
        "--tenant",
        "acme",
        "--secret",
        "-",
        input=deliveries.CALENDLY_KEY + "\n",
    )
    source_id: str = orjson.loads(added)["id"]
    return source_id


def with_port(url: str, port: int) -> str:
    """`url` (a database URL on 127.0.0.1) pointed at another port, e.g. a proxy's."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{parts.hostname}:{port}"))


def port_of(url: str) -> int:
    return urlsplit(url).port or 5432


@dataclass(frozen=True)
class StoreCounts:
    invitees: frozenset[str]
    bookings: int
    processed_events: int


async def read_store(database_url: str) -> StoreCounts:
    """The bookings' invitees and the row counts, read directly (never through a proxy)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            invitees = (await connection.execute(select(bookings.c.invitee_uri))).scalars().all()
            processed = (
                await connection.execute(select(func.count()).select_from(processed_events))
            ).scalar_one()
    finally:
        await engine.dispose()
    return StoreCounts(frozenset(invitees), len(invitees), int(processed))


class CountedReport(Protocol):
    """The fields an outage report shares: what was sent, answered and stored."""

    statuses: dict[int | str, int]
    sent: int
    acknowledged: int
    stored: int
    processed_events: int
    missing: int
    unexpected: int
    unacknowledged_stored: int
    bad_answers: list[str]


async def wait_stored(database_url: str, expected: set[str], timeout: float = 60) -> frozenset[str]:
    """The stored invitees once `expected` are all in, or whatever is there at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        stored = (await read_store(database_url)).invitees
        if expected <= stored or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(0.3)


async def count_outcome(report: CountedReport, load: Sender, database_url: str) -> StoreCounts:
    """Fill `report`'s shared fields from `load`'s answers and the store; return what
    the store holds."""
    stored = await read_store(database_url)
    report.statuses = dict(load.statuses)
    report.sent = len(load.sent)
    report.acknowledged = len(load.acknowledged)
    report.stored = stored.bookings
    report.processed_events = stored.processed_events
    report.missing = len(load.acknowledged - stored.invitees)
    report.unexpected = len(stored.invitees - load.sent)
    report.unacknowledged_stored = len(stored.invitees - load.acknowledged)
    report.bad_answers = list(load.bad)
    return stored


def counted_violations(report: CountedReport) -> list[str]:
    """What no outage may do: lose an acknowledged delivery, store one never sent,
    answer outside the contract."""
    found = []
    if report.missing:
        found.append(f"{report.missing} acknowledged deliveries are not in the store")
    if report.unexpected:
        found.append(f"{report.unexpected} stored rows were never sent")
    if report.bad_answers:
        found.append(f"{len(report.bad_answers)} answers broke the contract")
    return found


async def committed_offsets(bootstrap_servers: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of `topic` (absent: never committed).

    Asked through a consumer of the group that never subscribes, so it does not join
    the group (tansu does not answer the admin client's OffsetFetch version)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        request_timeout_ms=5000,
    )
    await consumer.start()
    try:
        offsets: dict[int, int] = {}
        for partition in consumer.partitions_for_topic(topic) or set():
            offset = await consumer.committed(TopicPartition(topic, partition))
            if offset is not None:
                offsets[partition] = offset
    finally:
        await consumer.stop()
    return offsets


@dataclass(frozen=True)
class SpoolState:
    depth: int
    """Records in the spool."""
    last_offset: int
    committed: int
    """The embedded consumers' committed offset (0 before their first commit)."""
    event_ids: frozenset[str]


def read_spool(path: Path) -> SpoolState:
    """The spool of a running (or killed) `hookgate serve`, read with plain SQLite."""
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        depth, last = db.execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM records").fetchone()
        ids = frozenset(row[0] for row in db.execute("SELECT event_id FROM records"))
        row = db.execute(
            "SELECT committed FROM consumer_offsets WHERE consumer_group = ?", (EMBEDDED_GROUP,)
        ).fetchone()
    return SpoolState(int(depth), int(last), int(row[0]) if row else 0, ids)


async def processed_event_ids(database_url: str) -> set[str]:
    """The consumers' ledger: the id of every event applied (or seen and unhandled)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            ids = (await connection.execute(select(processed_events.c.event_id))).scalars()
            return set(ids)
    finally:
        await engine.dispose()
