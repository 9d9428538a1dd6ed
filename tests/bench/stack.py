"""What every section shares: a tansu broker, a fresh PostgreSQL database, a work dir.

All of it is on loopback, started by the bench and removed by it, with the tests'
fixtures: the broker is `running_tansu`'s child process, the database is
`fresh_database`'s (created empty, migrated, dropped at the end), and every gateway a
`ServeProcess`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.store.secretbox import SecretBox
from gateway.store.sources import SourceRepository
from tests.fixtures.kafka import Broker, running_tansu
from tests.fixtures.net import free_port
from tests.fixtures.postgres import disposed_engine, fresh_database
from tests.fixtures.processes import Service, Services
from tests.fixtures.serve import ServeProcess

SECRET_KEY = "bench-secret-key-0123456789abcdef"
SIGNING_KEY = "bench-calendly-signing-key"
TOPIC_PARTITIONS = 6


@dataclass
class Stack:
    services: Services
    workdir: Path
    broker: Service
    bootstrap: str
    database_url: str
    prefix: str

    @property
    def dsn(self) -> str:
        """The database for asyncpg itself."""
        return self.database_url.replace("postgresql+asyncpg", "postgresql", 1)

    def engine(self) -> AsyncEngine:
        return create_async_engine(self.database_url)

    def gateway(self, name: str, workers: int) -> ServeProcess:
        """`hookgate serve` on this stack, ready once /healthz and /readyz answer."""
        settings = {
            "database_url": self.database_url,
            "kafka_bootstrap_servers": self.bootstrap,
            "topic_prefix": self.prefix,
            "kafka_topic_partitions": TOPIC_PARTITIONS,
            "spool_path": self.workdir / f"spool-{name}.db",
            "secret_keys": SECRET_KEY,
            "dev_key_path": self.workdir / "dev.key",
            "host": "127.0.0.1",
            "port": free_port(),
            "workers": workers,
            "rate_limit_per_second": 0,
            "log_level": "INFO",  # the default: one JSON line per delivery is paid for
        }
        return ServeProcess(
            settings,
            self.workdir / f"gateway-{name}.log",
            ready_paths=("/healthz", "/readyz"),
            name=f"gateway-{name}",
        )

    async def calendly_source(self) -> str:
        """A Calendly source signed with `SIGNING_KEY`; returns its id."""
        async with disposed_engine(self.database_url) as engine:
            sources = SourceRepository(engine, SecretBox([SECRET_KEY]))
            return await add_calendly_source(sources, "bench", SIGNING_KEY)


async def add_calendly_source(sources: SourceRepository, tenant: str, key: str) -> str:
    """A Calendly source signed with `key`; its id."""
    record = await sources.create(
        provider="calendly",
        tenant=tenant,
        secret=key,
        credentials=None,
        options=None,
        now=datetime.now(UTC),
    )
    return record.id


def broker_service(broker: Broker) -> Service:
    """The broker's process (the bench always starts its own)."""
    assert broker.process is not None
    return broker.process


@contextlib.asynccontextmanager
async def fresh_broker(stack: Stack, name: str) -> AsyncIterator[Stack]:
    """`stack` with a broker of its own (stopped afterwards).

    tansu keeps its log in memory and spends more CPU per record the more it holds
    (twice as much after about 1.5 million records in one scratch run of the
    publisher's path), so a part measured on a broker an earlier part filled would
    start behind.
    """
    async with running_tansu(stack.workdir / f"{name}.log") as broker:
        yield dataclasses.replace(
            stack, broker=broker_service(broker), bootstrap=broker.bootstrap_servers
        )


@contextlib.asynccontextmanager
async def open_stack(workdir: Path) -> AsyncIterator[Stack]:
    with Services(workdir) as services:
        async with running_tansu(workdir / "tansu.log") as broker, fresh_database() as url:
            yield Stack(
                services=services,
                workdir=workdir,
                broker=broker_service(broker),
                bootstrap=broker.bootstrap_servers,
                database_url=url,
                prefix=f"bench{uuid.uuid4().hex[:8]}",
            )
