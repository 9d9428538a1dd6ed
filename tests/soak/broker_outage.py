"""Soak: the Kafka broker unreachable for 30 s (or more) under steady load, counted end
to end into the store.

    .venv/bin/python -m tests.soak.broker_outage [--outage-seconds 30] [--how cut|pause]

A tansu broker of its own advertises a TCP proxy's port, so every client (the gateway,
the consumer, this script's reads) goes through the proxy. `hookgate serve` (Kafka
mode, sources in a fresh PostgreSQL database) takes signed Calendly deliveries;
`hookgate consume` applies them to the same database. After a warm-up the broker is
taken away while the load goes on (`cut`: the proxy resets every connection and
refuses new ones; `pause`: the broker is SIGSTOPped, connections stay open and hang),
then given back. The gateway spools what Kafka could not take and its relay drains
the spool afterwards. Prints the counts and exits 1 if a delivery answered 200 is
not in the store, a stored row was never sent, an event was applied twice, an answer
broke the contract, or a process did not exit 0 on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gateway.runtime.poller import POLL_INTERVAL_SECONDS
from tests.fixtures.kafka import Broker, proxied_tansu
from tests.fixtures.load import Sender, calendly_load
from tests.fixtures.postgres import fresh_database
from tests.fixtures.serve import ServeProcess
from tests.fixtures.tcp_proxy import TcpProxy
from tests.kafka.consume_cli import ConsumeProcess, consume_env, consuming
from tests.kafka.helpers import ce_id, read_topic
from tests.reliability.database_outage import eventually
from tests.reliability.readback import (
    calendly_topic,
    count_outcome,
    counted_violations,
    migrate_and_add_calendly,
    read_spool,
    read_store,
    store_settings,
)

LOAD_WORKERS = 8
LOAD_PAUSE_SECONDS = 0.02
WARM_UP_APPLIED = 50
"""Deliveries applied (and an offset committed) before the outage: mid-stream."""
AFTER_RESTORE_SECONDS = 5.0
"""Sender keeps coming this long after the broker is back."""
CATCH_UP_SECONDS = 120.0
SPOOLED = "hookgate_spooled_events_total"
RELAYED = "hookgate_relayed_events_total"


@dataclass
class BrokerOutageReport:
    """What was sent, answered, spooled, relayed and stored around the outage."""

    how: str
    outage_seconds: float
    statuses: dict[int | str, int] = field(default_factory=dict)
    statuses_during_outage: dict[int | str, int] = field(default_factory=dict)
    sent: int = 0
    acknowledged: int = 0
    acknowledged_during_outage: int = 0
    spooled: float | None = None
    """From the gateway's /metrics once caught up (None: not observable)."""
    relayed: float | None = None
    spool_depth_at_restore: int = 0
    """Records in the spool file when the broker came back (read directly)."""
    stored: int = 0
    processed_events: int = 0
    missing: int = 0
    """Acknowledged but not in the store: must be 0."""
    unexpected: int = 0
    """In the store but never sent: must be 0."""
    unacknowledged_stored: int = 0
    """Sent, not answered 200, yet stored (a request whose answer was lost)."""
    duplicate_rows: int = 0
    """Store rows beyond one per delivery (bookings or ledger rows): must be 0."""
    kafka_records: int = 0
    kafka_events: int = 0
    """Distinct events on the topic; records beyond them are at-least-once redeliveries."""
    consumer_duplicates: int = 0
    """Redelivered records the consumer's ledger skipped."""
    caught_up_seconds: float | None = None
    """From restore until the spool was drained and everything acknowledged stored."""
    serve_exit: int | None = None
    consume_exit: int | None = None
    bad_answers: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return "; ".join(
            [
                f"broker outage ({self.how}) {self.outage_seconds:g} s",
                f"statuses {self.statuses} (during the outage {self.statuses_during_outage})",
                f"sent {self.sent}, acknowledged {self.acknowledged} "
                f"({self.acknowledged_during_outage} during the outage)",
                f"spool depth at restore {self.spool_depth_at_restore}, spooled "
                f"{_figure(self.spooled)}, relayed {_figure(self.relayed)}",
                f"on Kafka {self.kafka_records} records, {self.kafka_events} events",
                f"stored {self.stored}, processed_events {self.processed_events}",
                f"missing {self.missing}, unexpected {self.unexpected}, stored though "
                f"unacknowledged {self.unacknowledged_stored}, duplicate rows "
                f"{self.duplicate_rows}, redeliveries skipped by the consumer "
                f"{self.consumer_duplicates}",
                "never caught up"
                if self.caught_up_seconds is None
                else f"caught up {self.caught_up_seconds:.1f} s after restore",
                f"exit codes serve {self.serve_exit}, consume {self.consume_exit}",
            ]
        )


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def violations(report: BrokerOutageReport) -> list[str]:
    found = counted_violations(report)
    if report.duplicate_rows:
        found.append(f"{report.duplicate_rows} duplicate rows in the store")
    if not report.acknowledged_during_outage:
        found.append("nothing was acknowledged during the outage")
    if report.caught_up_seconds is None:
        found.append(f"the relay and the consumer did not catch up in {CATCH_UP_SECONDS:g} s")
    if report.serve_exit != 0:
        found.append(f"hookgate serve exited {report.serve_exit} on SIGTERM")
    if report.consume_exit != 0:
        found.append(f"hookgate consume exited {report.consume_exit} on SIGTERM")
    return found


def metric_total(exposition: str, name: str) -> float | None:
    """The sum of `name`'s samples in a Prometheus text exposition (None: absent)."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{")
    ]
    return sum(values) if values else None


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{url}/metrics")
        response.raise_for_status()
        return response.text


def take_down(broker: Broker, proxy: TcpProxy, how: str) -> Callable[[], None]:
    """Make the broker unreachable; return how to bring it back."""
    if how == "cut":
        proxy.cut()
        return proxy.restore
    broker.pause()
    return broker.resume


async def broker_outage(
    database_url: str, workdir: Path, outage_seconds: float, how: str
) -> BrokerOutageReport:
    async with proxied_tansu(workdir / "tansu.log") as outage:
        return await _under_load(
            outage.broker, outage.proxy, database_url, workdir, outage_seconds, how
        )


async def _under_load(
    broker: Broker,
    proxy: TcpProxy,
    database_url: str,
    workdir: Path,
    outage_seconds: float,
    how: str,
) -> BrokerOutageReport:
    bootstrap = broker.bootstrap_servers
    prefix = f"soak{uuid.uuid4().hex[:8]}"
    gateway = ServeProcess.on_loopback(workdir, **store_settings(database_url, bootstrap, prefix))
    source = migrate_and_add_calendly(gateway)
    server = gateway.start()
    report = BrokerOutageReport(how, outage_seconds)
    load = calendly_load(gateway.url, source)
    try:
        env = consume_env(bootstrap, database_url, prefix)
        async with consuming("consume", env, workdir, "--provider", "calendly") as worker:
            running = asyncio.create_task(load.run(LOAD_WORKERS, LOAD_PAUSE_SECONDS))
            try:
                await _warm_up(worker)
                await _outage(broker, proxy, load, report)
                restored = time.monotonic()
                report.spool_depth_at_restore = (
                    await asyncio.to_thread(read_spool, workdir / "spool.db")
                ).depth
                await asyncio.sleep(AFTER_RESTORE_SECONDS)
            finally:
                load.stopping = True
                await running

            async def caught_up() -> bool:
                spool = await asyncio.to_thread(read_spool, workdir / "spool.db")
                stored = await read_store(database_url)
                return spool.depth == 0 and load.acknowledged <= stored.invitees

            try:
                await eventually(caught_up, CATCH_UP_SECONDS, "the relay and the consumer")
                report.caught_up_seconds = time.monotonic() - restored
            except AssertionError:
                pass  # counted below: what is missing shows in the report
            # anything beyond the acknowledged would show now, and /metrics is polled
            await asyncio.sleep(POLL_INTERVAL_SECONDS + 1.0)
            exposition = await scrape(gateway.url)
            report.spooled = metric_total(exposition, SPOOLED)
            report.relayed = metric_total(exposition, RELAYED)
            report.consume_exit = await worker.terminate()
            report.consumer_duplicates = worker.count("duplicates")
    finally:
        load.stopping = True
        report.serve_exit = await asyncio.to_thread(server.terminate)
    await _count(report, load, database_url, bootstrap, calendly_topic(prefix))
    return report


async def _warm_up(worker: ConsumeProcess) -> None:
    async def applied() -> bool:
        return worker.count("applied") >= WARM_UP_APPLIED and worker.count("commits") > 0

    await eventually(applied, 60, "hookgate consume to apply the first deliveries")


async def _outage(
    broker: Broker, proxy: TcpProxy, load: Sender, report: BrokerOutageReport
) -> None:
    statuses_before = dict(load.statuses)
    acknowledged_before = len(load.acknowledged)
    bring_back = take_down(broker, proxy, report.how)
    try:
        await asyncio.sleep(report.outage_seconds)
    finally:
        bring_back()
    report.acknowledged_during_outage = len(load.acknowledged) - acknowledged_before
    report.statuses_during_outage = {
        status: count - statuses_before.get(status, 0)
        for status, count in load.statuses.items()
        if count != statuses_before.get(status, 0)
    }


async def _count(
    report: BrokerOutageReport, load: Sender, database_url: str, bootstrap: str, topic: str
) -> None:
    stored = await count_outcome(report, load, database_url)
    # one booking and one ledger row per delivery (each delivery is a new invitee)
    report.duplicate_rows = (stored.bookings - len(stored.invitees)) + max(
        0, stored.processed_events - stored.bookings
    )
    records = await read_topic(bootstrap, topic, expected=stored.processed_events)
    report.kafka_records = len(records)
    report.kafka_events = len({ce_id(record) for record in records})


async def run(outage_seconds: float, how: str) -> int:
    with tempfile.TemporaryDirectory(prefix=f"hookgate-soak-broker-{how}-") as tmp:
        async with fresh_database(migrate=False) as url:
            report = await broker_outage(url, Path(tmp), outage_seconds, how)
    print(report.summary())
    problems = violations(report)
    for problem in problems:
        print(f"  VIOLATION: {problem}")
    for answer in report.bad_answers[:5]:
        print(f"  bad answer: {answer}")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage-seconds", type=float, default=30.0)
    parser.add_argument("--how", choices=["cut", "pause"], default="cut")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.outage_seconds, args.how)))


if __name__ == "__main__":
    main()
