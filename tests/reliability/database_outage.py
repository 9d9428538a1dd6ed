"""PostgreSQL taken away under load, then given back; counted end to end.

Shared by tests/reliability/test_database_outage.py (a short outage) and the soak
script tests/soak/database_outage.py (30 s and more). The store's PostgreSQL is
reached through a `TcpProxy`; `cut()` resets every connection and refuses new ones.

- `kafka_mode`: `hookgate serve` (Kafka mode, its sources read directly from
  PostgreSQL) takes deliveries; `hookgate consume` applies them through the proxy.
  While cut, the consumer retries and commits no offset; afterwards it catches up.
- `embedded_mode`: `hookgate serve` alone, its store behind the proxy. While cut,
  deliveries still get 200 (the spool takes them) and the embedded consumers commit
  no spool offset; afterwards they apply everything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.load import Sender, calendly_load
from tests.fixtures.serve import ServeProcess
from tests.fixtures.tcp_proxy import TcpProxy
from tests.kafka.consume_cli import ConsumeProcess, consume_env, consuming
from tests.reliability.readback import (
    calendly_topic,
    committed_offsets,
    consume_group,
    count_outcome,
    migrate_and_add_calendly,
    port_of,
    read_spool,
    read_store,
    store_settings,
    with_port,
)

LOAD_WORKERS = 8
LOAD_PAUSE_SECONDS = 0.02
WARM_UP_APPLIED = 50
"""Deliveries applied before the cut, so the consumer is mid-stream when it happens."""
SETTLE_SECONDS = 1.5
"""After the cut, for a batch applied just before it to have its offset committed."""
SAMPLE_SECONDS = 1.0
AFTER_RESTORE_SECONDS = 2.0
"""Sender keeps coming this long after the database is back."""
CATCH_UP_SECONDS = 90.0


@dataclass
class OutageReport:
    """What was sent, answered and stored, and what the consumer did while cut off."""

    mode: str
    outage_seconds: float
    statuses: dict[int | str, int] = field(default_factory=dict)
    sent: int = 0
    acknowledged: int = 0
    acknowledged_during_outage: int = 0
    stored: int = 0
    processed_events: int = 0
    missing: int = 0
    """Acknowledged but not in the store: must be 0."""
    unexpected: int = 0
    """In the store but never sent: must be 0."""
    unacknowledged_stored: int = 0
    """Sent, not answered 200, yet stored (a request cut off mid-way)."""
    offsets_at_cut: dict[int, int] = field(default_factory=dict)
    offsets_seen_during_outage: list[dict[int, int]] = field(default_factory=list)
    rows_at_cut: int = 0
    rows_seen_during_outage: list[int] = field(default_factory=list)
    backlog_at_restore: int = 0
    """Records waiting for the consumer when the database came back."""
    caught_up_seconds: float = 0.0
    apply_retries: int = 0
    """Failed applies the consumer logged and retried (it did meet the outage)."""
    dead_letters: int = 0
    bad_answers: list[str] = field(default_factory=list)

    @property
    def offsets_moved_during_outage(self) -> bool:
        return any(seen != self.offsets_at_cut for seen in self.offsets_seen_during_outage)

    @property
    def rows_moved_during_outage(self) -> bool:
        return any(seen != self.rows_at_cut for seen in self.rows_seen_during_outage)

    def summary(self) -> str:
        return (
            f"{self.mode} database outage {self.outage_seconds:g} s: statuses {self.statuses}; "
            f"sent {self.sent}, acknowledged {self.acknowledged} "
            f"({self.acknowledged_during_outage} during the outage), stored {self.stored}, "
            f"processed_events {self.processed_events}, missing {self.missing}, "
            f"unexpected {self.unexpected}; committed at cut {sum(self.offsets_at_cut.values())}"
            f" (moved during outage: {self.offsets_moved_during_outage}); rows at cut "
            f"{self.rows_at_cut} (moved: {self.rows_moved_during_outage}); backlog at restore "
            f"{self.backlog_at_restore}; {self.apply_retries} failed applies retried, "
            f"{self.dead_letters} dead letters; caught up {self.caught_up_seconds:.1f} s after "
            "restore"
        )


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.2)


async def kafka_mode(
    bootstrap_servers: str,
    database_url: str,
    workdir: Path,
    topic_prefix: str,
    outage_seconds: float,
) -> OutageReport:
    proxy = TcpProxy("127.0.0.1", port_of(database_url))
    proxy.start()
    gateway = ServeProcess.on_loopback(
        workdir, **store_settings(database_url, bootstrap_servers, topic_prefix)
    )
    source = migrate_and_add_calendly(gateway)
    server = gateway.start()
    env = consume_env(bootstrap_servers, with_port(database_url, proxy.port), topic_prefix)
    report = OutageReport("kafka", outage_seconds)
    try:
        async with consuming("consume", env, workdir, "--provider", "calendly") as worker:
            load = calendly_load(gateway.url, source)
            running = asyncio.create_task(load.run(LOAD_WORKERS, LOAD_PAUSE_SECONDS))
            try:
                await _warm_up(worker)

                async def committed() -> dict[int, int]:
                    return await committed_offsets(
                        bootstrap_servers, consume_group(topic_prefix), calendly_topic(topic_prefix)
                    )

                await _outage(proxy, load, report, database_url, committed)
                # one record per delivery: the acknowledged ones not yet committed
                report.backlog_at_restore = len(load.acknowledged) - sum(
                    (await committed()).values()
                )
                restored = time.monotonic()
                await asyncio.sleep(AFTER_RESTORE_SECONDS)
            finally:
                load.stopping = True
                await running

            async def caught_up() -> bool:
                stored = await read_store(database_url)
                everything = sum((await committed()).values()) >= len(load.acknowledged)
                return load.acknowledged <= stored.invitees and everything

            await eventually(caught_up, CATCH_UP_SECONDS, "the consumer to catch up")
            report.caught_up_seconds = time.monotonic() - restored
            assert await worker.terminate() == 0, worker.log_tail()
            report.apply_retries = _lines_with(worker.log_file, "Applying failed")
            report.dead_letters = worker.count("dead_letters")
    finally:
        server.terminate()
        proxy.close()
    await count_outcome(report, load, database_url)
    return report


async def embedded_mode(
    database_url: str,
    workdir: Path,
    outage_seconds: float,
    *,
    source_cache_seconds: float | None = None,
) -> OutageReport:
    """The ingress resolves sources from the store too: by default its cache outlives the
    outage (`source_cache_seconds` None); a shorter one shows what happens without it."""
    cache = outage_seconds + 120 if source_cache_seconds is None else source_cache_seconds
    proxy = TcpProxy("127.0.0.1", port_of(database_url))
    proxy.start()
    gateway = ServeProcess.on_loopback(
        workdir,
        **store_settings(with_port(database_url, proxy.port)),
        source_cache_seconds=cache,
    )
    source = migrate_and_add_calendly(gateway)
    server = gateway.start()
    spool = workdir / "spool.db"
    report = OutageReport("embedded", outage_seconds)
    try:
        load = calendly_load(gateway.url, source)
        running = asyncio.create_task(load.run(LOAD_WORKERS, LOAD_PAUSE_SECONDS))
        try:

            async def warm() -> bool:
                return (await read_store(database_url)).bookings >= WARM_UP_APPLIED

            await eventually(warm, 60, "the embedded consumers to apply the first deliveries")

            async def committed() -> dict[int, int]:
                return {0: (await asyncio.to_thread(read_spool, spool)).committed}

            await _outage(proxy, load, report, database_url, committed)
            state = await asyncio.to_thread(read_spool, spool)
            report.backlog_at_restore = state.last_offset - state.committed
            restored = time.monotonic()
            await asyncio.sleep(AFTER_RESTORE_SECONDS)
        finally:
            load.stopping = True
            await running

        async def caught_up() -> bool:
            state = await asyncio.to_thread(read_spool, spool)
            stored = await read_store(database_url)
            return load.acknowledged <= stored.invitees and state.committed == state.last_offset

        await eventually(caught_up, CATCH_UP_SECONDS, "the embedded consumers to catch up")
        report.caught_up_seconds = time.monotonic() - restored
        report.apply_retries = _lines_with(gateway.log_path, "apply failed for offsets")
    finally:
        server.terminate()
        proxy.close()
    await count_outcome(report, load, database_url)
    return report


def _lines_with(log: Path, text: str) -> int:
    return sum(text in line for line in log.read_text(errors="replace").splitlines())


async def _warm_up(worker: ConsumeProcess) -> None:
    async def applied() -> bool:
        return worker.count("applied") >= WARM_UP_APPLIED and worker.count("commits") > 0

    await eventually(applied, 60, "hookgate consume to apply the first deliveries")


async def _outage(
    proxy: TcpProxy,
    load: Sender,
    report: OutageReport,
    database_url: str,
    committed: Callable[[], Awaitable[dict[int, int]]],
) -> None:
    """Cut the database off for `report.outage_seconds`, sampling the committed offsets
    and the stored rows (read directly) after a short settle."""
    proxy.cut()
    cut_at = time.monotonic()
    acknowledged_at_cut = len(load.acknowledged)
    try:
        await asyncio.sleep(SETTLE_SECONDS)
        report.offsets_at_cut = await committed()
        report.rows_at_cut = (await read_store(database_url)).bookings
        while time.monotonic() - cut_at < report.outage_seconds:
            await asyncio.sleep(SAMPLE_SECONDS)
            report.offsets_seen_during_outage.append(await committed())
            report.rows_seen_during_outage.append((await read_store(database_url)).bookings)
    finally:
        proxy.restore()
    report.acknowledged_during_outage = len(load.acknowledged) - acknowledged_at_cut
