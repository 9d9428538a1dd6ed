"""Apply: a mixed stream from Kafka into PostgreSQL, against raw asyncpg upserts.

The stream is `events` CloudEvents, as the gateway makes them (sample deliveries
run through the normalizers), a third each Calendly `invitee.created` (bookings),
PCO `person.created` (members) and GHL `ContactCreate` (contacts), each about its
own resource. They are published to the provider topics first; then a consumer
process (`tests.bench.consumer`: `hookgate consume` plus a report) applies them,
and the rate is events over the time from its first batch's start to its last
batch's end.

The reference is the database limit: the rows the consumer wrote, read back,
the tables emptied, then written again with raw asyncpg, one transaction per
batch of the same size, one `INSERT … SELECT unnest(…) ON CONFLICT DO UPDATE
… WHERE version` per table. It writes no ledger and parses nothing. A second raw
pass also writes the consumer's ledger rows (one binary `COPY` more per batch, as
the consumer claims events not seen before): beside the first, it shows what the
exactly-once ledger costs the store, apart from what the consumer's own code costs.

Between the two, the consumer's store path runs alone (`store_path`): the same events,
each batch prepared as the Kafka runner prepares it but outside the timed part, then
applied by the `Applier` (ledger claim, upserts, commit) into the emptied tables, in
the bench process, with no broker. It is the rate no consumer could pass with these
statements, however little its own code cost, and it splits their time between the
ledger claim and the upserts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from aiokafka.errors import TopicAlreadyExistsError
from sqlalchemy import event as sa_event

from consumers.apply import Applier
from consumers.providers import build_registry
from gateway.bus.kafka_publisher import KafkaPublisher
from gateway.commands.consume import CONSUMER_GC_GEN0_THRESHOLD
from schemas import BusRecord, CloudEvent
from tests.bench.consumer import ConsumerSummary
from tests.bench.cpu import postgres_cpu, service_cpu
from tests.bench.stack import TOPIC_PARTITIONS, Stack
from tests.bench.table import Line
from tests.fixtures.kafka import create_topics
from tests.fixtures.processes import ServiceError, python_module
from tests.store import events
from tests.store.events import at

DATA_TABLES = ("bookings", "members", "contacts")
PROVIDERS = ("calendly", "pco", "ghl")
MIB = 1024 * 1024


@dataclass(frozen=True)
class ApplyOptions:
    events: int = 100_000
    max_batch: int = 2_000
    """Events per consumer batch (`hookgate consume --max-batch`), and rows per raw batch."""
    timeout_seconds: float = 300.0


@dataclass(frozen=True)
class ServerCpu:
    """CPU seconds the servers spent while one side ran (0 for PostgreSQL elsewhere)."""

    postgres: float
    broker: float = 0.0


@dataclass(frozen=True)
class RawFigures:
    """One raw asyncpg pass over the consumer's rows."""

    rows: int
    """Data rows written (one per event in this stream)."""
    seconds: float
    postgres: float
    """The PostgreSQL server's CPU seconds meanwhile."""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class StorePathFigures:
    """The consumer's store path alone (`store_path`)."""

    events: int
    seconds: float
    """Inside `Applier.apply`, summed over the batches."""
    postgres: float
    """The PostgreSQL server's CPU seconds over the pass."""
    client: float
    """The bench process's CPU seconds inside `Applier.apply`."""
    claim_seconds: float
    """Statement time of the ledger claims."""
    write_seconds: float
    """Statement time of every other statement (upserts, derived columns)."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def per_event_us(self, seconds: float) -> float:
        return seconds / self.events * 1e6 if self.events else 0.0


@dataclass(frozen=True)
class ApplyFigures:
    events: int
    consumer: ConsumerSummary
    consumer_servers: ServerCpu
    """While the consumer process ran (idle before its first batch and after its last)."""
    store_path: StorePathFigures
    """The consumer's statements alone, on prepared batches."""
    raw: RawFigures
    """The reference: raw asyncpg upserts of the same rows."""
    raw_ledger: RawFigures
    """The same with the consumer's ledger rows written too."""

    @property
    def consumer_rate(self) -> float:
        return self.consumer.events / self.consumer.seconds


def mixed_stream(count: int, tenants: int = 8) -> list[CloudEvent]:
    made: list[CloudEvent] = []
    for n in range(count):
        tenant = f"bench{n % tenants}"
        kind = n % 3
        moment = at(n / 1000)
        if kind == 0:
            invitee = f"https://api.calendly.com/scheduled_events/E{n}/invitees/I{n}"
            made.append(events.calendly(tenant, "invitee.created", moment, invitee_uri=invitee))
        elif kind == 1:
            made.append(events.pco(tenant, "person.created", moment, person_id=str(10_000 + n)))
        else:
            made.append(events.ghl(tenant, "ContactCreate", moment, contact_id=f"C{n}"))
    return made


async def publish(bootstrap: str, prefix: str, stream: list[CloudEvent]) -> None:
    topics = [f"{prefix}.{provider}" for provider in PROVIDERS]
    with contextlib.suppress(TopicAlreadyExistsError):
        await create_topics(bootstrap, [*topics, f"{prefix}.dlq"], partitions=TOPIC_PARTITIONS)
    records = [BusRecord.from_event(event, f"{prefix}.{event.provider}") for event in stream]
    async with KafkaPublisher(bootstrap, timeout_seconds=60) as publisher:
        await publisher.start(wait_seconds=20)
        chunk = 2_000
        await asyncio.gather(
            *(
                publisher.publish(records[start : start + chunk])
                for start in range(0, len(records), chunk)
            )
        )


async def _consume(stack: Stack, prefix: str, options: ApplyOptions) -> ConsumerSummary:
    summary_path = stack.workdir / "consumer-summary.json"
    env = {
        "HOOKGATE_DATABASE_URL": stack.database_url,
        "HOOKGATE_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
        "HOOKGATE_TOPIC_PREFIX": prefix,
        "HOOKGATE_LOG_LEVEL": "WARNING",
    }
    service = stack.services.start(
        "consumer",
        python_module(
            "tests.bench.consumer",
            "--expect",
            str(options.events),
            "--summary",
            str(summary_path),
            "--max-batch",
            str(options.max_batch),
        ),
        env=env,
    )
    deadline = time.monotonic() + options.timeout_seconds
    while service.alive():
        if time.monotonic() > deadline:
            stack.services.stop(service)
            raise ServiceError(f"the consumer did not apply {options.events} events in time")
        await asyncio.sleep(0.2)
    stack.services.stop(service)
    if not summary_path.exists():
        raise ServiceError(f"the consumer exited without a summary:\n{service.tail()}")
    fields: dict[str, Any] = orjson.loads(summary_path.read_bytes())
    return ConsumerSummary(**fields)


async def _columns(connection: asyncpg.Connection, table: str) -> list[tuple[str, str]]:
    rows = await connection.fetch(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        table,
    )
    return [(row[0], row[1]) for row in rows]


async def _key(connection: asyncpg.Connection, table: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = $1::regclass AND i.indisprimary",
        table,
    )
    return [row[0] for row in rows]


def _upsert_sql(table: str, columns: list[tuple[str, str]], key: list[str]) -> str:
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(columns, 1))
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in columns if name not in key)
    # Names come from pg_attribute, not from input.
    return (
        f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) "  # noqa: S608
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} "
        f"WHERE EXCLUDED.version > {table}.version"
    )


LEDGER = "processed_events"
_LEDGER_COLUMNS = ("source", "event_id", "type", "outcome", "processed_at")

Write = Callable[[asyncpg.Connection, Sequence[Any]], Awaitable[object]]
"""Writes one batch's part of a table's rows on a raw connection."""


def _upserting(sql: str, width: int) -> Write:
    async def write(connection: asyncpg.Connection, part: Sequence[Any]) -> None:
        await connection.execute(sql, *([row[i] for row in part] for i in range(width)))

    return write


async def _copy_ledger(connection: asyncpg.Connection, part: Sequence[Any]) -> None:
    now = datetime.now(UTC)
    await connection.copy_records_to_table(
        LEDGER, records=[(*row, now) for row in part], columns=_LEDGER_COLUMNS
    )


async def raw_plan(connection: asyncpg.Connection, table: str) -> tuple[Write, list[Any]]:
    """`table`'s rows as they are now, and the raw upsert that writes them again."""
    columns = await _columns(connection, table)
    key = await _key(connection, table)
    rows = await connection.fetch(f"SELECT {', '.join(c for c, _ in columns)} FROM {table}")  # noqa: S608
    return _upserting(_upsert_sql(table, columns, key), len(columns)), rows


async def raw_upsert(dsn: str, events_per_batch: int) -> tuple[RawFigures, RawFigures]:
    """Re-write the consumer's rows with raw asyncpg, twice: the data rows alone (the
    database limit), then with the consumer's ledger rows too, one binary `COPY` more
    per batch, as the consumer claims new events (what the exactly-once ledger costs
    the store)."""
    connection = await asyncpg.connect(dsn)
    try:
        plans = [await raw_plan(connection, table) for table in DATA_TABLES]
        ledger = await connection.fetch(f"SELECT {', '.join(_LEDGER_COLUMNS[:-1])} FROM {LEDGER}")  # noqa: S608
        data = await raw_pass(connection, plans, events_per_batch)
        with_ledger = await raw_pass(connection, [*plans, (_copy_ledger, ledger)], events_per_batch)
        return data, with_ledger
    finally:
        await connection.close()


async def store_path(
    stack: Stack, stream: list[CloudEvent], events_per_batch: int
) -> StorePathFigures:
    """Empty the tables, then apply `stream` again with an `Applier` in this process,
    batch by batch; only `apply` is timed (each batch is prepared before it, untimed)."""
    engine = stack.engine()
    statement_seconds = {"claim": 0.0, "write": 0.0}
    started: list[float] = []
    savepoints: list[float] = []

    def before(*_: Any) -> None:
        started.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The claim's COPY is no SQLAlchemy statement: it is timed as the span of the
        # savepoint around it (the only savepoint `apply` makes).
        began, now = started.pop(), time.perf_counter()
        if statement.startswith("SAVEPOINT"):
            savepoints.append(began)
        elif statement.startswith(("RELEASE", "ROLLBACK TO")):
            statement_seconds["claim"] += now - savepoints.pop()
        else:
            statement_seconds["claim" if LEDGER in statement else "write"] += now - began

    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(f"TRUNCATE {', '.join(DATA_TABLES)}, {LEDGER}")
        applier = Applier(engine, build_registry())
        sa_event.listen(engine.sync_engine, "before_cursor_execute", before)
        sa_event.listen(engine.sync_engine, "after_cursor_execute", after)
        seconds = client = 0.0
        with collected_as_in_a_consumer():
            postgres_before = postgres_cpu()
            for start in range(0, len(stream), events_per_batch):
                batch = await applier.prepare(stream[start : start + events_per_batch])
                began, cpu = time.perf_counter(), time.process_time()
                await applier.apply(batch)
                seconds += time.perf_counter() - began
                client += time.process_time() - cpu
            postgres = postgres_cpu() - postgres_before
    finally:
        await engine.dispose()
    return StorePathFigures(
        len(stream),
        seconds,
        postgres,
        client,
        statement_seconds["claim"],
        statement_seconds["write"],
    )


@contextlib.contextmanager
def collected_as_in_a_consumer() -> Iterator[None]:
    """The collector as `hookgate consume` sets it (what lives now frozen, a young
    collection every `CONSUMER_GC_GEN0_THRESHOLD` allocations), restored afterwards:
    otherwise full collections would walk the bench's 100,000 events again and again,
    and a test measuring in-process leaves the collector as it found it."""
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(CONSUMER_GC_GEN0_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


async def raw_pass(
    connection: asyncpg.Connection,
    plans: list[tuple[Write, list[Any]]],
    events_per_batch: int,
    counted: int = len(DATA_TABLES),
) -> RawFigures:
    """Empty the tables, then write each plan's rows in one transaction per batch, one
    statement per plan and batch; the data rows (the first `counted` plans) are counted."""
    await connection.execute(f"TRUNCATE {', '.join(DATA_TABLES)}, {LEDGER}")
    total = sum(len(rows) for _, rows in plans[:counted])
    batches = max(1, -(-total // events_per_batch))
    postgres_before = postgres_cpu()
    started = time.perf_counter()
    for batch in range(batches):
        async with connection.transaction():
            for write, rows in plans:
                size = -(-len(rows) // batches)
                part = rows[batch * size : (batch + 1) * size]
                if part:
                    await write(connection, part)
    seconds = time.perf_counter() - started
    return RawFigures(total, seconds, postgres_cpu() - postgres_before)


async def run_apply(stack: Stack, options: ApplyOptions) -> ApplyFigures:
    prefix = f"{stack.prefix}apply"
    print(f"apply: building {options.events:,} events", file=sys.stderr, flush=True)
    stream = mixed_stream(options.events)
    await publish(stack.bootstrap, prefix, stream)
    print("apply: consuming", file=sys.stderr, flush=True)
    before = ServerCpu(postgres_cpu(), service_cpu(stack.broker))
    summary = await _consume(stack, prefix, options)
    consumer_servers = ServerCpu(
        postgres_cpu() - before.postgres, service_cpu(stack.broker) - before.broker
    )
    print("apply: the store path alone", file=sys.stderr, flush=True)
    alone = await store_path(stack, stream, options.max_batch)
    del stream
    print("apply: raw asyncpg reference", file=sys.stderr, flush=True)
    raw, raw_ledger = await raw_upsert(stack.dsn, options.max_batch)
    if raw.rows != options.events:
        raise ServiceError(f"the consumer wrote {raw.rows} rows for {options.events} events")
    return ApplyFigures(options.events, summary, consumer_servers, alone, raw, raw_ledger)


def apply_lines(figures: ApplyFigures) -> list[Line]:
    summary = figures.consumer
    raw, raw_ledger = figures.raw.rate, figures.raw_ledger.rate
    ratio = figures.consumer_rate / raw if raw else 0.0
    ledger_ratio = figures.consumer_rate / raw_ledger if raw_ledger else 0.0
    per_batch = summary.statements / summary.batches + 2 if summary.batches else 0.0
    mean_batch = summary.events / summary.batches if summary.batches else 0.0
    return [
        Line(
            f"apply events/s, {figures.events:,} mixed events Kafka -> PostgreSQL",
            f"{figures.consumer_rate:,.0f} events/s",
            f"raw asyncpg upsert {raw:,.0f} rows/s",
            f"{ratio:.2f}x",
            ">= 0.5x",
            ratio >= 0.5,
        ),
        Line(
            "apply events/s vs raw asyncpg writing the same ledger",
            f"{figures.consumer_rate:,.0f} events/s",
            f"raw asyncpg upsert + ledger COPY {raw_ledger:,.0f} rows/s",
            f"{ledger_ratio:.2f}x",
        ),
        *_store_path_lines(figures),
        Line(
            "apply round trips per batch",
            f"{per_batch:.1f} (mean batch {mean_batch:.0f} events)",
            f"raw asyncpg {len(DATA_TABLES) + 2} (BEGIN, one per table, COMMIT)",
        ),
        Line(
            "consumer CPU per event (fetch, decode, apply, commit)",
            f"{summary.cpu_per_event * 1e6:.0f} us",
        ),
        Line(
            "consumer peak RSS",
            f"{summary.peak_rss_bytes / MIB:.0f} MiB",
        ),
        *_cpu_budget_lines(figures),
    ]


def _store_path_lines(figures: ApplyFigures) -> list[Line]:
    """The consumer's statements alone, against the raw rate: what no consumer could
    pass with them, and where their time goes."""
    alone, raw = figures.store_path, figures.raw.rate
    ratio = alone.rate / raw if raw else 0.0
    return [
        Line(
            "apply store path alone: prepared batches -> PostgreSQL, no broker",
            f"{alone.rate:,.0f} events/s",
            f"raw asyncpg upsert {raw:,.0f} rows/s",
            f"{ratio:.2f}x",
        ),
        Line(
            "store path alone, per event: statement time, ledger claim / upserts",
            f"{alone.per_event_us(alone.claim_seconds):.1f} / "
            f"{alone.per_event_us(alone.write_seconds):.1f} us",
            f"PostgreSQL CPU {alone.per_event_us(alone.postgres):.0f} us; "
            f"client CPU {alone.per_event_us(alone.client):.0f} us",
        ),
    ]


def _cpu_budget_lines(figures: ApplyFigures) -> list[Line]:
    """What an event costs the consumer, PostgreSQL and the broker together, beside what
    the machine's cores allow at the target rate.

    All three run on this machine's cores; at the target rate (half the raw rate) one
    event may cost all of them together no more than `cores / target rate`.
    """
    servers, events = figures.consumer_servers, figures.consumer.events
    if not servers.postgres or not events or not figures.raw.rows:
        return []  # PostgreSQL runs elsewhere: its CPU is not seen here
    consumer_us = figures.consumer.cpu_per_event * 1e6
    postgres_us = servers.postgres / events * 1e6
    broker_us = servers.broker / events * 1e6
    total_us = consumer_us + postgres_us + broker_us
    cores = len(os.sched_getaffinity(0))
    target_rate = 0.5 * figures.raw.rate
    raw, raw_ledger = figures.raw, figures.raw_ledger
    return [
        Line(
            "PostgreSQL CPU per event",
            f"{postgres_us:.0f} us",
            f"raw asyncpg {raw.postgres / raw.rows * 1e6:.0f} us per row; "
            f"with the ledger {raw_ledger.postgres / raw_ledger.rows * 1e6:.0f} us",
        ),
        Line(
            "apply CPU per event, consumer + PostgreSQL + broker",
            f"{consumer_us:.0f} + {postgres_us:.0f} + {broker_us:.0f} = {total_us:.0f} us",
            f"{cores} cores allow {cores / total_us * 1e6:,.0f} events/s at that cost; "
            f"0.5x raw is {target_rate:,.0f} events/s",
        ),
    ]
